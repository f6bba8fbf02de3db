"""The transcription task, on a queue of its own (``transcribe``, settings.CELERY_TASK_ROUTES)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from hiprecorder.retry import RETRY_OPTIONS, TRANSIENT
from recordings.transcripts import engine, service

logger = logging.getLogger(__name__)

# Transient faults and the engine's own failures are retried with backoff (hiprecorder.retry).
RETRIED: tuple[type[BaseException], ...] = (*TRANSIENT, engine.EngineFailed)


@shared_task(
    bind=True,
    name="recordings.transcribe_recording",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.TRANSCRIPTION_TIME_LIMIT_SECONDS,
    time_limit=settings.TRANSCRIPTION_TIME_LIMIT_SECONDS + 60,
    **{**RETRY_OPTIONS, "autoretry_for": RETRIED},
)
def transcribe_recording(self: Task[Any, Any], tenant_id: str, recording_id: str) -> str:
    """Transcribe a recording (``service.transcribe``; idempotent). ``acks_late``: a worker killed
    mid-transcription leaves the message to be delivered again; nothing is stored until the
    transcript is complete, in one transaction. Transient errors and engine failures are retried
    with backoff; after the last retry (or at once, for a failure that is not retried) the
    recording stays without a transcript (its API answers status ``none``; the recording itself
    was playable all along), an ERROR says so and the failure is noted for the admin's overview
    (``service.record_failure``; a later successful transcription clears it)."""
    try:
        return service.transcribe(tenant_id=tenant_id, recording_id=recording_id)
    except RETRIED as error:
        if self.request.retries >= (self.max_retries or 0):
            _failed(tenant_id, recording_id, self.request.retries + 1, error)
        raise
    except Exception as error:  # not retried: this attempt was the last
        _failed(tenant_id, recording_id, self.request.retries + 1, error)
        raise


def _failed(tenant_id: str, recording_id: str, attempts: int, error: BaseException) -> None:
    logger.error(
        "transcription of recording %s (tenant %s) failed after %d attempts; "
        "it stays without a transcript: %s",
        recording_id,
        tenant_id,
        attempts,
        error,
    )
    try:
        service.record_failure(tenant_id=tenant_id, recording_id=recording_id, attempts=attempts, error=error)
    except Exception:  # the database is away too: the log above is what remains; the task's error stands
        logger.exception("could not note the failed transcription of recording %s", recording_id)
