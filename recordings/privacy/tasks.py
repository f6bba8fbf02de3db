"""Celery tasks of privacy: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from hiprecorder.retry import RETRY_OPTIONS
from recordings.privacy.purge import purge_tenant as purge


# The name is the one the task had when it lived in tenants.tasks: a message queued before an
# upgrade still finds its task.
@shared_task(name="tenants.tasks.purge_tenant", acks_late=True, reject_on_worker_lost=True, **RETRY_OPTIONS)
def purge_tenant(tenant_id: str) -> str:
    """End of service: delete everything of the tenant (batched; a re-delivered task resumes)."""
    report = purge(tenant_id=tenant_id)
    return report.status
