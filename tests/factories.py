"""Factories for tests: recordings with a real, short MP3 rendition in storages["recordings"]."""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from recordings import audio, live
from recordings.models import Kind, Recording
from tenants.models import User
from tenants.scoping import tenant_scope


@functools.cache
def rendition(seconds: int = 6, *, paused_at: int | None = None) -> tuple[bytes, audio.ProcessResult]:
    """A real playback rendition (MP3 from the audio pipeline) of a tone; cached per shape.
    ``paused_at``: cut one second out at that second, as a pause would (two segments)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = audio.make_wav(Path(tmp) / "in.wav", seconds=seconds, kind="speech-like")
        retained = [(0, seconds * 1000)]
        if paused_at is not None:
            retained = [(0, paused_at * 1000), ((paused_at + 1) * 1000, seconds * 1000)]
        result = audio.process(src, Path(tmp) / "out.mp3", offset_ms=0, retained=retained)
        return (Path(tmp) / "out.mp3").read_bytes(), result


def make_recording(
    owner: User,
    *,
    kind: str | None = None,
    saved: bool = False,
    started_at: dt.datetime | None = None,
    seconds: int = 6,
    paused_at: int | None = None,
    direction: str = "inbound",
    remote_number: str = "+31612345678",
    with_audio: bool = True,
    **extra: Any,
) -> Recording:
    """A live recording of ``owner`` (standard for licence holders, playback for subscribers)."""
    if kind is None:
        kind = Kind.PLAYBACK if hasattr(owner, "playback_subscription") else Kind.STANDARD
    started_at = started_at or timezone.now() - dt.timedelta(hours=1)
    data, result = rendition(seconds, paused_at=paused_at) if with_audio else (b"", None)
    with tenant_scope(owner.tenant_id):  # type: ignore[arg-type]
        recording = Recording(
            tenant_id=owner.tenant_id,
            owner=owner,
            kind=kind,
            direction=direction,
            leg="mobile",
            local_number="+31201234567",
            remote_number=remote_number,
            started_at=started_at,
            ended_at=started_at + dt.timedelta(seconds=seconds),
            saved=saved,
            saved_at=timezone.now() if saved else None,
            expires_at=(started_at + dt.timedelta(days=3)) if kind == Kind.PLAYBACK and not saved else None,
            **extra,
        )
        if result is not None:
            key = f"{owner.tenant_id}/{recording.pk}.mp3"
            storages["recordings"].save(key, ContentFile(data))
            recording.storage_key = key
            recording.mime = audio.OUTPUT_MIME
            recording.size_bytes = len(data)
            recording.sha256 = result.sha256
            recording.duration_ms = result.duration_ms
            recording.peaks = result.peaks
            recording.segments = [list(s) for s in result.segments]
            recording.talk_ratio = result.talk_ratio
            if paused_at is not None:
                recording.paused_spans = [[paused_at * 1000, (paused_at + 1) * 1000]]
        recording.save()
        live.recordings_changed([recording])  # as the processing that makes a recording does
    return recording
