"""Two expiry sweeps at once (PostgreSQL: FOR UPDATE SKIP LOCKED) share the work, each row once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from recordings import lifecycle
from recordings.lifecycle import SweepResult
from recordings.models import Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import make_recording, object_exists


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_delete_each_recording_once(personas: Personas) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    user = personas.playback["days_30"]
    ended = timezone.now() - timedelta(days=4)
    recs = [make_recording(user, ended_at=ended) for _ in range(60)]
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk__in=[r.pk for r in recs]).update(
            expires_at=ended + timedelta(days=3), expiry_rule="unanswered"
        )
    results: list[SweepResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(lifecycle.sweep_expired(batch_size=5))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.rows for r in results) == 60
    assert sum(r.objects for r in results) == 60
    with tenant_scope(personas.tenant_a):
        assert not Recording.objects.filter(deleted_at__isnull=True).exists()
    assert not any(object_exists(r.storage_key) for r in recs)


def _due_recordings(personas: Personas, n: int) -> list[Recording]:
    user = personas.playback["days_30"]
    ended = timezone.now() - timedelta(days=4)
    recs = [make_recording(user, ended_at=ended) for _ in range(n)]
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk__in=[r.pk for r in recs]).update(
            expires_at=ended + timedelta(days=3), expiry_rule="unanswered"
        )
    return recs


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_one_sweep_with_several_workers_deletes_each_recording_once(personas: Personas) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the sweep's workers need PostgreSQL (SKIP LOCKED)")
    recs = _due_recordings(personas, 45)
    seen: set[str] = set()

    def note_thread(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.add(threading.current_thread().name)
        return execute(sql, params, many, context)

    # Every worker has its own connection: wrap each new one as it is made.
    from django.db.backends.signals import connection_created

    def wrap(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
        connection.execute_wrappers.append(note_thread)

    connection_created.connect(wrap)
    try:
        result = lifecycle.sweep_expired(batch_size=4, workers=3)
    finally:
        connection_created.disconnect(wrap)
    assert (result.rows, result.objects, result.failed) == (45, 45, [])
    assert result.batches >= 12  # 45 rows in batches of 4, among three loops
    assert {name for name in seen if name.startswith("expiry-sweep-")} == {
        "expiry-sweep-0",
        "expiry-sweep-1",
        "expiry-sweep-2",
    }
    with tenant_scope(personas.tenant_a):
        assert not Recording.objects.filter(deleted_at__isnull=True).exists()
        reasons = set(Recording.objects.values_list("deletion_reason", flat=True))
    assert reasons == {"unanswered"}
    assert not any(object_exists(r.storage_key) for r in recs)
    assert lifecycle.sweep_expired(workers=3).rows == 0


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_the_workers_share_the_batch_budget(personas: Personas) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the sweep's workers need PostgreSQL (SKIP LOCKED)")
    _due_recordings(personas, 20)
    first = lifecycle.sweep_expired(batch_size=2, max_batches=3, workers=2)
    assert (first.batches, first.rows) == (3, 6)
    rest = lifecycle.sweep_expired(batch_size=2, workers=2)
    assert rest.rows == 14
    with tenant_scope(personas.tenant_a):
        assert not Recording.objects.filter(deleted_at__isnull=True).exists()


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_the_workers_leave_a_recording_whose_object_stays_and_finish(
    personas: Personas, settings, tmp_path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the sweep's workers need PostgreSQL (SKIP LOCKED)")
    from pathlib import Path

    from django.core.files.storage import storages

    from tests.lifecycle_factory import use_file_storage

    use_file_storage(settings, tmp_path)
    recs = _due_recordings(personas, 9)
    stuck = recs[4]
    # A directory where the object should be: unlinking it fails (a real storage error).
    folder = Path(storages["recordings"].path(f"{stuck.tenant_id}/stuck"))
    folder.mkdir(parents=True)
    (folder / "x").write_bytes(b"x")
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk=stuck.pk).update(storage_key=f"{stuck.tenant_id}/stuck")
    result = lifecycle.sweep_expired(batch_size=2, workers=3)
    assert (result.rows, result.failed) == (8, [stuck.pk])
    with tenant_scope(personas.tenant_a):
        live = list(Recording.objects.filter(deleted_at__isnull=True).values_list("pk", "remote_number"))
    assert live == [(stuck.pk, stuck.remote_number)]  # whole: its batch was rolled back, not half-done


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_call_updated_while_the_sweep_scrubs_it_is_still_scrubbed(personas: Personas) -> None:
    """The batch statement finds calls by the ``ctid`` its snapshot read; a call updated by
    another transaction meanwhile must lose its numbers all the same."""
    if connection.vendor != "postgresql":
        pytest.skip("the set-based batch is PostgreSQL's")
    import time

    from django.db import transaction
    from django.db.models import F

    from recordings.models import Call

    recs = _due_recordings(personas, 3)
    target = recs[1]
    with tenant_scope(personas.tenant_a):
        attempts = Call.objects.get(pk=target.call_id).processing_attempts
    updated = threading.Event()
    waited: list[bool] = []

    def update_the_call_and_commit_once_the_sweep_waits() -> None:
        try:
            with transaction.atomic():
                Call.objects.unscoped().filter(pk=target.call_id).update(
                    processing_attempts=F("processing_attempts") + 1
                )
                updated.set()
                pid = connection.connection.info.backend_pid
                for _ in range(1000):  # up to ~10 s: until another backend waits for our lock
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                            [pid],
                        )
                        if cursor.fetchone()[0]:
                            waited.append(True)
                            break
                    time.sleep(0.01)
        finally:
            updated.set()
            connection.close()

    other = threading.Thread(target=update_the_call_and_commit_once_the_sweep_waits)
    other.start()
    assert updated.wait(10)
    result = lifecycle.sweep_expired(workers=1)
    other.join()
    assert waited == [True]  # the sweep did meet the concurrent update
    assert result.rows == 3
    with tenant_scope(personas.tenant_a):
        calls = list(Call.objects.filter(pk__in=[r.call_id for r in recs]))
    assert len(calls) == 3
    assert {(c.state, c.local_number, c.remote_number, c.upload_key) for c in calls} == {
        (Call.State.DELETED, "", "", "")
    }
    # The other transaction's change stayed too: the scrub applied to the row as it committed it.
    assert next(c for c in calls if c.pk == target.call_id).processing_attempts == attempts + 1


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_recording_held_by_another_transaction_waits_for_the_next_sweep(personas: Personas) -> None:
    """SKIP LOCKED passes over a row another transaction holds (a keep being decided); the claims
    after it start past it, so it is the next sweep that deletes it, not a later batch."""
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    from django.db import transaction
    from django.db.models import F

    recs = _due_recordings(personas, 9)
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk=recs[0].pk).update(expires_at=F("expires_at") - timedelta(hours=1))
    held, release = threading.Event(), threading.Event()

    def hold_the_earliest() -> None:
        try:
            with transaction.atomic():
                Recording.objects.unscoped().select_for_update().get(pk=recs[0].pk)
                held.set()
                release.wait(30)
        finally:
            held.set()
            connection.close()

    other = threading.Thread(target=hold_the_earliest)
    other.start()
    try:
        assert held.wait(10)
        first = lifecycle.sweep_expired(batch_size=2, workers=2)
    finally:
        release.set()
        other.join()
    assert (first.rows, first.failed) == (8, [])
    with tenant_scope(personas.tenant_a):
        assert list(Recording.objects.filter(deleted_at__isnull=True).values_list("pk", flat=True)) == [
            recs[0].pk
        ]
    assert lifecycle.sweep_expired(batch_size=2, workers=2).rows == 1


def _index_tuples_read(index: str) -> int:
    """Index entries scans of ``index`` have read so far (this backend's counters flushed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = %s", [index])
        return cursor.fetchone()[0]


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_the_sweeps_claims_do_not_walk_what_it_already_deleted(personas: Personas) -> None:
    """The tombstoned rows' entries stay in the due index until a vacuum; a claim that started
    at the index's beginning would read all of them again, batch after batch (n²/batch entries
    for n rows). Each claim starts where the sweep has got to, so the sweep reads each entry
    about once."""
    if connection.vendor != "postgresql":
        pytest.skip("the set-based batch is PostgreSQL's")
    n, batch = 60, 2
    _due_recordings(personas, n)
    with tenant_scope(personas.tenant_a):
        for i, rec in enumerate(Recording.objects.order_by("pk")):  # n distinct due times
            Recording.objects.filter(pk=rec.pk).update(expires_at=rec.expires_at + timedelta(seconds=i))
    # Sixty rows are too few for the planner to prefer the index it uses at scale (after an
    # ANALYZE it may scan and sort the table, and nothing is read from the index at all): the
    # claim's walk is measured on the plan production gets. One loop runs on this connection.
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_sort = off")
    try:
        before = _index_tuples_read("rec_live_expiry")
        result = lifecycle.sweep_expired(batch_size=batch, workers=1)
        read = _index_tuples_read("rec_live_expiry") - before
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")
    assert result.rows == n
    # From the beginning every time: about n * n / batch / 2 = 900 entries read.
    assert n <= read < 3 * n
