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
