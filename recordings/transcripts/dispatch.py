"""Asking for a transcript: called by the processing once a recording is ready."""

from __future__ import annotations

from hiprecorder.tasks import enqueue
from recordings.models import Recording

TASK = "recordings.transcribe_recording"


def request_transcript(recording: Recording) -> None:
    """After the current transaction commits, queue the transcription of ``recording`` if its
    tenant has opted in. The task is idempotent, so asking twice is harmless."""
    if recording.deleted_at is None and recording.tenant.transcription_enabled:
        enqueue(TASK, str(recording.tenant_id), str(recording.pk))
