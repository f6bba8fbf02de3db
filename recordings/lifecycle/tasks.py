"""Celery tasks of the recording lifecycle (the expiry sweep).

Kept apart from ``recordings/tasks.py`` (the capture's processing tasks); loaded through
``CELERY_IMPORTS``. A service that wants a sweep sends it by name (``hiprecorder.tasks.enqueue``),
so nothing in the lifecycle imports this module back.
"""

from __future__ import annotations

from celery import shared_task

from hiprecorder.retry import RETRY_OPTIONS
from recordings.lifecycle.sweep import sweep_expired


@shared_task(name="recordings.sweep_expired", ignore_result=True, **RETRY_OPTIONS)
def sweep_expired_task() -> dict[str, int]:
    """Delete every recording that is due, for every tenant.

    The one task without ``tenant_id``: expiry is cross-tenant maintenance (the rows it claims
    carry their tenant; nothing is read for a person). Safe to run twice at once (SKIP LOCKED).
    """
    result = sweep_expired()
    return {"rows": result.rows, "objects": result.objects, "failed": len(result.failed)}
