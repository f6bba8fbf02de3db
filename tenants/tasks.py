"""Celery tasks of tenants: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from hiprecorder.retry import RETRY_OPTIONS


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY_OPTIONS)
def purge_tenant(tenant_id: str) -> str:
    """End of service: delete everything of the tenant (batched; a re-delivered task resumes)."""
    from tenants import privacy

    report = privacy.purge_tenant(tenant_id=tenant_id)
    return report.status
