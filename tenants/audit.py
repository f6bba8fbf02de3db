"""The audit log: who did what, to which object, when and from where.

Append-only and hash-chained: every entry carries the hash of the entry before it in its chain
(one chain per tenant, one for support staff's actions outside any tenant), so a changed, removed
or reordered entry breaks the chain at that point. ``manage.py verify_audit_log`` recomputes the
chains and reports the first broken link.

Entries say *what happened* and name objects by id; they hold no call content. ``detail`` is for
small, non-personal facts (a mode that changed, a count) — never audio, transcripts or comments.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantManager, TenantQuerySet

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import Tenant, User

GENESIS = "0" * 64
SUPPORT_CHAIN = "support"


class AppendOnlyError(RuntimeError):
    """Audit entries are never changed or deleted."""


class AuditQuerySet(TenantQuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("The audit log is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The audit log is append-only")


AuditManager = TenantManager.from_queryset(AuditQuerySet)


class AuditChainHead(models.Model):
    """The last link of one chain; locked while appending so links never fork."""

    chain = models.CharField(max_length=40, primary_key=True)
    seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.seq}"


class AuditEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    chain = models.CharField(max_length=40, editable=False)
    seq = models.BigIntegerField(editable=False)
    # No database constraint: entries outlive users and must never block a deletion.
    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_id = models.UUIDField(null=True, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditManager()

    class Meta:
        ordering = ["chain", "seq"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_recent"),
            models.Index(fields=["tenant", "action", "-created_at"], name="audit_tenant_action"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("The audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("The audit log is append-only")

    def payload(self) -> dict[str, Any]:
        """The fields the hash covers, in a form that serialises the same everywhere."""
        return {
            "chain": self.chain,
            "seq": self.seq,
            "tenant": str(self.tenant_id) if self.tenant_id else None,
            "actor_id": str(self.actor_id) if self.actor_id else None,
            "actor_label": self.actor_label,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "detail": self.detail,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "created_at": self.created_at.isoformat(),
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        canonical = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def chain_for(tenant_id: uuid.UUID | None) -> str:
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
) -> AuditEntry:
    """Append one entry to the tenant's chain (or the support chain when ``tenant`` is None).

    Runs in its own savepoint, holding the chain head's row lock, so concurrent appends queue up
    instead of forking the chain. ``action`` is a dotted verb like ``recording.play``.
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
        entry.hash = entry.compute_hash()
        entry.save()
        AuditChainHead.objects.filter(chain=chain).update(seq=entry.seq, last_hash=entry.hash)
    return entry


@dataclass(frozen=True)
class BrokenLink:
    chain: str
    seq: int
    entry_id: int | None
    problem: str


def verify_chain(chain: str, *, batch: int = 2000) -> BrokenLink | None:
    """Recompute one chain; the first broken link, or None when it is whole."""
    expected_prev = GENESIS
    expected_seq = 1
    last_seq = 0
    entries = AuditEntry.objects.unscoped().filter(chain=chain).order_by("seq")
    for entry in entries.iterator(chunk_size=batch):
        if entry.seq != expected_seq:
            return BrokenLink(
                chain, expected_seq, None, f"entry {expected_seq} is missing (next is {entry.seq})"
            )
        if entry.prev_hash != expected_prev:
            return BrokenLink(chain, entry.seq, entry.id, "does not link to the entry before it")
        if entry.compute_hash() != entry.hash:
            return BrokenLink(chain, entry.seq, entry.id, "its content does not match its hash")
        expected_prev = entry.hash
        expected_seq += 1
        last_seq = entry.seq
    head = AuditChainHead.objects.filter(chain=chain).first()
    if head is not None and (head.seq != last_seq or head.last_hash != expected_prev):
        return BrokenLink(chain, last_seq + 1, None, "entries after this point are missing")
    return None


def verify_all() -> list[BrokenLink]:
    chains = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains |= set(AuditEntry.objects.unscoped().values_list("chain", flat=True).distinct())
    return [broken for chain in sorted(chains) if (broken := verify_chain(chain)) is not None]
