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

from tenants.audit.entries import (
    GENESIS,
    HASH_VERSION,
    PERSONAL_DETAIL_KEYS,
    SUPPORT_CHAIN,
    AppendOnlyError,
    AuditChainHead,
    AuditEntry,
    AuditQuerySet,
    BrokenLink,
    personal_detail_keys,
)
from tenants.audit.log import chain_for, client_ip, log_event
from tenants.audit.seals import (
    SEAL_VERSION,
    Seal,
    SealExistsError,
    check_seal_key,
    make_seal,
    seal_chain,
    seal_name,
    seal_storage,
    seal_unsealed_chains,
    sealed_chains,
    write_seal_once,
)
from tenants.audit.verify import erase_personal_fields, personal_data_left, verify_all, verify_chain

__all__ = [
    "GENESIS",
    "HASH_VERSION",
    "PERSONAL_DETAIL_KEYS",
    "SEAL_VERSION",
    "SUPPORT_CHAIN",
    "AppendOnlyError",
    "AuditChainHead",
    "AuditEntry",
    "AuditQuerySet",
    "BrokenLink",
    "Seal",
    "SealExistsError",
    "chain_for",
    "check_seal_key",
    "client_ip",
    "erase_personal_fields",
    "log_event",
    "make_seal",
    "personal_data_left",
    "personal_detail_keys",
    "seal_chain",
    "seal_name",
    "seal_storage",
    "seal_unsealed_chains",
    "sealed_chains",
    "verify_all",
    "verify_chain",
    "write_seal_once",
]
