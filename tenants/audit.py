"""The audit log: who did what, to which object, when and from where.

Append-only and hash-chained: every entry carries the hash of the entry before it in its chain
(one chain per tenant, one for support staff's actions outside any tenant), so a changed, removed
or reordered entry breaks the chain at that point. ``manage.py verify_audit_log`` recomputes the
chains and reports the first broken link.

Entries say *what happened* and name objects by id; they hold no call content. ``detail`` is for
small facts (a mode that changed, a count) — never audio, transcripts or comments.

Personal data and the chain (hash scheme 2). An entry's personal fields — the actor's name
(``actor_label``), ``ip``, ``user_agent`` and the *personal* values of ``detail`` (a name, a phone
number, an e-mail address: see ``personal_detail_keys``) — are not hashed into the chain directly.
The chain hash covers the entry's other fields, the names of its personal detail keys and
``personal_digest``: the SHA-256 of the personal fields plus a random per-entry salt. While the
personal fields are there, verification recomputes the digest, so changing them is detected like
any other change. When a customer's service has ended, the purge erases them
(``erase_personal_fields``: fields blanked, salt dropped, ``personal_erased_at`` stamped) and the
chain still verifies; without the salt the digest cannot be used to test a guessed name or address.

Scheme 1 (the first entries) hashed every field directly. The migration that introduced scheme 2
re-sealed every chain that verified intact under scheme 1; a chain that did not stays in scheme 1,
so ``verify_audit_log`` keeps reporting where it broke.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantManager, TenantQuerySet

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import Tenant, User

GENESIS = "0" * 64
SUPPORT_CHAIN = "support"
HASH_VERSION = 2

# Detail keys whose values are personal data wherever they appear.
PERSONAL_DETAIL_KEYS = frozenset(
    {
        "name",
        "full_name",
        "first_name",
        "last_name",
        "username",
        "email",
        "number",
        "numbers",
        "phone",
        "local_number",
        "remote_number",
        "caller",
        "ip",
        "user_agent",
    }
)
# A string that looks like a phone number or an e-mail address is personal under any key.
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{6,}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _looks_personal(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip()
        phone = bool(_PHONE.match(text)) and not _DATE.match(text)
        return phone or bool(_EMAIL.match(text))
    if isinstance(value, dict):
        return any(_looks_personal(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_looks_personal(v) for v in value)
    return False


def personal_detail_keys(detail: dict[str, Any], extra: Iterable[str] = ()) -> list[str]:
    """The keys of ``detail`` whose values are personal: the known personal keys, ``extra``, and
    any value that looks like a phone number or an e-mail address (nested values included)."""
    extra = set(extra)
    return sorted(
        key
        for key, value in detail.items()
        if key in PERSONAL_DETAIL_KEYS or key in extra or _looks_personal(value)
    )


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


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
    # Hash scheme 2 (see the module's docstring); scheme 1 entries have none of these.
    hash_version = models.PositiveSmallIntegerField(default=1, editable=False)
    personal_keys = models.JSONField(default=list, blank=True, editable=False)
    personal_salt = models.CharField(max_length=32, blank=True, editable=False)
    personal_digest = models.CharField(max_length=64, blank=True, editable=False)
    personal_erased_at = models.DateTimeField(null=True, blank=True, editable=False)

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
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_display} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("The audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("The audit log is append-only")

    @property
    def actor_display(self) -> str:
        """Who, for display: the name, "(erased)" after the end of service, "system" for the system."""
        if self.personal_erased_at is not None:
            return str(_("(erased)"))
        return self.actor_label or str(_("system"))

    @property
    def detail_display(self) -> dict[str, Any]:
        """``detail`` for display, erased personal values shown as "(erased)"."""
        if self.personal_erased_at is None:
            return dict(self.detail)
        erased = str(_("(erased)"))
        return {k: (erased if k in self.personal_keys else v) for k, v in self.detail.items()}

    def payload_v1(self) -> dict[str, Any]:
        """Scheme 1: every field, personal ones included."""
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

    def personal_fields(self) -> dict[str, Any]:
        """What ``personal_digest`` covers: the personal fields and the salt."""
        keys = set(self.personal_keys)
        return {
            "actor_label": self.actor_label,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "detail": {k: v for k, v in self.detail.items() if k in keys},
            "salt": self.personal_salt,
        }

    def compute_personal_digest(self) -> str:
        return hashlib.sha256(_canonical(self.personal_fields())).hexdigest()

    def payload(self) -> dict[str, Any]:
        """The fields the chain hash covers, in a form that serialises the same everywhere."""
        if self.hash_version == 1:
            return self.payload_v1()
        keys = set(self.personal_keys)
        return {
            "v": self.hash_version,
            "chain": self.chain,
            "seq": self.seq,
            "tenant": str(self.tenant_id) if self.tenant_id else None,
            "actor_id": str(self.actor_id) if self.actor_id else None,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "detail": {k: v for k, v in self.detail.items() if k not in keys},
            "personal_keys": sorted(keys),
            "personal_digest": self.personal_digest,
            "created_at": self.created_at.isoformat(),
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(_canonical(self.payload())).hexdigest()

    def seal(self, *, extra_personal: Iterable[str] = ()) -> None:
        """Fill in scheme 2: which detail keys are personal, a fresh salt, the digest, the hash."""
        self.hash_version = HASH_VERSION
        self.personal_keys = personal_detail_keys(self.detail, extra_personal)
        self.personal_salt = secrets.token_hex(16)
        self.personal_digest = self.compute_personal_digest()
        self.hash = self.compute_hash()

    @property
    def has_personal_data(self) -> bool:
        return bool(
            self.actor_label
            or self.ip
            or self.user_agent
            or any(self.detail.get(k) not in (None, "") for k in self.personal_keys)
        )


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
    erasable = _erasable(chain)
    entries = AuditEntry.objects.unscoped().filter(chain=chain).order_by("seq")
    for entry in entries.iterator(chunk_size=batch):
        if entry.seq != expected_seq:
            return BrokenLink(
                chain, expected_seq, None, f"entry {expected_seq} is missing (next is {entry.seq})"
            )
        if entry.prev_hash != expected_prev:
            return BrokenLink(chain, entry.seq, entry.id, "does not link to the entry before it")
        if entry.hash_version not in (1, HASH_VERSION):
            return BrokenLink(chain, entry.seq, entry.id, f"unknown hash scheme {entry.hash_version}")
        if entry.compute_hash() != entry.hash:
            return BrokenLink(chain, entry.seq, entry.id, "its content does not match its hash")
        if entry.hash_version >= 2:
            problem = _personal_problem(entry, erasable=erasable)
            if problem:
                return BrokenLink(chain, entry.seq, entry.id, problem)
        expected_prev = entry.hash
        expected_seq += 1
        last_seq = entry.seq
    head = AuditChainHead.objects.filter(chain=chain).first()
    if head is not None and (head.seq != last_seq or head.last_hash != expected_prev):
        return BrokenLink(chain, last_seq + 1, None, "entries after this point are missing")
    return None


def _erasable(chain: str) -> bool:
    """Personal fields may only have been erased from the chain of a tenant whose service ended."""
    from tenants.models import Tenant

    if chain == SUPPORT_CHAIN:
        return False
    try:
        return Tenant.objects.filter(pk=chain, status=Tenant.Status.ENDED).exists()
    except (ValueError, ValidationError):
        return False


def _personal_problem(entry: AuditEntry, *, erasable: bool) -> str | None:
    if entry.personal_erased_at is None:
        if entry.compute_personal_digest() != entry.personal_digest:
            return "its personal fields do not match their digest"
        return None
    if not erasable:
        return "its personal fields were erased, but the tenant's service has not ended"
    if entry.has_personal_data or entry.personal_salt:
        return "personal fields were written into it after they were erased"
    return None


def erase_personal_fields(*, tenant_id: uuid.UUID | str, batch: int = 1000) -> int:
    """The end of service: blank the personal fields of every entry in the tenant's chain (the
    actor's name, address, browser, personal detail values and the digest's salt). The chain still
    verifies (scheme 2). Only for a tenant whose service has ended; batched, safe to run again.
    Scheme-1 entries (in a chain that was already broken when scheme 2 came) are blanked too: the
    law wins over that chain's evidence, and verification says where it broke.

    The one change ever made to an audit entry, so it bypasses the append-only guard on purpose.
    Returns the number of entries blanked in this run."""
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    if tenant.status != Tenant.Status.ENDED:
        raise ValidationError(f"The service of {tenant} has not ended; its audit log is kept whole.")
    rows = models.QuerySet(model=AuditEntry).filter(
        chain=chain_for(tenant.pk), personal_erased_at__isnull=True
    )
    erased = 0
    while True:
        with transaction.atomic():
            chunk = list(rows.select_for_update().order_by("seq")[:batch])
            if not chunk:
                return erased
            now = timezone.now()
            for entry in chunk:
                keys = entry.personal_keys if entry.hash_version >= 2 else personal_detail_keys(entry.detail)
                detail = {k: (None if k in keys else v) for k, v in entry.detail.items()}
                models.QuerySet(model=AuditEntry).filter(pk=entry.pk).update(
                    actor_label="",
                    ip=None,
                    user_agent="",
                    detail=detail,
                    personal_keys=keys,
                    personal_salt="",
                    personal_erased_at=now,
                )
            erased += len(chunk)


def personal_data_left(*, tenant_id: uuid.UUID | str) -> int:
    """Entries of the tenant's chain that still hold a personal field (0 after the purge)."""
    entries = AuditEntry.objects.unscoped().filter(chain=chain_for(tenant_id))
    return sum(1 for entry in entries.iterator(chunk_size=2000) if entry.has_personal_data)


def verify_all() -> list[BrokenLink]:
    chains = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains |= set(AuditEntry.objects.unscoped().values_list("chain", flat=True).distinct())
    return [broken for chain in sorted(chains) if (broken := verify_chain(chain)) is not None]
