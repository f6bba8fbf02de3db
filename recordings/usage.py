"""The console overview's summary tables, kept exact in the transaction of each change.

- :class:`~recordings.models.CallDay`: per tenant and day (``settings.TIME_ZONE``, the day the
  call started) the calls recorded (state ``recorded`` or, since the sweep, ``deleted``),
  discarded and failed. A call counts once it reaches one of these states; the capture moves a
  call there (``capture.calls._settle``, ``capture.processing``) and calls
  :func:`call_moved` in the same transaction. Deletion keeps a call "recorded".
- :class:`~recordings.models.StoredKind`: per tenant and product the live recordings and their
  milliseconds: :func:`recording_added` when the capture makes one, :func:`recordings_removed`
  when rows are tombstoned (``lifecycle.deletion._delete_rows`` and the sweep's set-based batch,
  once per batch, as the batch's last statement so the counter row is locked only until the
  commit).

One rule, one place: which state counts as what is :data:`COUNTED`, and :func:`raw_days` /
:func:`raw_stored` count the same from the rows themselves; :func:`rebuild` sets the summary
from them (the migration for existing data, the benchmark's fill), and the tests compare the
two after a series of calls, discards, failures and deletions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from recordings.models import Call, CallDay, Recording, StoredKind
from tenants.scoping import service_scope

# The overview's column of each state of a call that counts; the other states count nowhere.
COUNTED: dict[str, str] = {
    Call.State.RECORDED: "recorded",
    Call.State.DELETED: "recorded",  # deleted later: it was recorded
    Call.State.DISCARDED: "discarded",
    Call.State.FAILED: "failed",
}
COLUMNS = ("recorded", "discarded", "failed")


def day_of(started_at: dt.datetime) -> dt.date:
    return timezone.localdate(started_at, timezone.get_default_timezone())


def call_moved(call: Call, *, before: str) -> None:
    """``call`` went from state ``before`` to ``call.state``: move it between the day's counts.
    Call inside the transaction that saves the new state."""
    old, new = COUNTED.get(before), COUNTED.get(call.state)
    if old == new:
        return
    _add_to_day(call.tenant_id, day_of(call.started_at), {c: (c == new) - (c == old) for c in COLUMNS})


def _add_to_day(tenant_id: uuid.UUID, day: dt.date, deltas: dict[str, int]) -> None:
    with service_scope(tenant_id):
        rows = CallDay.objects.filter(day=day)
        change = {c: F(c) + d for c, d in deltas.items() if d}
        if rows.update(**change):
            return
        # The day's first counted call. Two at once: one creates the row, the other's savepoint
        # rolls back on the unique constraint and it adds to that row instead.
        try:
            with transaction.atomic():
                CallDay.objects.create(tenant_id=tenant_id, day=day, **deltas)
        except IntegrityError:
            if not rows.update(**change):
                raise


def recording_added(recording: Recording) -> None:
    """A live recording was made (in the transaction that creates it)."""
    _add_stored(recording.tenant_id, recording.kind, 1, recording.duration_ms)


def _add_stored(tenant_id: uuid.UUID, kind: str, count: int, ms: int) -> None:
    with service_scope(tenant_id):
        rows = StoredKind.objects.filter(kind=kind)
        change = {"recordings": F("recordings") + count, "duration_ms": F("duration_ms") + ms}
        if rows.update(**change):
            return
        try:  # the kind's first recording (as in _add_to_day)
            with transaction.atomic():
                StoredKind.objects.create(tenant_id=tenant_id, kind=kind, recordings=count, duration_ms=ms)
        except IntegrityError:
            if not rows.update(**change):
                raise


def recordings_removed(groups: Iterable[tuple[uuid.UUID, str, int, int]]) -> None:
    """Live recordings were tombstoned: ``groups`` is (tenant id, kind, how many, their ms). In
    one order, so that two sweep loops never wait for each other's rows crosswise."""
    for tenant_id, kind, count, ms in sorted(groups, key=lambda g: (str(g[0]), g[1])):
        if count:
            _add_stored(tenant_id, kind, -count, -ms)


def removed_groups(ids: Any) -> list[tuple[uuid.UUID, str, int, int]]:
    """What :func:`recordings_removed` takes, for the live recordings the filter ``ids`` selects (read
    before they are tombstoned, with the rows locked by the caller)."""
    rows = (
        Recording.objects.unscoped()
        .filter(ids, deleted_at__isnull=True)
        .values_list("tenant_id", "kind")
        .annotate(n=Count("pk"), ms=Sum("duration_ms"))
        .order_by()
    )
    return [(t, k, n, int(ms or 0)) for t, k, n, ms in rows]


# --- the same, from the rows ------------------------------------------------------------------


def raw_days(calls: QuerySet[Any]) -> dict[dt.date, tuple[int, int, int]]:
    """Every day's (recorded, discarded, failed) counted from ``calls`` (one tenant's; days with
    none left out)."""
    zone = timezone.get_default_timezone()
    rows = (
        calls.filter(state__in=list(COUNTED))
        .annotate(day=TruncDate("started_at", tzinfo=zone))
        .values("day")
        .annotate(
            **{
                column: Count("pk", filter=Q(state__in=[s for s, c in COUNTED.items() if c == column]))
                for column in COLUMNS
            }
        )
        .order_by()
    )
    return {r["day"]: (r["recorded"], r["discarded"], r["failed"]) for r in rows}


def raw_stored(recordings: QuerySet[Any]) -> dict[str, tuple[int, int]]:
    """Per kind (live recordings, their ms), counted from ``recordings`` (one tenant's)."""
    rows = (
        recordings.filter(deleted_at__isnull=True)
        .values_list("kind")
        .annotate(n=Count("pk"), ms=Sum("duration_ms"))
        .order_by()
    )
    return {k: (n, int(ms or 0)) for k, n, ms in rows}


def summary_days(tenant_id: uuid.UUID) -> dict[dt.date, tuple[int, int, int]]:
    rows = CallDay.objects.unscoped().filter(tenant_id=tenant_id)
    return {
        r.day: (r.recorded, r.discarded, r.failed)
        for r in rows
        if (r.recorded, r.discarded, r.failed) != (0, 0, 0)
    }


def summary_stored(tenant_id: uuid.UUID) -> dict[str, tuple[int, int]]:
    rows = StoredKind.objects.unscoped().filter(tenant_id=tenant_id)
    return {r.kind: (r.recordings, r.duration_ms) for r in rows if (r.recordings, r.duration_ms) != (0, 0)}


def rebuild(tenant_id: uuid.UUID) -> None:
    """Set the tenant's summary from its rows (a repair; the benchmark's fill). Run it where no
    capture of the tenant is under way (a change committed meanwhile could be counted twice or
    not at all), or run it again."""
    with transaction.atomic(), service_scope(tenant_id):
        fill(
            tenant_id,
            calls=Call.objects.all(),
            recordings=Recording.objects.all(),
            call_days=CallDay.objects.all(),
            stored_kinds=StoredKind.objects.all(),
        )


def fill(
    tenant_id: uuid.UUID,
    *,
    calls: QuerySet[Any],
    recordings: QuerySet[Any],
    call_days: QuerySet[Any],
    stored_kinds: QuerySet[Any],
) -> None:
    """:func:`rebuild` on the given tables (the migration passes its historical models')."""
    day_model, kind_model = call_days.model, stored_kinds.model
    call_days.filter(tenant_id=tenant_id).delete()
    call_days.bulk_create(
        [
            day_model(tenant_id=tenant_id, day=day, recorded=r, discarded=d, failed=f)
            for day, (r, d, f) in raw_days(calls.filter(tenant_id=tenant_id)).items()
        ],
        batch_size=1000,
    )
    stored_kinds.filter(tenant_id=tenant_id).delete()
    stored_kinds.bulk_create(
        [
            kind_model(tenant_id=tenant_id, kind=kind, recordings=n, duration_ms=ms)
            for kind, (n, ms) in raw_stored(recordings.filter(tenant_id=tenant_id)).items()
        ]
    )
