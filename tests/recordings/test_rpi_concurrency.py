"""Concurrent replays on PostgreSQL: the same start or upload sent at once applies once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from recordings import capture
from recordings.models import Call
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import stored_keys, wav_bytes

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]


def at_once(n: int, tenant: Any, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            with tenant_scope(tenant):
                barrier.wait()
                results[i] = work(i)
        except capture.RpiError as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def start_body(personas: Personas, call_id: str) -> dict[str, Any]:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return {
        "call_id": call_id,
        "user": personas.users["always"].pbx_id,
        "direction": "inbound",
        "local_number": "+31201234567",
        "remote_number": "+31612345678",
        "leg": "fixed",
        "started_at": started.isoformat(),
    }


def test_the_same_start_at_once_makes_one_call(personas: Personas) -> None:
    body = start_body(personas, "race-1")
    results = at_once(6, personas.tenant_a, lambda i: capture.start_call(tenant=personas.tenant_a, data=body))
    assert Counter(r.status for r in results) == {201: 1, 200: 5}
    assert len({str(r.body) for r in results}) == 1
    with tenant_scope(personas.tenant_a):
        assert Call.objects.filter(pbx_call_id="race-1").count() == 1


def test_uploads_at_once_store_one(personas: Personas) -> None:
    body = start_body(personas, "race-2")
    with tenant_scope(personas.tenant_a):
        capture.start_call(tenant=personas.tenant_a, data=body)
    same = wav_bytes(2.0)
    other = wav_bytes(3.0)

    def upload(i: int) -> Any:
        import io

        data = same if i < 3 else other
        spooled = capture.spool(io.BytesIO(data).read, limit=10**8)
        with spooled.file:
            return capture.store_upload(call_id="race-2", content_type="audio/wav", offset_ms=0, body=spooled)

    results = at_once(4, personas.tenant_a, upload)
    statuses = Counter(r.status for r in results)
    assert statuses[201] == 1
    assert statuses[201] + statuses[200] + statuses[409] == 4
    with tenant_scope(personas.tenant_a):
        call = Call.objects.get(pbx_call_id="race-2")
    assert stored_keys(f"tenants/{personas.tenant_a.id}") == [call.upload_key]
