"""Checking the audit chains (links and seals), and erasing the personal fields of an ended
customer's entries so that the chains still verify."""

from __future__ import annotations

import hmac
import logging
import uuid
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from tenants.audit.entries import (
    GENESIS,
    HASH_VERSION,
    SUPPORT_CHAIN,
    AuditChainHead,
    AuditEntry,
    BrokenLink,
    personal_detail_keys,
)
from tenants.audit.log import chain_for
from tenants.audit.seals import read_seals, seal_range, sealed_chains
from tenants.models import Tenant

if TYPE_CHECKING:
    from tenants.models import Tenant

logger = logging.getLogger("tenants.audit")


def verify_chain(chain: str, *, batch: int = 2000) -> BrokenLink | None:
    """Recompute one chain and check it against its seals in the store; the first problem, or
    None when it is whole. The chain's own links are checked first, then the seals themselves
    (forged, unknown key, missing numbers), then the chain against every seal (cut, altered)."""
    seals, seal_problem = read_seals(chain)
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
            f"seal {seal_range(first, head.seal_seq)} is missing from the store "
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


def _erasable(chain: str) -> bool:
    """Personal fields may only have been erased from the chain of a tenant whose service ended."""
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
    tenant = Tenant.objects.get(pk=tenant_id)
    if tenant.status != Tenant.Status.ENDED:
        raise ValidationError(f"The service of {tenant} has not ended; its audit log is kept whole.")
    rows: models.QuerySet[AuditEntry] = models.QuerySet(model=AuditEntry).filter(
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
