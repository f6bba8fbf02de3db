"""Re-seal the audit chains in hash scheme 2 (personal fields behind a salted digest).

Each chain is first verified under scheme 1 (every field hashed directly). An intact chain is
re-sealed entry by entry in scheme 2 — same entries, same order, new links — so its personal
fields can be erased at the end of a customer's service without breaking it. A chain that does
not verify is left as it is (scheme 1): ``verify_audit_log`` keeps reporting where it broke.

The hashing code is copied here as it was when this migration was written, so later changes to
``tenants.audit`` cannot change what this migration does.
"""

import hashlib
import json
import re
import secrets

from django.db import migrations

GENESIS = "0" * 64
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
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{6,}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _looks_personal(value):
    if isinstance(value, str):
        text = value.strip()
        phone = bool(_PHONE.match(text)) and not _DATE.match(text)
        return phone or bool(_EMAIL.match(text))
    if isinstance(value, dict):
        return any(_looks_personal(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_looks_personal(v) for v in value)
    return False


def _personal_keys(detail):
    return sorted(k for k, v in detail.items() if k in PERSONAL_DETAIL_KEYS or _looks_personal(v))


def _sha(data):
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _v1(entry, prev_hash):
    return _sha(
        {
            "chain": entry.chain,
            "seq": entry.seq,
            "tenant": str(entry.tenant_id) if entry.tenant_id else None,
            "actor_id": str(entry.actor_id) if entry.actor_id else None,
            "actor_label": entry.actor_label,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "detail": entry.detail,
            "ip": entry.ip,
            "user_agent": entry.user_agent,
            "created_at": entry.created_at.isoformat(),
            "prev_hash": prev_hash,
        }
    )


def _digest(entry):
    keys = set(entry.personal_keys)
    return _sha(
        {
            "actor_label": entry.actor_label,
            "ip": entry.ip,
            "user_agent": entry.user_agent,
            "detail": {k: v for k, v in entry.detail.items() if k in keys},
            "salt": entry.personal_salt,
        }
    )


def _v2(entry, prev_hash):
    keys = set(entry.personal_keys)
    return _sha(
        {
            "v": 2,
            "chain": entry.chain,
            "seq": entry.seq,
            "tenant": str(entry.tenant_id) if entry.tenant_id else None,
            "actor_id": str(entry.actor_id) if entry.actor_id else None,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "detail": {k: v for k, v in entry.detail.items() if k not in keys},
            "personal_keys": sorted(keys),
            "personal_digest": entry.personal_digest,
            "created_at": entry.created_at.isoformat(),
            "prev_hash": prev_hash,
        }
    )


def _chains(AuditEntry, AuditChainHead):
    chains = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains |= set(AuditEntry.objects.values_list("chain", flat=True).distinct())
    return sorted(chains)


def _intact_v1(entries, head):
    prev, seq = GENESIS, 0
    for entry in entries:
        if entry.hash_version != 1 or entry.seq != seq + 1 or entry.prev_hash != prev:
            return False
        if _v1(entry, entry.prev_hash) != entry.hash:
            return False
        prev, seq = entry.hash, entry.seq
    return head is None or (head.seq == seq and head.last_hash == prev)


def reseal(apps, schema_editor):
    AuditEntry = apps.get_model("tenants", "AuditEntry")
    AuditChainHead = apps.get_model("tenants", "AuditChainHead")
    for chain in _chains(AuditEntry, AuditChainHead):
        entries = list(AuditEntry.objects.filter(chain=chain).order_by("seq"))
        head = AuditChainHead.objects.filter(chain=chain).first()
        if not entries or not _intact_v1(entries, head):
            continue  # left in scheme 1: verification keeps reporting the break
        prev = GENESIS
        for entry in entries:
            entry.hash_version = 2
            entry.personal_keys = _personal_keys(entry.detail)
            entry.personal_salt = secrets.token_hex(16)
            entry.personal_digest = _digest(entry)
            entry.prev_hash = prev
            entry.hash = _v2(entry, prev)
            prev = entry.hash
        AuditEntry.objects.bulk_update(
            entries,
            ["hash_version", "personal_keys", "personal_salt", "personal_digest", "prev_hash", "hash"],
            batch_size=1000,
        )
        if head is not None:
            AuditChainHead.objects.filter(chain=chain).update(last_hash=prev)


def unseal(apps, schema_editor):
    """Back to scheme 1 (every field hashed): re-link every chain that verifies in scheme 2."""
    AuditEntry = apps.get_model("tenants", "AuditEntry")
    AuditChainHead = apps.get_model("tenants", "AuditChainHead")
    for chain in _chains(AuditEntry, AuditChainHead):
        entries = list(AuditEntry.objects.filter(chain=chain).order_by("seq"))
        prev = GENESIS
        for entry in entries:
            if entry.hash_version != 2 or entry.prev_hash != prev or _v2(entry, prev) != entry.hash:
                break
            prev = entry.hash
        else:
            prev = GENESIS
            for entry in entries:
                entry.hash_version = 1
                entry.prev_hash = prev
                entry.hash = _v1(entry, prev)
                prev = entry.hash
            AuditEntry.objects.bulk_update(entries, ["hash_version", "prev_hash", "hash"], batch_size=1000)
            AuditChainHead.objects.filter(chain=chain).update(last_hash=prev)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_audit_personal_digest"),
    ]

    operations = [migrations.RunPython(reseal, unseal)]
