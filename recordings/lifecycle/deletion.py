"""Deleting recordings: storage objects first, then the rows as tombstones.

Deleting (:func:`delete_recording_objects`, used by everyone): the storage objects go first (the
rendition and a leftover raw upload); then, in one transaction, every row of another model that points
at the recording (labels, comments, shares, prompts, the links of many-to-many relations such as an
access copy's recordings, … — found through the model relations, hidden ones and many-to-many
through tables included, so a new artefact model is covered without registering) is deleted,
and the recording row is kept as a tombstone without personal data: tenant, kind, saved, rule
(``deletion_reason``), due time (``expires_at``) and deletion time (``deleted_at``) remain;
owner, numbers, peaks, spans, segments, storage key and checksum are cleared. The call row loses
its numbers and is marked ``deleted``. A model that must outlive the recording sets
``keep_when_recording_deleted = True``.
If the storage delete succeeds and the row update fails, the row stays due and the next sweep
finishes it (deleting a missing object is a no-op); a failed storage delete leaves the row live.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.files.storage import Storage, storages
from django.db import connections, models, router, transaction
from django.db.models import Case, F, Lookup, Q, Value, When
from django.utils import timezone

from recordings import live, usage
from recordings.lifecycle.expiry import ExpiryRule
from recordings.models import Call, Kind, Recording
from recordings.transcripts import search as transcript_search
from recordings.transcripts.models import Transcript
from tenants.scoping import TenantOwned

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000
S3_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


# --- what goes with a recording ----------------------------------------------------------------


def _dependent_relations() -> list[Any]:
    """Reverse relations of Recording whose rows are derived data (deleted with it): every foreign
    key (or one-to-one) of another table that points at Recording.

    Hidden relations count too (``related_name="+"``), and so does the through table of every
    many-to-many to Recording (e.g. an access copy's ``recordings``): its rows are the foreign
    keys that point at Recording, so they go with the recording while the row on the other side
    (the access copy) stays. The many-to-many relation itself is skipped: its through table's
    foreign key is already in the list (and a deleted link row is exactly what must go).
    """
    return [
        rel
        for rel in Recording._meta.get_fields(include_hidden=True)
        if rel.auto_created
        and not rel.concrete
        and (rel.one_to_many or rel.one_to_one)
        and not getattr(rel.related_model, "keep_when_recording_deleted", False)
    ]


def _all_rows(model: type[models.Model]) -> models.QuerySet[Any]:
    # Deleting derived rows of recordings whose ids we hold: the ids already pin the tenant(s).
    if issubclass(model, TenantOwned):
        unscoped: models.QuerySet[Any] = model.objects.unscoped()
        return unscoped
    return model._base_manager.all()


class _AnyOf(Lookup):
    """``lhs`` is one of the ids in ``rhs``, as a filter expression: ``filter(_AnyOf(F("id"), ids))``.

    On PostgreSQL ``lhs = ANY(%s)`` with the ids as ONE array parameter: the batch's 1,000 ids
    are not spelt out as 5,000 literals for the server to parse (what ``id__in`` sends with
    client-side binding), and the planner probes the index on ``lhs`` once per id. Elsewhere
    (SQLite) a plain ``IN (…)``.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection) for v in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs_sql} = ANY(%s)", (*lhs_params, values)
        if not values:
            return "1 = 0", ()
        return f"{lhs_sql} IN ({', '.join(['%s'] * len(values))})", (*lhs_params, *values)


def _in_ids(column: str, ids: Sequence[Any]) -> _AnyOf:
    return _AnyOf(F(column), list(ids))


def _relations_with_rows(ids: Sequence[uuid.UUID] | str) -> list[Any]:
    """The dependent relations (:func:`_dependent_relations`) with at least one row for ``ids``
    (a sequence, or PostgreSQL's array text of them, as :class:`_Claimed` holds them).

    On PostgreSQL one statement asks every table at once (``EXISTS`` through each table's index
    on its recording column, which Django creates for every foreign key), sending the ids once;
    most expiring recordings have no labels, comments or shares, and a DELETE per empty table
    per batch was an eighth of a batch's time (the history of bench/README.md). Raw SQL (a
    dangerous construct per CONTRIBUTING): cross-tenant maintenance over ids the sweep has
    locked; table and column names come from the models' metadata, quoted, and the ids are one
    bound parameter.
    Elsewhere: every relation (its DELETE finds nothing when there is nothing).
    """
    relations = _dependent_relations()
    connection = connections[router.db_for_write(Recording)]
    if connection.vendor != "postgresql" or not relations or not ids:
        return relations
    qn = connection.ops.quote_name
    probes = " UNION ALL ".join(
        f"SELECT {i} FROM batch WHERE EXISTS (SELECT 1 FROM {qn(rel.related_model._meta.db_table)} "  # noqa: S608 (names from _meta)
        f"WHERE {qn(rel.field.column)} = ANY(batch.ids))"
        for i, rel in enumerate(relations)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH batch(ids) AS (SELECT %s::uuid[]) {probes}", [ids if isinstance(ids, str) else list(ids)]
        )
        found = {row[0] for row in cursor.fetchall()}
    return [rel for i, rel in enumerate(relations) if i in found]


# --- deleting ---------------------------------------------------------------------------------


def _recordings_storage() -> Storage:
    return storages["recordings"]


def delete_storage_objects(keys: Sequence[str], *, storage: Storage | None = None) -> set[str]:
    """Delete ``keys`` from the recordings storage; return the keys that could not be deleted.

    S3: DeleteObjects in batches of 1000 (one request per batch, not per object); files: one unlink
    each. A key that does not exist counts as deleted.
    """
    storage = storage or _recordings_storage()
    keys = [k for k in dict.fromkeys(keys) if k]
    failed: set[str] = set()
    if not keys:
        return failed
    bucket = getattr(storage, "bucket", None)
    if bucket is not None and hasattr(storage, "_normalize_name"):
        for start in range(0, len(keys), S3_DELETE_BATCH):
            chunk = keys[start : start + S3_DELETE_BATCH]
            names = {storage._normalize_name(k): k for k in chunk}
            try:
                answer = bucket.delete_objects(Delete={"Objects": [{"Key": n} for n in names], "Quiet": True})
            except Exception:  # the whole request failed: every key of the batch stays
                log.exception("storage: DeleteObjects failed for %d keys", len(chunk))
                failed.update(chunk)
                continue
            for error in answer.get("Errors", []):
                if error.get("Code") != "NoSuchKey":
                    log.error("storage: could not delete %s: %s", error.get("Key"), error.get("Code"))
                    failed.add(names.get(error.get("Key"), error.get("Key")))
        return failed
    for key in keys:
        try:
            storage.delete(key)
        except FileNotFoundError:
            pass
        except Exception:
            log.exception("storage: could not delete %s", key)
            failed.add(key)
    return failed


@dataclass
class DeletionResult:
    rows: int = 0
    objects: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)
    # Rows of derived data deleted with the recordings, by model label ("recordings.Transcript").
    derived: dict[str, int] = field(default_factory=dict)
    # A sweep's batch: the latest due time it claimed, where the loop's next batch starts.
    last_due: datetime | None = None


_TOMBSTONE: dict[str, Any] = {
    "owner": None,
    "local_number": "",
    "remote_number": "",
    "peaks": [],
    "paused_spans": [],
    "segments": [],
    "talk_ratio": None,
    "storage_key": "",
    "sha256": "",
    "mime": "",
}


def _reason_of_rule() -> Case:
    """The row's own expiry rule; for a row whose expiry was set without one, the rule it follows."""
    return Case(
        When(~Q(expiry_rule=""), then=F("expiry_rule")),
        When(kind=Kind.STANDARD, then=Value(ExpiryRule.RETENTION.value)),
        When(saved=False, then=Value(ExpiryRule.UNANSWERED.value)),
        default=Value("expired"),
    )


_CLAIMED = ("id", "storage_key", "call_id", "call__upload_key")  # the rows _delete_rows takes


def _delete_rows(
    rows: list[tuple[uuid.UUID, str, uuid.UUID | None, str | None]],
    *,
    reason: str | None,
    now: datetime,
    storage: Storage | None = None,
) -> DeletionResult:
    """Delete the objects, then tombstone the rows. ``rows``: :data:`_CLAIMED` (id, storage_key,
    call_id, the call's upload_key: a leftover raw upload, normally cleared once the rendition is
    made), live and locked by the caller's transaction. ``reason`` None: each row's own
    ``expiry_rule``."""
    result = DeletionResult()
    ids = [r[0] for r in rows]
    rec_of_call = {r[2]: r[0] for r in rows if r[2] is not None}
    keys_by_id: dict[uuid.UUID, list[str]] = {r[0]: [k for k in (r[1], r[3]) if k] for r in rows}
    all_keys = [k for keys in keys_by_id.values() for k in keys]
    failed_keys = delete_storage_objects(all_keys, storage=storage) if all_keys else set()
    result.objects = len(set(all_keys) - failed_keys)
    if failed_keys:
        result.failed = [rid for rid, keys in keys_by_id.items() if failed_keys.intersection(keys)]
        failed = set(result.failed)
        ids = [i for i in ids if i not in failed]
        rec_of_call = {c: r for c, r in rec_of_call.items() if r not in failed}
    if not ids:
        return result
    for rel in _relations_with_rows(ids):
        # The ORM's delete, so that what points at these rows in turn (a share link's opens, a
        # prompt's deliveries) goes or is unlinked as the models say.
        _deleted, per_model = _all_rows(rel.related_model).filter(_in_ids(rel.field.attname, ids)).delete()
        _add_counts(result.derived, per_model)
    if result.derived.get(Transcript._meta.label):
        transcript_search.drop_deleted_text()  # in this transaction: no word outlives its row
    # Whose lists lose these rows (the live lists' versions), read before the tombstone clears
    # the owner; in the caller's transaction.
    going = Recording.objects.unscoped().filter(_in_ids("id", ids), deleted_at__isnull=True)
    live.owners_changed(going.values_list("owner_id", "kind").distinct().order_by())
    update: dict[str, Any] = {**_TOMBSTONE, "deleted_at": now}
    update["deletion_reason"] = _reason_of_rule() if reason is None else reason
    removed = usage.removed_groups(_in_ids("id", ids))  # the rows are locked: what the update takes
    result.rows = (
        Recording.objects.unscoped().filter(_in_ids("id", ids), deleted_at__isnull=True).update(**update)
    )
    usage.recordings_removed(removed)
    if rec_of_call:
        Call.objects.unscoped().filter(_in_ids("id", list(rec_of_call))).update(**_call_scrub(now))
    return result


def _add_counts(into: dict[str, int], per_model: dict[str, int]) -> None:
    for label, n in per_model.items():
        if n:
            into[label] = into.get(label, 0) + n


def _call_scrub(now: datetime) -> dict[str, Any]:
    """What a deleted recording's call keeps: no numbers, no upload, state ``deleted``."""
    return {
        "state": Call.State.DELETED,
        "local_number": "",
        "remote_number": "",
        "upload_key": "",
        "updated_at": now,
    }


def delete_recording_objects(
    *, recordings: Iterable[Recording | uuid.UUID], reason: str, now: datetime | None = None
) -> DeletionResult:
    """Delete these recordings now (audio, derived artefacts), keeping tombstones. For every part
    of the system that deletes: the capture (blacklisted, not kept), a user's delete, service end.

    Already-deleted ones are skipped. Call it outside a transaction: the storage objects are
    deleted before the rows are committed, and a rolled-back outer transaction would leave rows
    whose audio is gone (``manage.py reconcile_recordings`` reports those).
    """
    now = now or timezone.now()
    ids = [r.pk if isinstance(r, Recording) else r for r in recordings]
    total = DeletionResult()
    for start in range(0, len(ids), SWEEP_BATCH):
        with transaction.atomic():
            rows = list(
                Recording.objects.unscoped()
                .select_for_update(of=("self",))
                .filter(_in_ids("id", ids[start : start + SWEEP_BATCH]), deleted_at__isnull=True)
                .values_list(*_CLAIMED)
            )
            part = _delete_rows(rows, reason=reason, now=now)
        total.rows += part.rows
        total.objects += part.objects
        total.failed += part.failed
        _add_counts(total.derived, part.derived)
    return total
