"""Celery tasks of tenants: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tenants.seal_audit_chains", ignore_result=True)
def seal_audit_chains() -> int:
    """Seal the audit chains whose newest entries are not sealed yet (a seal write that failed)."""
    from tenants.audit import seal_unsealed_chains

    return seal_unsealed_chains()


@shared_task(name="tenants.seal_audit_chain", ignore_result=True)
def seal_audit_chain(chain: str) -> bool:
    """Seal one audit chain whose head another transaction held when its own commit sealed it."""
    from tenants.audit import seal_chain

    return seal_chain(chain, wait=True) is not None
