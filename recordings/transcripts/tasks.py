"""The transcription task, on a queue of its own (``transcribe``, settings.CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from hiprecorder.retry import RETRY_OPTIONS
from recordings.transcripts import service


@shared_task(
    name="recordings.transcribe_recording",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.TRANSCRIPTION_TIME_LIMIT_SECONDS,
    time_limit=settings.TRANSCRIPTION_TIME_LIMIT_SECONDS + 60,
    **RETRY_OPTIONS,
)
def transcribe_recording(tenant_id: str, recording_id: str) -> str:
    """Transcribe a recording (``service.transcribe``; idempotent). ``acks_late``: a worker killed
    mid-transcription leaves the message to be delivered again; nothing is stored until the
    transcript is complete, in one transaction. Transient errors are retried with backoff."""
    return service.transcribe(tenant_id=tenant_id, recording_id=recording_id)
