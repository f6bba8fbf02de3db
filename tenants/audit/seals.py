"""Seals: the chain heads, signed and kept outside the database (see ``tenants.audit``), and the
tasks that write the seals an on-commit write could not."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import shared_task
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import models, transaction
from django.utils import timezone

from hiprecorder.tasks import enqueue
from tenants.audit.entries import AuditChainHead, BrokenLink, canonical

if TYPE_CHECKING:
    pass

logger = logging.getLogger("tenants.audit")


SEAL_VERSION = 1
_CHAIN_NAME = re.compile(r"[A-Za-z0-9-]{1,40}")  # fullmatch: no trailing newline
_SEAL_FILE = re.compile(r"([0-9]{12})\.json")


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
        return canonical({**self.body(), "hmac": self.mac})


def _seal_mac(body: dict[str, Any], key_id: str) -> str:
    secret = settings.AUDIT_SEAL_KEYS[key_id]
    return hmac.new(secret.encode(), canonical(body), hashlib.sha256).hexdigest()


def make_seal(*, chain: str, number: int, seq: int, last_hash: str) -> Seal:
    """A seal signed with the current key (``settings.AUDIT_SEAL_KEY_ID``)."""
    key_id = settings.AUDIT_SEAL_KEY_ID
    unsigned = Seal(chain, number, seq, last_hash, timezone.now().isoformat(), key_id, "")
    return Seal(**{**unsigned.__dict__, "mac": _seal_mac(unsigned.body(), key_id)})


def seal_range(first: int, last: int) -> str:
    return f"{first}" if first == last else f"{first}-{last}"


def seal_storage() -> Storage:
    return storages["audit"]


def seal_name(chain: str, number: int) -> str:
    if not _CHAIN_NAME.fullmatch(chain):
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
    if isinstance(storage, FileSystemStorage):
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
    return sorted(int(m.group(1)) for name in files if (m := _SEAL_FILE.fullmatch(name)))


def sealed_chains() -> list[str]:
    """The chains that have seals in the store."""
    try:
        dirs, _files = seal_storage().listdir("")
    except FileNotFoundError:
        return []
    return sorted(d.rstrip("/") for d in dirs if _CHAIN_NAME.fullmatch(d.rstrip("/")))


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
            enqueue(seal_audit_chain, chain)  # held by another transaction: seal it later
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


def seal_after_commit(chain: str) -> None:
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


def read_seals(chain: str) -> tuple[list[Seal], BrokenLink | None]:
    """The chain's seals in the store, in number order, each checked (its HMAC under the key its
    id names, its place); the valid seals before the first problem, and that problem."""
    if not _CHAIN_NAME.fullmatch(chain):
        return [], None
    storage = seal_storage()
    seals: list[Seal] = []
    for expected, number in enumerate(_seal_numbers(storage, chain), start=1):
        if number != expected:
            missing = seal_range(expected, number - 1)
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
        if seal is not None:  # (no problem means a seal)
            seals.append(seal)
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


# The tasks live beside the sealing they finish (``tenants.tasks`` names them for the worker):
# ``seal_chain`` sends ``seal_audit_chain`` itself, so a separate tasks module would import this
# one and be imported by it.


@shared_task(name="tenants.seal_audit_chains", ignore_result=True)
def seal_audit_chains() -> int:
    """Seal the audit chains whose newest entries are not sealed yet (a seal write that failed)."""
    return seal_unsealed_chains()


@shared_task(name="tenants.seal_audit_chain", ignore_result=True)
def seal_audit_chain(chain: str) -> bool:
    """Seal one audit chain whose head another transaction held when its own commit sealed it."""
    return seal_chain(chain, wait=True) is not None
