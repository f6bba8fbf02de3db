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

Seals: a chain cut at its end cannot be told from a short chain by the chain alone (delete the last
entries, roll ``AuditChainHead`` back, and every remaining link still verifies). So each chain's
head is sealed outside the database: a seal is the chain's last entry number and hash, signed with
HMAC-SHA256 under ``settings.AUDIT_SEAL_KEY`` (a secret from the environment, never in the
database; its key id travels in the seal, so keys rotate), numbered 1, 2, 3... per chain and
written once to the ``audit`` storage (``<chain>/<number>.json``: S3 with ``If-None-Match: *``, a
create-only file on disk), which a database restore or rollback does not touch. A seal is written
right after the commit of every transaction that appended to the chain (``transaction.on_commit``,
never inside the transaction), so the entries a cut can hide are only those whose seal write
failed or never ran (store down, process killed between commit and seal): the periodic task
``tenants.seal_audit_chains`` seals those within ``AUDIT_SEAL_SECONDS``. ``verify_audit_log``
checks every chain against its seals: a cut tail, an entry that is not the one sealed, a forged
seal (wrong HMAC), a seal under an unknown key and a missing seal number are each reported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import posixpath
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantManager, TenantQuerySet

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import Tenant, User

logger = logging.getLogger(__name__)

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
    _seal_after_commit(chain)
    return entry


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


def verify_chain(chain: str, *, batch: int = 2000) -> BrokenLink | None:
    """Recompute one chain and check it against its seals in the store; the first problem, or
    None when it is whole. The chain's own links are checked first, then the seals themselves
    (forged, unknown key, missing numbers), then the chain against every seal (cut, altered)."""
    seals, seal_problem = _read_seals(chain)
    sealed_hashes: dict[int, tuple[int, str]] = {}  # entry seq -> (entry id, hash) where sealed
    sealed_seqs = {seal.seq for seal in seals}
    expected_prev = GENESIS
    expected_seq = 1
    last_seq = 0
    erasable = _erasable(chain)
    entries = AuditEntry.objects.unscoped().filter(chain=chain).order_by("seq")
    for entry in entries.iterator(chunk_size=batch):
        if entry.seq in sealed_seqs:
            sealed_hashes[entry.seq] = (entry.id, entry.hash)
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
    if seal_problem is not None:
        return seal_problem
    if head is not None and head.seal_seq > len(seals):
        first = len(seals) + 1
        return BrokenLink(
            chain,
            last_seq,
            None,
            f"seal {_seal_range(first, head.seal_seq)} is missing from the store "
            f"(the database records {head.seal_seq} seals, the store holds {len(seals)})",
            kind="missing_seal",
        )
    newest = max(seals, key=lambda seal: seal.seq, default=None)
    if newest is not None and newest.seq > last_seq:
        removed = (
            f"entry {newest.seq} was removed"
            if newest.seq == last_seq + 1
            else f"entries {last_seq + 1}-{newest.seq} were removed"
        )
        return BrokenLink(
            chain,
            last_seq + 1,
            None,
            f"the chain was cut: it ends at entry {last_seq}, but seal {newest.number} of "
            f"{newest.sealed_at} sealed {newest.seq} entries; {removed}",
            kind="cut",
        )
    for seal in seals:
        entry_id, entry_hash = sealed_hashes.get(seal.seq, (None, ""))
        if not hmac.compare_digest(entry_hash.encode(), seal.hash.encode()):
            return BrokenLink(
                chain,
                seal.seq,
                entry_id,
                f"entry {seal.seq} is not the entry seal {seal.number} of {seal.sealed_at} sealed: "
                "the chain was rewritten at or before this entry",
                kind="altered",
            )
    return None


def _seal_range(first: int, last: int) -> str:
    return f"{first}" if first == last else f"{first}-{last}"


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
    """Every chain the database or the seal store knows (a chain deleted from the database whole
    still has its seals), each verified; one problem per broken chain."""
    chains = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains |= set(AuditEntry.objects.unscoped().values_list("chain", flat=True).distinct())
    chains |= set(sealed_chains())
    return [broken for chain in sorted(chains) if (broken := verify_chain(chain)) is not None]


# --- seals: the chain heads, signed and kept outside the database --------------------------------

SEAL_VERSION = 1
_CHAIN_NAME = re.compile(r"^[A-Za-z0-9-]{1,40}$")
_SEAL_FILE = re.compile(r"^([0-9]{12})\.json$")


class SealExistsError(RuntimeError):
    """The store already holds a seal under that number: seals are never overwritten."""


@dataclass(frozen=True)
class Seal:
    """One seal: chain ``chain`` had ``seq`` entries, the last with hash ``hash``, at ``sealed_at``."""

    chain: str
    number: int
    seq: int
    hash: str
    sealed_at: str
    key_id: str
    mac: str

    def body(self) -> dict[str, Any]:
        return {
            "v": SEAL_VERSION,
            "chain": self.chain,
            "seal": self.number,
            "seq": self.seq,
            "hash": self.hash,
            "sealed_at": self.sealed_at,
            "key": self.key_id,
        }

    def document(self) -> bytes:
        return _canonical({**self.body(), "hmac": self.mac})


def _seal_mac(body: dict[str, Any], key_id: str) -> str:
    secret = settings.AUDIT_SEAL_KEYS[key_id]
    return hmac.new(secret.encode(), _canonical(body), hashlib.sha256).hexdigest()


def make_seal(*, chain: str, number: int, seq: int, last_hash: str) -> Seal:
    """A seal signed with the current key (``settings.AUDIT_SEAL_KEY_ID``)."""
    key_id = settings.AUDIT_SEAL_KEY_ID
    unsigned = Seal(chain, number, seq, last_hash, timezone.now().isoformat(), key_id, "")
    return Seal(**{**unsigned.__dict__, "mac": _seal_mac(unsigned.body(), key_id)})


def seal_storage() -> Storage:
    return storages["audit"]


def seal_name(chain: str, number: int) -> str:
    if not _CHAIN_NAME.match(chain):
        raise ValueError(f"not an audit chain name: {chain!r}")
    return f"{chain}/{number:012d}.json"


def write_seal_once(storage: Storage, name: str, content: bytes) -> None:
    """Create ``name`` holding ``content``; raise SealExistsError if it exists (never overwrite).

    S3: a conditional PutObject (``If-None-Match: *``, refused by the store itself, so two writers
    cannot both win). Disk: ``O_CREAT | O_EXCL``. Any other backend: checked, then saved (not
    atomic; the two above are the ones this project configures)."""
    from storages.backends.s3 import S3Storage

    if isinstance(storage, S3Storage):
        from botocore.exceptions import ClientError

        key = posixpath.join(storage.location, name) if storage.location else name
        client = storage.connection.meta.client
        try:
            client.put_object(
                Bucket=storage.bucket_name,
                Key=key,
                Body=content,
                ContentType="application/json",
                IfNoneMatch="*",
                **(storage.object_parameters or {}),
            )
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 412 or error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise SealExistsError(name) from None
            raise
        return
    if hasattr(storage, "path") and hasattr(storage, "directory_permissions_mode"):
        path = storage.path(name)
        os.makedirs(os.path.dirname(path), mode=storage.directory_permissions_mode or 0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, storage.file_permissions_mode or 0o600)
        except FileExistsError:
            raise SealExistsError(name) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        return
    if storage.exists(name):
        raise SealExistsError(name)
    storage.save(name, ContentFile(content))


def _seal_numbers(storage: Storage, chain: str) -> list[int]:
    try:
        _dirs, files = storage.listdir(chain)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in files if (m := _SEAL_FILE.match(name)))


def sealed_chains() -> list[str]:
    """The chains that have seals in the store."""
    try:
        dirs, _files = seal_storage().listdir("")
    except FileNotFoundError:
        return []
    return sorted(d.rstrip("/") for d in dirs if _CHAIN_NAME.match(d.rstrip("/")))


def seal_chain(chain: str, *, wait: bool = False) -> Seal | None:
    """Seal the chain's head now (after the commit of the entries it covers): sign it and write it
    to the store under the next number. None when the head is already sealed. When another
    transaction holds the head (appending, or sealing: its seal, written after its own commit,
    covers this chain's committed entries too, unless it rolls back), the request does not wait:
    the task ``tenants.seal_audit_chain`` seals it with ``wait``. A number the store already holds
    that the database does not know is logged as an error (the database was restored or rolled
    back; ``verify_audit_log`` says what is missing) and skipped: a seal is never overwritten."""
    storage = seal_storage()
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update(skip_locked=not wait).filter(chain=chain).first()
        if head is None and not wait and AuditChainHead.objects.filter(chain=chain).exists():
            from hiprecorder.tasks import enqueue
            from tenants import tasks

            enqueue(tasks.seal_audit_chain, chain)  # held by another transaction: seal it later
            return None
        if head is None or head.seq == 0 or head.sealed_seq == head.seq:
            return None
        number = head.seal_seq + 1
        for _attempt in range(5):
            seal = make_seal(chain=chain, number=number, seq=head.seq, last_hash=head.last_hash)
            try:
                write_seal_once(storage, seal_name(chain, number), seal.document())
                break
            except SealExistsError:
                held = _seal_numbers(storage, chain)
                logger.error(
                    "Audit chain %s: the store already holds seal %s (and %s in all), which the "
                    "database does not know; the database may have been restored or rolled back. "
                    "Run manage.py verify_audit_log.",
                    chain,
                    number,
                    len(held),
                )
                number = max([number, *held]) + 1
        else:
            raise SealExistsError(f"{chain}: no free seal number after {number}")
        AuditChainHead.objects.filter(chain=chain).update(seal_seq=number, sealed_seq=head.seq)
    return seal


class _SealAfterCommit:
    """The on-commit callback that seals one chain; failures are logged, never raised (the
    entries are committed; the next commit or the periodic task seals them)."""

    def __init__(self, chain: str) -> None:
        self.chain = chain

    def __call__(self) -> None:
        try:
            seal_chain(self.chain)
        except Exception:
            logger.exception("Audit chain %s: the seal could not be written; it stays unsealed", self.chain)


def _seal_after_commit(chain: str) -> None:
    """Seal the chain once the transaction that appended to it commits (at once outside one).
    A transaction with several entries of one chain writes one seal: the first callback seals
    the head, and the others find it sealed (``sealed_seq``) and write nothing."""
    transaction.on_commit(_SealAfterCommit(chain))


def seal_unsealed_chains() -> int:
    """Seal every chain whose newest entries have no seal yet; the number of seals written."""
    chains = AuditChainHead.objects.filter(seq__gt=models.F("sealed_seq")).values_list("chain", flat=True)
    written = 0
    for chain in list(chains):
        try:
            written += seal_chain(chain) is not None
        except Exception:
            logger.exception("Audit chain %s: the seal could not be written", chain)
    return written


def _read_seals(chain: str) -> tuple[list[Seal], BrokenLink | None]:
    """The chain's seals in the store, in number order, each checked (its HMAC under the key its
    id names, its place); the valid seals before the first problem, and that problem."""
    if not _CHAIN_NAME.match(chain):
        return [], None
    storage = seal_storage()
    seals: list[Seal] = []
    for expected, number in enumerate(_seal_numbers(storage, chain), start=1):
        if number != expected:
            missing = _seal_range(expected, number - 1)
            return seals, BrokenLink(
                chain, expected, None, f"seal {missing} is missing from the store", kind="missing_seal"
            )
        name = seal_name(chain, number)
        with storage.open(name) as handle:
            raw = handle.read()
        problem, seal = _check_seal(chain, number, raw)
        if problem is not None:
            kind, text = problem
            where = seal.seq if seal else 0
            return seals, BrokenLink(chain, where, None, f"seal {number}: {text}", kind=kind)
        seals.append(seal)  # type: ignore[arg-type]
    return seals, None


def _check_seal(chain: str, number: int, raw: bytes) -> tuple[tuple[str, str] | None, Seal | None]:
    try:
        data = json.loads(raw)
        seal = Seal(
            chain=str(data["chain"]),
            number=int(data["seal"]),
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            sealed_at=str(data["sealed_at"]),
            key_id=str(data["key"]),
            mac=str(data["hmac"]),
        )
        version = data["v"]
    except (ValueError, TypeError, KeyError):
        return ("forged", "not a seal (unreadable)"), None
    if version != SEAL_VERSION:
        return ("forged", f"unknown seal version {version!r}"), seal
    if seal.key_id not in settings.AUDIT_SEAL_KEYS:
        return (
            "unknown_key",
            f"signed with key {seal.key_id!r}, which is not configured (AUDIT_SEAL_KEY, AUDIT_SEAL_OLD_KEYS)",
        ), seal
    if not hmac.compare_digest(_seal_mac(seal.body(), seal.key_id).encode(), seal.mac.encode()):
        return ("forged", "forged: its HMAC does not match its content"), seal
    if seal.chain != chain or seal.number != number:
        return ("forged", f"holds seal {seal.number} of chain {seal.chain}, not this one (moved)"), seal
    return None, seal


def check_seal_key(**_kwargs: Any) -> list[Any]:
    """System check: warn when the seal key is the generated one in DATA_DIR, beside the database
    (whoever can rewrite the database there can read it, and re-sign a cut chain)."""
    from django.core.checks import Warning as CheckWarning

    if not settings.AUDIT_SEAL_KEY_IN_DATA_DIR:
        return []
    return [
        CheckWarning(
            "AUDIT_SEAL_KEY is not set: the audit log's seals are signed with a key generated in "
            f"{settings.DATA_DIR / 'audit_seal_key'}, on the same disk as the database.",
            hint="Set AUDIT_SEAL_KEY=<key id>:<secret> from a secret store (required in production).",
            id="tenants.W001",
        )
    ]
