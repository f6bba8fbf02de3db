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
