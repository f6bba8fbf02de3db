"""The audit log's rows: the entries of each chain, its head, and what counts as personal.

See ``tenants.audit`` for the design (hash chain, personal fields, seals)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantManager, TenantQuerySet

if TYPE_CHECKING:
    pass

logger = logging.getLogger("tenants.audit")

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


def canonical(data: dict[str, Any]) -> bytes:
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
    # The number of the last seal written to the store, and the entry it sealed (see the module's
    # docstring). A store missing seals up to seal_seq is reported by verify_audit_log.
    seal_seq = models.BigIntegerField(default=0, editable=False)
    sealed_seq = models.BigIntegerField(default=0, editable=False)

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
            # The console's audit log pages newest first by position (``id``), any depth; by
            # person: the entries they made and the entries about them (an OR of the two).
            models.Index(fields=["tenant", "-id"], name="audit_tenant_position"),
            models.Index(fields=["tenant", "actor_id", "-id"], name="audit_tenant_actor"),
            models.Index(fields=["tenant", "target_type", "target_id", "-id"], name="audit_tenant_target"),
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
        return hashlib.sha256(canonical(self.personal_fields())).hexdigest()

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
        return hashlib.sha256(canonical(self.payload())).hexdigest()

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


@dataclass(frozen=True)
class BrokenLink:
    """What is wrong with one chain. ``kind``: ``link`` (the chain itself is broken at ``seq``),
    ``cut`` (sealed entries from ``seq`` on are gone), ``altered`` (entry ``seq`` is not the entry
    a seal sealed), ``forged`` (a seal's HMAC or content is wrong), ``unknown_key`` (a seal under a
    key that is not configured), ``missing_seal`` (a seal number is missing from the store)."""

    chain: str
    seq: int
    entry_id: int | None
    problem: str
    kind: str = "link"
