"""Celery tasks of the recordings app: thin wrappers that take ids and call a service."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from celery import Task, shared_task

from recordings import capture

logger = logging.getLogger(__name__)

# Storage hiccups (disk, network, S3 5xx/throttling) are worth another try; a broken upload is not.
TRANSIENT = (OSError, BotoCoreError, ClientError)
MAX_RETRIES = 6


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def process_call(self: Task, tenant_id: str, call_id: str) -> str:
    """Produce the recording of a call (``recordings.capture.process_call``; idempotent).

    ``acks_late``: a worker that dies halfway leaves the message to be delivered again, and the
    service's claim and pending-rendition steps make that rerun safe. Transient errors are retried
    with exponential backoff (10 s, 20 s, … capped at 10 min); after the last retry the call is
    marked ``failed`` and its audio is removed.
    """
    try:
        return capture.process_call(tenant_id=tenant_id, call_id=call_id)
    except TRANSIENT as exc:
        if self.request.retries >= MAX_RETRIES:
            logger.exception("processing of call %s failed for good", call_id)
            return capture.mark_failed(tenant_id=tenant_id, call_id=call_id, error_code="processing_failed")
        raise self.retry(exc=exc, countdown=min(600, 10 * 2**self.request.retries)) from exc
