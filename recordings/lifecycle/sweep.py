"""The expiry sweep: every recording past its due time is deleted, across tenants, in batches.

On PostgreSQL a batch is one set-based statement (claim with ``SKIP LOCKED``, tombstone, scrub the
call) followed by the storage deletes and a commit that does not wait for its WAL flush, and the
sweep can run several batch loops at once, each in its own thread and connection; elsewhere
(SQLite) one loop claims and deletes through :mod:`recordings.lifecycle.deletion`. Why each of
these choices was measured: the current figure is in bench/README.md, the runs behind each
choice in its git history.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, cast

from django.conf import settings
from django.core.files.storage import Storage
from django.db import connections, models, router, transaction
from django.utils import timezone

from recordings import live, usage
from recordings.lifecycle.deletion import (
    _CLAIMED,
    _TOMBSTONE,
    DeletionResult,
    _all_rows,
    _call_scrub,
    _delete_rows,
    _in_ids,
    _relations_with_rows,
    delete_storage_objects,
)
from recordings.lifecycle.expiry import ExpiryRule
from recordings.models import Call, Kind, Recording

log = logging.getLogger(__name__)


def _postgres(connection: Any) -> bool:
    return bool(connection.vendor == "postgresql")


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
        field_ = cast("models.Field[Any, Any]", Recording._meta.get_field(name))  # concrete columns
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
    removed: list[tuple[uuid.UUID, str, int, int]]  # for usage.recordings_removed

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
        count, ids_text, keys, uploads, calls, scrubbed, last_due, owners, standard, by_kind = (
            cursor.fetchone()
        )
    removed = [(uuid.UUID(t), k, int(n), int(ms)) for t, k, n, ms in by_kind or ()]  # json: parsed
    claimed = _Claimed(count, ids_text or "{}", [*(keys or ()), *(uploads or ())], last_due, removed)
    # Whose lists lose these rows (the live lists' versions), bumped in this transaction.
    standard_owners = set(standard or ())
    live.owners_changed(
        (owner, Kind.STANDARD if owner in standard_owners else Kind.PLAYBACK) for owner in owners or ()
    )
    if scrubbed < calls:
        of_batch = Recording.objects.unscoped().filter(_in_ids("id", claimed.ids)).values("call_id")
        Call.objects.unscoped().filter(id__in=of_batch).update(**_call_scrub(now))
    return claimed


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
    many of them have a call and how many calls were scrubbed, the latest due time, the owners
    (all, and those of standard rows: whose live lists to move), and the count and milliseconds
    per tenant and kind (the overview's summary, :mod:`recordings.usage`). One row,
    not one per recording: the sweep's Python side then costs next to nothing per row. The
    dependent rows are asked for by the caller after the statement (:func:`_relations_with_rows`),
    in a newer snapshot: one committed between this statement's snapshot and its lock would be
    missed here.

    The claim locks the recordings alone; the calls are then read by one index scan over the
    batch's call ids (``id = ANY(…)``). Joined inside the locking query, as before, they cost a
    nested-loop lookup per row and a copy of each call row kept for the lock's recheck: the
    sweep ran about 8 % faster without (the history of bench/README.md). The tombstone and the
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
        f"r.expires_at, r.tenant_id, r.owner_id, r.kind, r.duration_ms FROM {rec} r "
        f"WHERE r.deleted_at IS NULL AND r.expires_at IS NOT NULL AND r.expires_at <= %s {since}"
        "AND NOT (r.id = ANY(%s)) ORDER BY r.expires_at LIMIT %s FOR UPDATE OF r SKIP LOCKED), "
        f"calls_of AS MATERIALIZED (SELECT c.ctid AS tid, c.id, c.upload_key FROM {call} c "
        "WHERE c.id = ANY(ARRAY(SELECT call_id FROM claimed WHERE call_id IS NOT NULL))), "
        f"tomb AS (UPDATE {rec} r SET {tombstone}, deleted_at = %s FROM claimed "
        "WHERE r.ctid = claimed.tid AND r.deleted_at IS NULL "
        "RETURNING claimed.id, claimed.storage_key, claimed.call_id, claimed.expires_at, "
        "claimed.tenant_id, claimed.owner_id, claimed.kind, claimed.duration_ms), "
        f"scrub AS (UPDATE {call} c SET state = %s, local_number = '', remote_number = '', "
        "upload_key = '', updated_at = %s FROM calls_of WHERE c.ctid = calls_of.tid AND c.id = calls_of.id "
        "RETURNING c.id) "
        "SELECT count(*), array_agg(tomb.id)::text, "
        "array_agg(tomb.storage_key) FILTER (WHERE tomb.storage_key <> ''), "
        "(SELECT array_agg(upload_key) FILTER (WHERE upload_key <> '') FROM calls_of), "
        "count(tomb.call_id), (SELECT count(*) FROM scrub), max(tomb.expires_at), "
        "array_agg(DISTINCT tomb.owner_id) FILTER (WHERE tomb.owner_id IS NOT NULL), "
        "array_agg(DISTINCT tomb.owner_id) FILTER (WHERE tomb.owner_id IS NOT NULL AND tomb.kind = %s), "
        "(SELECT json_agg(json_build_array(t, k, n, ms)) FROM (SELECT tenant_id AS t, kind AS k, "
        "count(*) AS n, sum(duration_ms) AS ms FROM tomb GROUP BY 1, 2) AS by_kind) FROM tomb"
    )
    params = [
        now, *since_params, list(skip), batch_size, *tomb_params, now, Call.State.DELETED.value, now,
        Kind.STANDARD.value,
    ]  # fmt: skip
    return sql, params


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
    decided, say) waits for the next sweep. Measured: the history of bench/README.md.
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
    claimed = _Claimed(0, "{}", [], None, [])
    part = DeletionResult()
    try:
        with transaction.atomic(using=connection.alias):
            _relaxed_commit(connection)
            claimed = _claim_and_tombstone(connection, now=now, batch_size=batch_size, skip=skip, after=after)
            if not claimed.count:
                return None
            for rel in _relations_with_rows(claimed.ids_text):
                _all_rows(rel.related_model).filter(_in_ids(rel.field.attname, claimed.ids)).delete()
            keys = claimed.keys
            if delete_storage_objects(keys, storage=storage):
                raise _ObjectsStayed
            # Last before the commit: the tenants' counter rows stay locked only that long, so
            # the sweep's loops running at once do not queue on them.
            usage.recordings_removed(claimed.removed)
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
