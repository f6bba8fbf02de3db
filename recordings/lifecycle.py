"""What happens to a recording after it is made: keep or delete, retention tiers, expiry.

Rules (``../shared/spec/recording-modes.md``, "Playback lifecycle"):

- A playback recording whose remote number is whitelisted is *saved* at once; one that is
  blacklisted is deleted at once; any other is *unsaved*, due 3 days after the call ended, and
  the user is asked on their phone (a :class:`notifications.models.PushPrompt`).
- Keep: saved; the subscription's tier decides its expiry (``days_30``/``days_90`` after the call,
  or, for ``minutes_100k``, none: the oldest saved ones are deleted when a new one would pass the
  quota, and the user is warned once per crossing of 90 %).
- Delete: audio and everything derived go at once.
- Standard recordings are due ``tenant.retention_days`` after the call ended.
- The Playback subscription is removed (:func:`on_subscription_removed`): the user's saved
  playbacks are due 30 days after the removal at the latest: those without a due date (tier
  ``minutes_100k``) get removal + 30 days, those with a due date keep it if it is sooner and are
  otherwise capped at removal + 30 days (rule ``unsubscribed``); unsaved ones keep their 3 days
  (and can no longer be kept). A subscription given again before they are deleted re-computes
  their expiry from the new tier (:func:`on_tier_changed`), as a tier change does.

Every live recording that can expire has ``expires_at`` (and ``expiry_rule`` saying which rule
set it); :func:`sweep_expired` deletes what is due through the partial index ``rec_live_expiry``.

Deleting (:func:`delete_recording_objects`, used by everyone): the storage objects go first (the
rendition, a leftover raw upload, and the objects of derived artefacts registered with
:func:`register_derived_objects`); then, in one transaction, every row of another model that points
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
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import Storage, storages
from django.db import connections, models, router, transaction
from django.db.models import Case, F, Lookup, Q, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hiprecorder.tasks import enqueue
from recordings import rules
from recordings.models import Call, Kind, Recording
from tenants.models import PlaybackSubscription, PlaybackTier
from tenants.scoping import TenantOwned, tenant_scope

if TYPE_CHECKING:
    from tenants.models import Tenant, User

log = logging.getLogger(__name__)

#: How long a playback user has to decide "keep or delete" before an unsaved recording is due.
DECISION_WINDOW = timedelta(days=3)
UNSUBSCRIBED_GRACE = timedelta(days=30)  # saved playbacks after the subscription is removed
TIER_DAYS = {PlaybackTier.DAYS_30: 30, PlaybackTier.DAYS_90: 90}
QUOTA_MINUTES = 100_000
QUOTA_MS = QUOTA_MINUTES * 60_000
QUOTA_WARNING_FRACTION = 0.9
SWEEP_BATCH = 1000
S3_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


class ExpiryRule(models.TextChoices):
    """Why a live recording has its ``expires_at`` (and, once deleted, why it went)."""

    UNANSWERED = "unanswered", gettext_lazy("Playback not kept within 3 days")
    DAYS_30 = "days_30", gettext_lazy("Saved playback, 30 days")
    DAYS_90 = "days_90", gettext_lazy("Saved playback, 90 days")
    QUOTA = "quota", gettext_lazy("Oldest saved playback over the 100,000-minute quota")
    RETENTION = "retention", gettext_lazy("Customer's retention period")
    UNSUBSCRIBED = "unsubscribed", gettext_lazy("Saved playback, 30 days after the subscription was removed")


class DeletionReason(models.TextChoices):
    """``Recording.deletion_reason``: an expiry rule, or one of these."""

    USER_DELETED = "user_deleted", gettext_lazy("Deleted by the user")
    BLACKLISTED = "blacklisted", gettext_lazy("Blacklisted number")
    SERVICE_ENDED = "service_ended", gettext_lazy("Customer's service ended")
    NOT_KEPT = "not_kept", gettext_lazy("On-demand call not kept")


class RecordingGone(Exception):
    """The recording was already deleted (or is past its due time): no decision can change it."""

    def __init__(self, recording: Recording, message: str) -> None:
        super().__init__(message)
        self.recording = recording
        self.message = message


# --- derived artefacts ------------------------------------------------------------------------

_derived_object_providers: list[Callable[[list[uuid.UUID]], Iterable[str]]] = []


def register_derived_objects(provider: Callable[[list[uuid.UUID]], Iterable[str]]) -> None:
    """Register ``provider(recording_ids) -> storage keys`` of derived objects (waveform images,
    transcript files, …) in the recordings storage; they are deleted with the recording.
    Rows pointing at the recording need no registration (see the module docstring)."""
    if provider not in _derived_object_providers:
        _derived_object_providers.append(provider)


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
        return model.objects.unscoped()  # type: ignore[attr-defined]
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
    per batch was an eighth of a batch's time (bench/README.md). Raw SQL (a dangerous construct per
    CONTRIBUTING): cross-tenant maintenance over ids the sweep has locked; table and column
    names come from the models' metadata, quoted, and the ids are one bound parameter.
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
            names = {storage._normalize_name(k): k for k in chunk}  # type: ignore[attr-defined]
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
    # A sweep's batch: the latest due time it claimed, where the loop's next batch starts.
    last_due: datetime | None = None


_TOMBSTONE = {
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
    extra = [key for provider in _derived_object_providers for key in provider(ids)]
    all_keys = [k for keys in keys_by_id.values() for k in keys] + extra
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
        _all_rows(rel.related_model).filter(_in_ids(rel.field.attname, ids)).delete()
    update: dict[str, Any] = {**_TOMBSTONE, "deleted_at": now}
    update["deletion_reason"] = _reason_of_rule() if reason is None else reason
    result.rows = (
        Recording.objects.unscoped().filter(_in_ids("id", ids), deleted_at__isnull=True).update(**update)
    )
    if rec_of_call:
        Call.objects.unscoped().filter(_in_ids("id", list(rec_of_call))).update(**_call_scrub(now))
    return result


def _postgres(connection: Any) -> bool:
    return connection.vendor == "postgresql"


def _relaxed_commit(connection: Any) -> None:
    """Inside a sweep transaction on PostgreSQL: do not wait for this transaction's WAL flush.

    Safe because deleting is idempotent and the order that matters is kept: the storage objects
    are deleted before the transaction commits, so the commits lost in a server crash (those of
    the last ``3 x wal_writer_delay``, 600 ms by default) leave rows that are still live and due,
    whose objects are gone; the next sweep claims them again, its deletes of missing objects are
    no-ops, and it writes the tombstones (``reconcile_recordings`` lists such rows meanwhile). No
    tombstone is ever committed while its object still exists.
    """
    if _postgres(connection):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


class _ObjectsStayed(Exception):
    """Rolls back a set-based batch whose storage deletes did not all succeed."""


def _tombstone_sql(connection: Any) -> tuple[str, list[Any]]:
    """``SET`` list and parameters of the tombstone (:data:`_TOMBSTONE`, ``deleted_at``, the
    reason from the row's rule as :func:`_reason_of_rule`), for the set-based claim."""
    qn = connection.ops.quote_name
    parts: list[str] = []
    params: list[Any] = []
    for name, value in _TOMBSTONE.items():
        field_ = Recording._meta.get_field(name)
        parts.append(f"{qn(field_.column)} = %s")
        params.append(field_.get_db_prep_save(value, connection))
    parts.append(
        f"{qn('deletion_reason')} = CASE WHEN r.{qn('expiry_rule')} <> '' THEN r.{qn('expiry_rule')} "
        f"WHEN r.{qn('kind')} = %s THEN %s WHEN NOT r.{qn('saved')} THEN %s ELSE %s END"
    )
    params += [Kind.STANDARD.value, ExpiryRule.RETENTION.value, ExpiryRule.UNANSWERED.value, "expired"]
    return ", ".join(parts), params


@dataclass
class _Claimed:
    """What one set-based batch claimed and tombstoned. The ids stay in PostgreSQL's array text
    (``{id,id,…}``), as the probe of the dependent tables takes them back; they are parsed only
    when Python needs them (dependent rows to delete, a derived-object provider, a rollback)."""

    count: int
    ids_text: str
    keys: list[str]  # the rows' storage keys and their calls' leftover uploads, the non-empty ones
    last_due: datetime | None

    @cached_property
    def ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(i) for i in self.ids_text.strip("{}").split(",")] if self.count else []


def _claim_and_tombstone(
    connection: Any,
    *,
    now: datetime,
    batch_size: int,
    skip: Sequence[uuid.UUID],
    after: datetime | None,
) -> _Claimed:
    """Run :func:`claim_and_tombstone_sql`.

    A call whose row version moved between the statement's snapshot and its scrub (a concurrent
    update of that call) is not matched by its old ``ctid``; then fewer calls were scrubbed than
    the claimed rows have, and the batch's calls are scrubbed again here by id, in the same
    transaction, so every claimed recording's call loses its numbers either way.
    """
    sql, params = claim_and_tombstone_sql(connection, now=now, batch_size=batch_size, skip=skip, after=after)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count, ids_text, keys, uploads, calls, scrubbed, last_due = cursor.fetchone()
    claimed = _Claimed(count, ids_text or "{}", [*(keys or ()), *(uploads or ())], last_due)
    if scrubbed < calls:
        of_batch = Recording.objects.unscoped().filter(_in_ids("id", claimed.ids)).values("call_id")
        Call.objects.unscoped().filter(id__in=of_batch).update(**_call_scrub(now))
    return claimed


def _call_scrub(now: datetime) -> dict[str, Any]:
    """What a deleted recording's call keeps: no numbers, no upload, state ``deleted``."""
    return {
        "state": Call.State.DELETED,
        "local_number": "",
        "remote_number": "",
        "upload_key": "",
        "updated_at": now,
    }


def claim_and_tombstone_sql(
    connection: Any,
    *,
    now: datetime,
    batch_size: int,
    skip: Sequence[uuid.UUID] = (),
    after: datetime | None = None,
) -> tuple[str, list[Any]]:
    """PostgreSQL, one statement per batch: claim the due rows (``FOR UPDATE SKIP LOCKED`` in due
    order through ``rec_live_expiry``, from ``after`` on if given), read their calls (with any
    leftover upload), tombstone the rows, scrub the calls, and return one row
    (:class:`_Claimed`, from the rows as they were: every CTE reads the statement's one
    snapshot): how many, their ids as array text, their storage keys and leftover uploads, how
    many of them have a call and how many calls were scrubbed, and the latest due time. One row,
    not one per recording: the sweep's Python side then costs next to nothing per row. The
    dependent rows are asked for by the caller after the statement (:func:`_relations_with_rows`),
    in a newer snapshot: one committed between this statement's snapshot and its lock would be
    missed here.

    The claim locks the recordings alone; the calls are then read by one index scan over the
    batch's call ids (``id = ANY(…)``). Joined inside the locking query, as before, they cost a
    nested-loop lookup per row and a copy of each call row kept for the lock's recheck: the
    sweep ran about 8 % faster without (bench/README.md, "Expiry sweep"). The tombstone and the
    scrub find their rows by the ``ctid`` read (a TID scan), not by a second index lookup per
    row: the recording cannot move, as the claim locks it; a call that was updated meanwhile is
    not matched and :func:`_claim_and_tombstone` scrubs it by id.

    Nothing of it is committed until the caller has deleted the storage objects; if one of them
    stays, the caller rolls the whole batch back. Raw SQL (a dangerous construct per
    CONTRIBUTING): cross-tenant maintenance of due rows; table names and the tombstone's columns
    come from the models' metadata, quoted, and every value is a bound parameter.
    """
    qn = connection.ops.quote_name
    rec, call = qn(Recording._meta.db_table), qn(Call._meta.db_table)
    tombstone, tomb_params = _tombstone_sql(connection)
    since, since_params = ("AND r.expires_at >= %s ", [after]) if after is not None else ("", [])
    sql = (
        "WITH claimed AS MATERIALIZED (SELECT r.ctid AS tid, r.id, r.storage_key, r.call_id, "  # noqa: S608 (names from _meta)
        f"r.expires_at FROM {rec} r "
        f"WHERE r.deleted_at IS NULL AND r.expires_at IS NOT NULL AND r.expires_at <= %s {since}"
        "AND NOT (r.id = ANY(%s)) ORDER BY r.expires_at LIMIT %s FOR UPDATE OF r SKIP LOCKED), "
        f"calls_of AS MATERIALIZED (SELECT c.ctid AS tid, c.id, c.upload_key FROM {call} c "
        "WHERE c.id = ANY(ARRAY(SELECT call_id FROM claimed WHERE call_id IS NOT NULL))), "
        f"tomb AS (UPDATE {rec} r SET {tombstone}, deleted_at = %s FROM claimed "
        "WHERE r.ctid = claimed.tid AND r.deleted_at IS NULL "
        "RETURNING claimed.id, claimed.storage_key, claimed.call_id, claimed.expires_at), "
        f"scrub AS (UPDATE {call} c SET state = %s, local_number = '', remote_number = '', "
        "upload_key = '', updated_at = %s FROM calls_of WHERE c.ctid = calls_of.tid AND c.id = calls_of.id "
        "RETURNING c.id) "
        "SELECT count(*), array_agg(tomb.id)::text, "
        "array_agg(tomb.storage_key) FILTER (WHERE tomb.storage_key <> ''), "
        "(SELECT array_agg(upload_key) FILTER (WHERE upload_key <> '') FROM calls_of), "
        "count(tomb.call_id), (SELECT count(*) FROM scrub), max(tomb.expires_at) FROM tomb"
    )
    params = [now, *since_params, list(skip), batch_size, *tomb_params, now, Call.State.DELETED.value, now]
    return sql, params


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
    return total


@dataclass
class SweepResult:
    rows: int = 0
    objects: int = 0
    batches: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)


def sweep_expired(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    storage: Storage | None = None,
    workers: int | None = None,
) -> SweepResult:
    """Delete every live recording whose ``expires_at`` has passed, across tenants, in batches.

    Each batch claims its rows with ``SELECT … FOR UPDATE SKIP LOCKED`` in due order (the partial
    index ``rec_live_expiry``), deletes their objects, then tombstones them and commits: two sweeps
    at once take disjoint batches, and a sweep that dies loses at most its open batch, which the
    next one redoes. A recording whose object could not be deleted stays live for the next run.
    On PostgreSQL a batch is one set-based statement (claim, tombstone, call scrubbed) followed by
    the object deletes and the commit (:func:`_sweep_batch_set_based`), and the commit does not
    wait for its WAL flush (:func:`_relaxed_commit`); elsewhere the claim and the updates are
    separate statements.

    ``workers`` (default ``settings.EXPIRY_SWEEP_WORKERS``): on PostgreSQL the sweep runs that
    many batch loops at once, each in its own thread with its own database connection; SKIP LOCKED
    gives them disjoint batches, exactly as for two sweeps started at once, and they share the
    list of rows whose objects stayed. One loop keeps one server core busy and waits on storage
    in between; several use the database server's cores and overlap the storage round trips.
    It stays one loop on SQLite (one writer at a time) and when called inside a transaction (the
    other connections could not see its uncommitted rows). ``max_batches`` caps all loops
    together.

    ``batch_size`` (default ``settings.EXPIRY_SWEEP_BATCH``): rows per batch. Each batch's claim
    starts at the latest due time this sweep has claimed so far (:meth:`_SweepState.after`), not
    at the start of the index: the entries of the rows it already tombstoned stay in the index
    until a vacuum removes them, and walking them again for every batch cost a growing share of
    each claim. A row skipped because another transaction held it locked then (a keep being
    decided, say) waits for the next sweep. Measured in bench/README.md ("Expiry sweep").
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.EXPIRY_SWEEP_BATCH
    connection = connections[router.db_for_write(Recording)]
    if workers is None:
        workers = settings.EXPIRY_SWEEP_WORKERS
    if workers <= 1 or not _postgres(connection) or connection.in_atomic_block:
        result = _SweepState(max_batches)
        _sweep_loop(connection.alias, state=result, now=now, batch_size=batch_size, storage=storage)
        return result.done()
    state = _SweepState(max_batches)
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            _sweep_loop(connection.alias, state=state, now=now, batch_size=batch_size, storage=storage)
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)
        finally:
            connections[connection.alias].close()  # this thread's own connection

    threads = [threading.Thread(target=loop, name=f"expiry-sweep-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return state.done()


class _SweepState(SweepResult):
    """A :class:`SweepResult` the loops of one sweep add to at once (behind a lock), with the
    budget of batches they share."""

    def __init__(self, max_batches: int | None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._budget = max_batches
        self._after: datetime | None = None

    def take_batch(self) -> bool:
        """Whether another batch may start (and if so, count it against ``max_batches``)."""
        with self._lock:
            if self._budget is None:
                return True
            if self._budget <= 0:
                return False
            self._budget -= 1
            return True

    def skip(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self.failed)

    def add(self, part: DeletionResult) -> None:
        with self._lock:
            _add(self, part)
            if part.last_due is not None and (self._after is None or part.last_due > self._after):
                self._after = part.last_due

    def after(self) -> datetime | None:
        """Where the next batch's claim starts in due order: the latest due time any loop has
        claimed so far. Every live due row before it was claimed by a batch (each claim takes the
        first unlocked rows from where it starts, and every start is such a point), except rows
        another transaction held locked then and rows whose objects stayed: those wait for the
        next sweep, which starts from the beginning. Without it, every claim would walk the
        index entries of all the rows this sweep already tombstoned (dead until a vacuum removes
        them) and the other loops' locked rows."""
        with self._lock:
            return self._after

    def done(self) -> SweepResult:
        result = SweepResult(rows=self.rows, objects=self.objects, batches=self.batches, failed=self.failed)
        if result.rows:
            log.info("expiry sweep: %d recordings, %d objects deleted", result.rows, result.objects)
        return result


def _sweep_loop(
    alias: str, *, state: _SweepState, now: datetime, batch_size: int, storage: Storage | None
) -> None:
    """One loop of :func:`sweep_expired`: batches until nothing is due (or the budget is spent)."""
    connection = connections[alias]
    while state.take_batch():
        after = state.after()
        if _postgres(connection):
            part = _sweep_batch_set_based(
                connection, now=now, batch_size=batch_size, skip=state.skip(), after=after, storage=storage
            )
            if part is None:
                return
            state.add(part)
            continue
        with transaction.atomic(using=alias):
            due = (
                # Cross-tenant maintenance: the sweep deletes what is due for every customer.
                Recording.objects.unscoped()
                .select_for_update(skip_locked=True, of=("self",))  # the call is joined, not locked
                .filter(deleted_at__isnull=True, expires_at__isnull=False, expires_at__lte=now)
                .order_by("expires_at")
            )
            skip = state.skip()
            if skip:
                due = due.exclude(id__in=skip)
            if after is not None:
                due = due.filter(expires_at__gte=after)
            claimed = list(due.values_list(*_CLAIMED, "expires_at")[:batch_size])
            if not claimed:
                return
            part = _delete_rows([row[:4] for row in claimed], reason=None, now=now, storage=storage)
            part.last_due = max(row[4] for row in claimed)
        state.add(part)


def _add(result: SweepResult, part: DeletionResult) -> None:
    result.batches += 1
    result.rows += part.rows
    result.objects += part.objects
    # Once each: between a batch's rollback and its row-by-row redo, another loop may claim the
    # same stuck row and fail on it too.
    result.failed += [rid for rid in part.failed if rid not in result.failed]


def _sweep_batch_set_based(
    connection: Any,
    *,
    now: datetime,
    batch_size: int,
    skip: Sequence[uuid.UUID],
    after: datetime | None,
    storage: Storage | None,
) -> DeletionResult | None:
    """One batch of :func:`sweep_expired` on PostgreSQL; None when nothing is due.

    In one transaction: one statement claims, tombstones and scrubs (:func:`_claim_and_tombstone`);
    the derived objects and rows go; the storage objects are deleted; then the commit. The
    tombstones are thus written before the objects are deleted but committed only after, so, as
    with :func:`_delete_rows`, no tombstone is committed while its object exists (a kill before
    the commit rolls the batch back: the rows are live and due again, their objects maybe gone).
    If an object could not be deleted, the batch is rolled back and done again the row-by-row way
    (:func:`_delete_rows`), which keeps the rows whose objects stay live and deletes the others.
    """
    claimed = _Claimed(0, "{}", [], None)
    part = DeletionResult()
    try:
        with transaction.atomic(using=connection.alias):
            _relaxed_commit(connection)
            claimed = _claim_and_tombstone(connection, now=now, batch_size=batch_size, skip=skip, after=after)
            if not claimed.count:
                return None
            extra = [key for provider in _derived_object_providers for key in provider(claimed.ids)]
            for rel in _relations_with_rows(claimed.ids_text):
                _all_rows(rel.related_model).filter(_in_ids(rel.field.attname, claimed.ids)).delete()
            keys = claimed.keys + extra
            if delete_storage_objects(keys, storage=storage):
                raise _ObjectsStayed
            part.rows, part.objects = claimed.count, len(set(keys))
    except _ObjectsStayed:
        with transaction.atomic(using=connection.alias):
            _relaxed_commit(connection)
            rows = list(
                Recording.objects.unscoped()
                .select_for_update(skip_locked=True, of=("self",))
                .filter(_in_ids("id", claimed.ids), deleted_at__isnull=True)
                .values_list(*_CLAIMED)
            )
            part = _delete_rows(rows, reason=None, now=now, storage=storage)
    part.last_due = claimed.last_due
    return part


# --- deciding ---------------------------------------------------------------------------------


def _check_decider(recording: Recording, acting_user: User) -> None:
    if recording.kind != Kind.PLAYBACK:
        raise ValidationError(_("Only Playback recordings are kept or deleted by their user."))
    if recording.owner_id is not None and recording.owner_id != acting_user.pk:
        raise PermissionDenied(_("Only the person who made this call can keep or delete it."))


def _gone_message(recording: Recording) -> str:
    when = timezone.localtime(recording.deleted_at).strftime("%Y-%m-%d %H:%M") if recording.deleted_at else ""
    return _("This recording was already deleted (%(when)s).") % {"when": when}


def _lock_live(recording: Recording, now: datetime) -> Recording:
    rec = Recording.objects.select_for_update().get(pk=recording.pk)
    if rec.deleted_at is not None:
        raise RecordingGone(rec, _gone_message(rec))
    return rec


def _answer_prompts(recording: Recording, answer: str, now: datetime) -> None:
    from notifications.models import PushPrompt

    PushPrompt.objects.filter(recording=recording, kind=PushPrompt.Kind.KEEP_OR_DELETE).exclude(
        status=PushPrompt.Status.ANSWERED
    ).update(status=PushPrompt.Status.ANSWERED, answer=answer, answered_at=now)


def _saved_usage_ms(user_id: uuid.UUID, *, exclude: uuid.UUID | None = None) -> int:
    qs = Recording.objects.filter(
        owner_id=user_id, kind=Kind.PLAYBACK, saved=True, deleted_at__isnull=True, expires_at__isnull=True
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return int(qs.aggregate(total=Sum("duration_ms"))["total"] or 0)


@dataclass
class _QuotaOutcome:
    evicted: list[uuid.UUID] = field(default_factory=list)
    warn: bool = False
    used_ms: int = 0


def _enforce_quota(
    user_id: uuid.UUID, *, now: datetime, before_ms: int, protect: uuid.UUID | None
) -> _QuotaOutcome:
    """Mark the oldest saved playbacks due now until the user's saved total fits the quota.
    ``before_ms``: the total before this change, for the 90 % warning (once per crossing)."""
    outcome = _QuotaOutcome(used_ms=_saved_usage_ms(user_id))
    if outcome.used_ms > QUOTA_MS:
        oldest = (
            Recording.objects.filter(
                owner_id=user_id,
                kind=Kind.PLAYBACK,
                saved=True,
                deleted_at__isnull=True,
                expires_at__isnull=True,
            )
            .exclude(pk=protect)
            .order_by("started_at", "id")
            .values_list("id", "duration_ms")
        )
        for rec_id, duration in oldest.iterator(chunk_size=500):
            if outcome.used_ms <= QUOTA_MS:
                break
            outcome.evicted.append(rec_id)
            outcome.used_ms -= duration
        Recording.objects.filter(id__in=outcome.evicted).update(expires_at=now, expiry_rule=ExpiryRule.QUOTA)
    threshold = QUOTA_MS * QUOTA_WARNING_FRACTION
    outcome.warn = before_ms < threshold <= outcome.used_ms
    return outcome


def _tier_of(user_id: uuid.UUID | None, *, lock: bool = False) -> str | None:
    qs = PlaybackSubscription.objects.filter(user_id=user_id)
    if lock:
        qs = qs.select_for_update()
    return qs.values_list("tier", flat=True).first()


def _save(rec: Recording, *, tier: str, now: datetime) -> _QuotaOutcome:
    """Make ``rec`` (locked, live, unsaved playback) saved under ``tier``."""
    before = _saved_usage_ms(rec.owner_id) if tier == PlaybackTier.MINUTES_100K else 0  # type: ignore[arg-type]
    rec.saved = True
    rec.saved_at = now
    if tier == PlaybackTier.MINUTES_100K:
        if rec.duration_ms > QUOTA_MS:
            raise ValidationError(_("This recording alone is longer than the 100,000-minute quota."))
        rec.expires_at, rec.expiry_rule = None, ""
    else:
        rec.expires_at = rec.ended_at + timedelta(days=TIER_DAYS[tier])  # type: ignore[index]
        rec.expiry_rule = tier
    rec.save(update_fields=["saved", "saved_at", "expires_at", "expiry_rule"])
    if tier != PlaybackTier.MINUTES_100K:
        return _QuotaOutcome()
    return _enforce_quota(rec.owner_id, now=now, before_ms=before, protect=rec.pk)  # type: ignore[arg-type]


def _after_quota(user: User, outcome: _QuotaOutcome, now: datetime) -> None:
    """Outside the transaction: delete evicted recordings now and warn at 90 %."""
    if outcome.evicted:
        delete_recording_objects(recordings=outcome.evicted, reason=ExpiryRule.QUOTA, now=now)
    if outcome.warn:
        from notifications import services as push

        push.warn_quota(user=user, used_ms=outcome.used_ms, quota_ms=QUOTA_MS)


def keep_recording(*, recording: Recording, acting_user: User, now: datetime | None = None) -> Recording:
    """The user keeps an unsaved playback: it is saved and the subscription's tier applies.

    Idempotent (keeping a saved one changes nothing). Refused with :class:`RecordingGone` when it
    was already deleted or its 3 days have passed; refused for standard recordings, for anybody
    but its owner, and when the user no longer has a Playback subscription.
    """
    now = now or timezone.now()
    _check_decider(recording, acting_user)
    with transaction.atomic(), tenant_scope(recording.tenant_id):
        tier = _tier_of(recording.owner_id, lock=True)  # serialises a user's saves (the quota)
        rec = _lock_live(recording, now)
        if rec.saved:
            _answer_prompts(rec, "keep", now)
            return rec
        if rec.expires_at is not None and rec.expires_at <= now:
            raise RecordingGone(rec, _("The time to keep this recording has passed; it is being deleted."))
        if tier is None:
            raise ValidationError(
                _("You no longer have a Playback subscription, so recordings cannot be kept.")
            )
        outcome = _save(rec, tier=tier, now=now)
        _answer_prompts(rec, "keep", now)
    _after_quota(acting_user, outcome, now)
    return rec


def delete_recording(
    *,
    recording: Recording,
    acting_user: User,
    reason: str = DeletionReason.USER_DELETED,
    now: datetime | None = None,
) -> Recording:
    """The user deletes a playback (unsaved or saved): audio and everything derived go at once.

    Deleting an already-deleted recording raises :class:`RecordingGone` saying so.
    """
    now = now or timezone.now()
    _check_decider(recording, acting_user)
    with transaction.atomic(), tenant_scope(recording.tenant_id):
        rec = _lock_live(recording, now)
        upload_key = Call.objects.filter(pk=rec.call_id).values_list("upload_key", flat=True).first()
        result = _delete_rows([(rec.pk, rec.storage_key, rec.call_id, upload_key)], reason=reason, now=now)
    if result.failed:
        raise ValidationError(_("The recording could not be deleted from storage; please try again."))
    with tenant_scope(recording.tenant_id):
        return Recording.objects.get(pk=recording.pk)


def expiry_of(*, kind: str, ended_at: datetime, tenant: Tenant) -> datetime:
    """The due date of a new recording: a standard one ``tenant.retention_days`` after the call
    ended, a playback one (unsaved until the user decides) :data:`DECISION_WINDOW` after it.
    The one place this rule is written; the capture stores it, the hooks below set it again."""
    if kind == Kind.STANDARD:
        return ended_at + timedelta(days=tenant.retention_days)
    return ended_at + DECISION_WINDOW


# --- hooks for the capture and for product changes --------------------------------------------


def on_recording_ready(recording: Recording, *, now: datetime | None = None) -> Recording:
    """Call when a recording row is complete (its audio stored): sets its expiry, and for a
    playback applies the contact rules and asks the user. Outside a transaction, or at its end."""
    if recording.kind == Kind.PLAYBACK:
        return on_playback_ready(recording, now=now)
    with transaction.atomic(), tenant_scope(recording.tenant_id):
        due = expiry_of(kind=recording.kind, ended_at=recording.ended_at, tenant=recording.tenant)
        Recording.objects.filter(pk=recording.pk).update(expires_at=due, expiry_rule=ExpiryRule.RETENTION)
        recording.refresh_from_db()
    return recording


def on_playback_ready(recording: Recording, *, now: datetime | None = None) -> Recording:
    """A playback recording is ready. Blacklisted number: deleted at once. Whitelisted: saved
    at once. Otherwise: unsaved, due 3 days after the call ended, and a prompt is sent."""
    now = now or timezone.now()
    owner = recording.owner
    if owner is not None and rules.is_blacklisted(owner, recording.remote_number):
        delete_recording_objects(recordings=[recording], reason=DeletionReason.BLACKLISTED, now=now)
        recording.refresh_from_db()
        return recording
    outcome = _QuotaOutcome()
    with transaction.atomic(), tenant_scope(recording.tenant_id):
        tier = _tier_of(recording.owner_id, lock=True)
        rec = Recording.objects.select_for_update().get(pk=recording.pk)
        if rec.deleted_at is not None or rec.saved or rec.expiry_rule:
            return rec  # already handled (a repeated hook)
        if owner is not None and tier is not None and rules.is_whitelisted(owner, rec.remote_number):
            outcome = _save(rec, tier=tier, now=now)
        else:
            rec.saved = False
            rec.expires_at = expiry_of(kind=rec.kind, ended_at=rec.ended_at, tenant=rec.tenant)
            rec.expiry_rule = ExpiryRule.UNANSWERED
            rec.save(update_fields=["saved", "expires_at", "expiry_rule"])
            if owner is not None:
                from notifications import services as push

                push.prompt_keep_or_delete(recording=rec, ready_at=now)
    if owner is not None:
        _after_quota(owner, outcome, now)
    return rec


def on_tier_changed(*, user: User, previous: str | None, tier: str, now: datetime | None = None) -> None:
    """Re-compute the expiry of the user's saved playbacks for the new tier (inside the caller's
    transaction and tenant scope). Newly due ones go with the next sweep, which is sent at once."""
    now = now or timezone.now()
    saved = Recording.objects.filter(owner=user, kind=Kind.PLAYBACK, saved=True, deleted_at__isnull=True)
    if tier in TIER_DAYS:
        saved.update(expires_at=F("ended_at") + timedelta(days=TIER_DAYS[tier]), expiry_rule=tier)
        return
    before = _saved_usage_ms(user.pk) if previous == PlaybackTier.MINUTES_100K else 0
    saved.update(expires_at=None, expiry_rule="")
    outcome = _enforce_quota(user.pk, now=now, before_ms=before, protect=None)
    if outcome.evicted:
        from recordings.lifecycle_tasks import sweep_expired_task

        enqueue(sweep_expired_task)
    if outcome.warn:
        from notifications import services as push

        transaction.on_commit(lambda: push.warn_quota(user=user, used_ms=outcome.used_ms, quota_ms=QUOTA_MS))


def on_subscription_removed(*, user: User, now: datetime | None = None) -> int:
    """The user's Playback subscription was removed (inside the caller's transaction and tenant
    scope): every saved playback is due at ``now`` + 30 days at the latest. Those without a due
    date (``minutes_100k``) or with a later one get exactly that (rule ``unsubscribed``); sooner
    due dates stay; unsaved ones keep their 3 days. Returns how many got the new due date."""
    now = now or timezone.now()
    cap = now + UNSUBSCRIBED_GRACE
    return Recording.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=cap),
        owner=user,
        kind=Kind.PLAYBACK,
        saved=True,
        deleted_at__isnull=True,
    ).update(expires_at=cap, expiry_rule=ExpiryRule.UNSUBSCRIBED)


def on_retention_changed(*, tenant: Tenant) -> int:
    """The customer changed its retention period: re-compute the standard recordings' expiry."""
    with tenant_scope(tenant):
        return Recording.objects.filter(kind=Kind.STANDARD, deleted_at__isnull=True).update(
            expires_at=F("ended_at") + timedelta(days=tenant.retention_days), expiry_rule=ExpiryRule.RETENTION
        )
