"""Devices and push prompts (filled in by the Playback lifecycle)."""

from __future__ import annotations
