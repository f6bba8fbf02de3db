"""Appending to the audit log: ``log_event``, the one way an entry is written."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.utils import timezone

from tenants.audit import seals
from tenants.audit.entries import SUPPORT_CHAIN, AuditChainHead, AuditEntry

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import Tenant, User

logger = logging.getLogger("tenants.audit")


def chain_for(tenant_id: uuid.UUID | str | None) -> str:
    return str(tenant_id) if tenant_id else SUPPORT_CHAIN


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. Behind a proxy, configure it to set REMOTE_ADDR (we trust no header)."""
    return request.META.get("REMOTE_ADDR") or None


def log_event(
    *,
    tenant: Tenant | None,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    detail: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    personal: Iterable[str] = (),
) -> AuditEntry:
    """Append one entry to the tenant's chain (or the support chain when ``tenant`` is None).

    Runs in its own savepoint, holding the chain head's row lock, so concurrent appends queue up
    instead of forking the chain. ``action`` is a dotted verb like ``recording.play``. ``personal``
    names further detail keys whose values are personal data (names, numbers and e-mail addresses
    are recognised by themselves), so the end of service can erase them.
    """
    tenant_id = tenant.pk if tenant is not None else None
    chain = chain_for(tenant_id)
    with transaction.atomic():
        AuditChainHead.objects.get_or_create(chain=chain)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        entry = AuditEntry(
            chain=chain,
            seq=head.seq + 1,
            tenant_id=tenant_id,
            actor_id=getattr(actor, "pk", None),
            actor_label=actor.get_username() if actor is not None else "",
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            detail=detail or {},
            ip=client_ip(request) if request is not None else None,
            user_agent=(request.META.get("HTTP_USER_AGENT", "")[:200] if request is not None else ""),
            created_at=timezone.now(),
            prev_hash=head.last_hash,
        )
        entry.seal(extra_personal=personal)
        entry.save()
        AuditChainHead.objects.filter(chain=chain).update(seq=entry.seq, last_hash=entry.hash)
    seals.seal_after_commit(chain)
    return entry
