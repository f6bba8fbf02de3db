"""Celery tasks of the recordings app: thin wrappers that take ids and call a service."""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from hiprecorder.faults import is_infrastructure_fault
from hiprecorder.retry import RETRY_OPTIONS, TRANSIENT
from recordings import capture
from recordings.models import WorkerHeartbeat
from recordings.repair import repair_stuck_calls

logger = logging.getLogger(__name__)

MAX_RETRIES = 6


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=settings.PROCESSING_TIME_LIMIT_SECONDS,
    time_limit=settings.PROCESSING_TIME_LIMIT_SECONDS + 60,
)
def process_call(self: Task, tenant_id: str, call_id: str) -> str:
    """Produce the recording of a call (``recordings.capture.process_call``; idempotent).

    ``acks_late``: a worker that dies halfway leaves the message to be delivered again, and the
    service's claim and pending-rendition steps make that rerun safe. Transient errors (database,
    broker, storage) are retried with exponential backoff (10 s, 20 s, … capped at 10 min). After
    the last retry an infrastructure fault leaves the call ``processing`` for the repair task
    (``recordings.repair``) to queue again later; any other error marks the call ``failed``.
    """
    try:
        return capture.process_call(tenant_id=tenant_id, call_id=call_id)
    except TRANSIENT as exc:
        if self.request.retries >= MAX_RETRIES:
            if is_infrastructure_fault(exc):
                logger.exception("processing of call %s left to the repair task", call_id)
                raise
            logger.exception("processing of call %s failed for good", call_id)
            return capture.mark_failed(tenant_id=tenant_id, call_id=call_id, error_code="processing_failed")
        raise self.retry(exc=cast(Exception, exc), countdown=min(600, 10 * 2**self.request.retries)) from exc


@shared_task(name="recordings.repair_stuck_calls", ignore_result=True, **RETRY_OPTIONS)
def repair_stuck_calls_task() -> dict[str, int]:
    """Re-queue calls stuck in ``processing`` (cross-tenant maintenance, like the expiry sweep:
    no ``tenant_id``; each call is handled in its own scope). See ``recordings.repair``."""
    report = repair_stuck_calls()
    return {"requeued": len(report.requeued), "failed": len(report.failed), "cleared": report.cleared}


@shared_task(bind=True, name="recordings.worker_heartbeat", ignore_result=True)
def worker_heartbeat_task(self: Task) -> None:
    """Note that a worker is alive and how long this message waited in the queue (``/healthz``).

    The wait is measured from the ``published_at`` header every message gets when it is sent
    (``hiprecorder.celery``). Beats older than their ``expires`` (settings) are dropped unrun.
    """
    # A worker merges message headers into the request; an eager apply(headers=...) keeps them apart.
    published: Any = self.request.get("published_at") or (self.request.headers or {}).get("published_at")
    wait_ms = max(0, int((time.time() - float(published)) * 1000)) if published else 0
    WorkerHeartbeat.objects.update_or_create(
        pk=1,
        defaults={"ran_at": timezone.now(), "queue_wait_ms": wait_ms, "worker": self.request.hostname or ""},
    )
