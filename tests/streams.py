"""Helpers for tests of the streaming responses: the player's audio URL and a response's bytes."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client
from django.urls import reverse

from recordings.models import Recording


def player_audio_url(client: Client, recording: Recording) -> str:
    """The audio URL the player page hands the browser (a fresh stream token)."""
    page = client.get(reverse("player", args=[recording.pk]))
    assert page.status_code == 200
    match = re.search(r'<audio id="audio"[^>]*src="([^"]+)"', page.content.decode())
    assert match
    return match.group(1).replace("&amp;", "&")


def streamed_bytes(response: Any) -> bytes:
    """All bytes of a streaming response (what the browser receives)."""
    return b"".join(response.streaming_content)
