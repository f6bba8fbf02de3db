"""Repair of calls stuck in ``processing``: the periodic safety net behind the processing task.

A call becomes ``processing`` together with its ``ProcessingOutbox`` row (one transaction) and the
task is sent after the commit. Whatever goes wrong after that (the broker refused the send, the
worker was killed, the task gave up while the database was down) leaves the row behind, and this
repair, run by beat every ``REPAIR_INTERVAL_SECONDS``, sends the task again:

- a row never sent (``dispatched_at`` empty) older than ``SEND_GRACE`` (the send after the
  commit may be under way);
- a row whose last send or attempt start is older than ``PROCESSING_DEADLINE_SECONDS`` (longer
  than a processing attempt may run, ``recordings.tasks.process_call``'s time limit).

A second send of a call still being processed is harmless: ``capture.process_call`` claims and
keeps one result only. A call whose raw audio is gone, or that was re-queued
``PROCESSING_MAX_DISPATCHES`` times, ends ``failed`` (``error_code`` ``audio_missing`` or
``processing_stalled``), which the phone system's read-back and the portal show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from recordings import capture
from recordings.models import Call, ProcessingOutbox
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

SEND_GRACE = timedelta(seconds=30)
PROCESSING_STALLED = "processing_stalled"
BATCH = 500


@dataclass
class RepairReport:
    requeued: list[str] = field(default_factory=list)  # call ids
    failed: list[str] = field(default_factory=list)
    cleared: int = 0  # outbox rows of calls that were already final
    send_errors: int = 0


def _due(now: datetime) -> Q:
    deadline = now - timedelta(seconds=settings.PROCESSING_DEADLINE_SECONDS)
    return Q(dispatched_at__isnull=True, created_at__lt=now - SEND_GRACE) | Q(dispatched_at__lt=deadline)


def repair_stuck_calls() -> RepairReport:
    """Re-queue, once per deadline, every call stuck in ``processing``; fail the hopeless ones.

    Cross-tenant maintenance (``unscoped``): each call is then handled in its own tenant scope.
    Idempotent: a row is claimed by a conditional UPDATE of its ``dispatched_at``, so two repairs
    running at once send each call once. A send that fails (broker still down) leaves the row for
    the next run.
    """
    report = RepairReport()
    now = timezone.now()
    rows = list(
        ProcessingOutbox.objects.unscoped()
        .filter(_due(now))
        .order_by("created_at")
        .values_list("call_id", "tenant_id", "dispatched_at", "dispatches")[:BATCH]
    )
    for call_id, tenant_id, dispatched_at, dispatches in rows:
        with tenant_scope(tenant_id):
            call = Call.objects.filter(pk=call_id).only("state", "upload_key").first()
            if call is None or call.state != Call.State.PROCESSING:
                report.cleared += ProcessingOutbox.objects.filter(call_id=call_id).delete()[0]
                continue
            error_code = ""
            if dispatches >= settings.PROCESSING_MAX_DISPATCHES:
                error_code = PROCESSING_STALLED
            elif not call.upload_key or not capture.recordings_storage().exists(call.upload_key):
                error_code = capture.AUDIO_MISSING
            if error_code:
                logger.error("call %s stuck in processing: %s", call_id, error_code)
                capture.mark_failed(tenant_id=tenant_id, call_id=call_id, error_code=error_code)
                report.failed.append(str(call_id))
                continue
            claimed = ProcessingOutbox.objects.filter(call_id=call_id, dispatched_at=dispatched_at).update(
                dispatched_at=now
            )
            if not claimed:
                continue  # another repair, or the task itself, got there first
            try:
                capture.dispatch_processing(tenant_id=str(tenant_id), call_id=str(call_id))
            except Exception:  # the broker is still down: all due again next run
                logger.warning("could not re-queue call %s", call_id, exc_info=True)
                ProcessingOutbox.objects.filter(call_id=call_id, dispatched_at=now).update(
                    dispatched_at=dispatched_at
                )
                report.send_errors += 1
                break
            logger.warning("re-queued call %s stuck in processing", call_id)
            report.requeued.append(str(call_id))
    return report
