"""Issue 19 on the embedded stack: a broker, database or store fault never loses audio or strands
a call. The real-service versions (Redis, PostgreSQL, SeaweedFS stopped and restarted) are in
tests/test_faults.py; these run everywhere and pin each rule down."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import kombu.exceptions
import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from recordings import capture, repair, tasks
from recordings.capture import uploads as capture_uploads
from recordings.models import Call, ProcessingOutbox, Recording, WorkerHeartbeat
from recordings.reconcile import reconcile
from tenants import services
from tenants.scoping import tenant_scope
from tests.base import Personas, login_support
from tests.recordings.rpi_support import Pbx, assert_error, stored_keys, wav_bytes

S = timedelta(seconds=1)


class BrokerDown:
    """``process_call.apply_async`` refuses, as kombu does when Redis is unreachable."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch, self.down, self.sent = monkeypatch, True, []
        monkeypatch.setattr(tasks.process_call, "apply_async", self.apply_async)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        if self.down:
            raise kombu.exceptions.OperationalError("Error 111 connecting to redis: Connection refused.")
        self.sent.append(tuple(args))


def call_of(personas: Personas, call_id: str) -> Call:
    with tenant_scope(personas.tenant_a):
        return Call.objects.get(pbx_call_id=call_id)


def outbox_of(call: Call) -> ProcessingOutbox | None:
    return ProcessingOutbox.objects.unscoped().filter(call_id=call.pk).first()


def reconcile_of(tenant_id: Any) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """reconcile()'s findings under one tenant's prefix (a shared S3 bucket holds other tests')."""
    prefix = f"tenants/{tenant_id}/"
    report = reconcile()
    return (
        [key for key in report.orphan_objects if key.startswith(prefix)],
        [(rec, key) for rec, key in report.missing_objects if key.startswith(prefix)],
        [(call, key) for call, key in report.missing_uploads if key.startswith(prefix)],
    )


def assert_unavailable(response: Any) -> None:
    assert_error(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) > 0


@pytest.fixture
def committing_pbx(personas: Personas) -> Pbx:
    """A phone system whose requests commit for real (their on-commit sends run in the view)."""
    key = services.create_pbx_key(tenant=personas.tenant_a, name="PBX").secret
    return Pbx(Client(), key)


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_upload_keeps_the_audio_and_answers_503(
    committing_pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    pbx = committing_pbx
    broker = BrokerDown(monkeypatch)
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    assert pbx.end(call_id, started.started + 3 * S).status_code == 202  # no audio yet: nothing sent
    response = pbx.audio(call_id, wav_bytes(3.0))
    assert_unavailable(response)

    call = call_of(personas, call_id)
    assert call.state == Call.State.PROCESSING
    assert call.upload_key and capture.recordings_storage().exists(call.upload_key)  # not deleted
    outbox = outbox_of(call)
    assert outbox is not None and outbox.dispatched_at is None  # queued for repair
    # The phone system's retry while the broker is still down: 503 again, nothing changes.
    assert_unavailable(pbx.audio(call_id, wav_bytes(3.0)))
    assert outbox_of(call).dispatched_at is None  # type: ignore[union-attr]
    assert broker.sent == []

    # The broker is back but the phone system gave up: the repair sends the task (a row not
    # sent yet, past the grace).
    broker.down = False
    ProcessingOutbox.objects.unscoped().filter(call_id=call.pk).update(
        created_at=timezone.now() - repair.SEND_GRACE - S
    )
    report = repair.repair_stuck_calls()
    assert report.requeued == [str(call.pk)]
    assert broker.sent == [(str(call.tenant_id), str(call.pk))]
    assert outbox_of(call).dispatched_at is not None  # type: ignore[union-attr]
    # Sent once: a second repair right away sends nothing.
    assert repair.repair_stuck_calls().requeued == []
    assert len(broker.sent) == 1

    assert tasks.process_call.apply(args=broker.sent[0]).get(disable_sync_subtasks=False) == "recorded"
    assert outbox_of(call) is None
    with tenant_scope(personas.tenant_a):
        assert Recording.objects.filter(call=call).count() == 1
    assert reconcile_of(call.tenant_id) == ([], [], [])


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_the_end_answers_503_and_the_retry_is_a_replay(
    committing_pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    pbx = committing_pbx
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    assert pbx.audio(call_id, wav_bytes(3.0)).status_code == 201  # before the end: nothing sent
    broker = BrokerDown(monkeypatch)
    ended = started.started + 3 * S
    assert_unavailable(pbx.end(call_id, ended))
    call = call_of(personas, call_id)
    assert call.state == Call.State.PROCESSING
    assert outbox_of(call) is not None
    assert capture.recordings_storage().exists(call.upload_key)
    assert_unavailable(pbx.end(call_id, ended))  # still down: the retry is refused again
    broker.down = False
    # The retry once the broker is back: the same end (200), and the task is sent now.
    assert pbx.end(call_id, ended).status_code == 200
    assert broker.sent == [(str(call.tenant_id), str(call.pk))]
    assert outbox_of(call).dispatched_at is not None  # type: ignore[union-attr]
    assert pbx.end(call_id, ended).status_code == 200
    assert pbx.audio(call_id, wav_bytes(3.0)).status_code == 200
    assert len(broker.sent) == 1  # sent once, whatever the phone system repeats


@pytest.mark.django_db(transaction=True)
def test_a_refused_upload_row_still_deletes_its_object(
    committing_pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the rule: when the row does not commit, the stored object goes again."""
    pbx = committing_pbx
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]

    def database_gone(call_id: str) -> Call:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(capture_uploads, "_locked_call", database_gone)
    assert_unavailable(pbx.audio(call_id, wav_bytes(3.0)))
    assert stored_keys(f"tenants/{personas.tenant_a.id}/uploads") == []
    assert call_of(personas, call_id).upload_sha256 == ""


@pytest.mark.django_db
def test_a_database_fault_in_a_middleware_is_503_too(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(SessionStore, "load", broken)
    client.cookies["sessionid"] = "x" * 32
    client.raise_request_exception = False
    response = client.get("/api/v1/recordings")
    assert_unavailable(response)
    portal = client.get("/")
    assert portal.status_code == 503 and portal["Retry-After"]
    assert portal["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_a_programming_error_stays_500(pbx: Pbx, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(**kwargs: Any) -> None:
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(capture, "start_call", bug)
    pbx.client.raise_request_exception = False
    assert pbx.start("1").status_code == 500


# --- the repair -------------------------------------------------------------------------------


@pytest.fixture
def stuck(pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> Call:
    """A call in processing whose task was sent long ago and never ran (a killed worker)."""
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.process_call, "apply_async", lambda args=None, **kw: sent.append(tuple(args)))
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + 3 * S)
    assert pbx.audio(call_id, wav_bytes(3.0)).status_code == 201
    assert len(sent) == 1
    call = call_of(personas, call_id)
    long_ago = timezone.now() - timedelta(seconds=3600)
    ProcessingOutbox.objects.unscoped().filter(call_id=call.pk).update(dispatched_at=long_ago)
    call.sent = sent  # type: ignore[attr-defined]
    return call


@pytest.mark.django_db
def test_repair_requeues_a_call_past_its_deadline_once(stuck: Call, settings: Any) -> None:
    ProcessingOutbox.objects.unscoped().filter(call_id=stuck.pk).update(
        dispatched_at=timezone.now() - timedelta(seconds=settings.PROCESSING_DEADLINE_SECONDS - 5)
    )
    assert repair.repair_stuck_calls().requeued == []  # not due yet
    ProcessingOutbox.objects.unscoped().filter(call_id=stuck.pk).update(
        dispatched_at=timezone.now() - timedelta(seconds=settings.PROCESSING_DEADLINE_SECONDS + 5)
    )
    assert repair.repair_stuck_calls().requeued == [str(stuck.pk)]
    assert repair.repair_stuck_calls().requeued == []
    assert stuck.sent == [(str(stuck.tenant_id), str(stuck.pk))] * 2  # type: ignore[attr-defined]
    assert tasks.process_call.run(str(stuck.tenant_id), str(stuck.pk)) == "recorded"
    assert outbox_of(stuck) is None


@pytest.mark.django_db
def test_repair_fails_a_call_whose_audio_is_gone(stuck: Call, personas: Personas) -> None:
    capture.recordings_storage().delete(stuck.upload_key)
    report = repair.repair_stuck_calls()
    assert report.failed == [str(stuck.pk)] and report.requeued == []
    call = call_of(personas, stuck.pbx_call_id)
    assert (call.state, call.error_code) == (Call.State.FAILED, capture.AUDIO_MISSING)
    assert outbox_of(call) is None
    assert capture.read_back(call)["error_code"] == "audio_missing"


@pytest.mark.django_db
def test_processing_fails_cleanly_when_the_audio_is_gone(stuck: Call, personas: Personas) -> None:
    capture.recordings_storage().delete(stuck.upload_key)
    assert tasks.process_call.run(str(stuck.tenant_id), str(stuck.pk)) == Call.State.FAILED
    assert call_of(personas, stuck.pbx_call_id).error_code == capture.AUDIO_MISSING


@pytest.mark.django_db
def test_repair_gives_up_after_the_last_dispatch(stuck: Call, personas: Personas, settings: Any) -> None:
    ProcessingOutbox.objects.unscoped().filter(call_id=stuck.pk).update(
        dispatches=settings.PROCESSING_MAX_DISPATCHES
    )
    assert repair.repair_stuck_calls().failed == [str(stuck.pk)]
    call = call_of(personas, stuck.pbx_call_id)
    assert (call.state, call.error_code) == (Call.State.FAILED, repair.PROCESSING_STALLED)


@pytest.mark.django_db
def test_repair_clears_the_row_of_a_call_already_final(stuck: Call) -> None:
    Call.objects.unscoped().filter(pk=stuck.pk).update(state=Call.State.FAILED)
    report = repair.repair_stuck_calls()
    assert (report.cleared, report.requeued) == (1, [])
    assert outbox_of(stuck) is None


@pytest.mark.django_db
def test_repair_keeps_the_row_while_the_broker_is_down(stuck: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    BrokerDown(monkeypatch)
    before = outbox_of(stuck).dispatched_at  # type: ignore[union-attr]
    report = repair.repair_stuck_calls()
    assert (report.requeued, report.send_errors) == ([], 1)
    assert outbox_of(stuck).dispatched_at == before  # type: ignore[union-attr]  # due again


# --- tasks retry transient database errors ------------------------------------------------------


@pytest.mark.django_db
def test_a_database_error_in_the_worker_is_retried(stuck: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    real = capture.process_call
    calls: list[int] = []

    def flaky(**kwargs: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the database system is shutting down")
        return real(**kwargs)

    monkeypatch.setattr(capture, "process_call", flaky)
    from hiprecorder.celery import app

    app.conf.task_eager_propagates = False
    try:
        result = tasks.process_call.apply(args=[str(stuck.tenant_id), str(stuck.pk)]).get(
            disable_sync_subtasks=False
        )
    finally:
        app.conf.task_eager_propagates = True
    assert result == "recorded" and len(calls) == 2


@pytest.mark.django_db
def test_an_outage_outlasting_the_retries_is_left_to_the_repair(
    stuck: Call, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(**kwargs: Any) -> str:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(capture, "process_call", down)
    from hiprecorder.celery import app

    app.conf.task_eager_propagates = False
    try:
        result = tasks.process_call.apply(args=[str(stuck.tenant_id), str(stuck.pk)])
    finally:
        app.conf.task_eager_propagates = True
    assert isinstance(result.result, OperationalError)
    call = call_of(personas, stuck.pbx_call_id)
    assert call.state == Call.State.PROCESSING  # not failed, audio kept
    assert capture.recordings_storage().exists(call.upload_key)
    assert outbox_of(call) is not None


@pytest.mark.parametrize(
    "path",
    [
        "recordings.lifecycle.tasks.sweep_expired_task",
        "recordings.tasks.repair_stuck_calls_task",
        "recordings.privacy.tasks.purge_tenant",
        "notifications.tasks.send_prompt_task",
    ],
)
def test_every_task_retries_database_and_broker_errors(path: str) -> None:
    from importlib import import_module

    module, name = path.rsplit(".", 1)
    task = getattr(import_module(module), name)
    retried = tuple(task.autoretry_for)
    assert OperationalError in retried and kombu.exceptions.OperationalError in retried
    assert task.max_retries and task.retry_backoff


# --- reconcile, heartbeat, spool ----------------------------------------------------------------


@pytest.mark.django_db
def test_reconcile_reports_a_missing_upload_and_not_a_pending_rendition(stuck: Call) -> None:
    storage = capture.recordings_storage()
    pending = f"tenants/{stuck.tenant_id}/recordings/pending.mp3"
    storage.save(pending, __import__("io").BytesIO(b"ID3half"))
    Call.objects.unscoped().filter(pk=stuck.pk).update(pending_rendition_key=pending)
    assert reconcile_of(stuck.tenant_id) == ([], [], [])
    storage.delete(stuck.upload_key)
    assert reconcile_of(stuck.tenant_id) == ([], [], [(str(stuck.pk), stuck.upload_key)])
    assert not reconcile().clean
    storage.delete(pending)


@pytest.mark.django_db
def test_reconcile_command_names_missing_uploads(stuck: Call) -> None:
    from io import StringIO

    from django.core.management import call_command

    capture.recordings_storage().delete(stuck.upload_key)
    out = StringIO()
    call_command("reconcile_recordings", stdout=out)
    assert "raw upload is missing: " in out.getvalue()
    assert f"call {stuck.pk}" in out.getvalue()
    assert "disagree" in out.getvalue()


@pytest.mark.django_db
def test_heartbeat_notes_the_queue_wait() -> None:
    import time

    tasks.worker_heartbeat_task.apply(headers={"published_at": time.time() - 42})
    beat = WorkerHeartbeat.objects.get()
    assert 41_000 <= beat.queue_wait_ms < 100_000
    assert timezone.now() - beat.ran_at < timedelta(minutes=1)


def test_clean_spool_removes_only_dead_processes_leftovers(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = os.getpid()
    (tmp_path / f"rpi-upload-{dead.pid}-abc").write_bytes(b"RIFF")
    (tmp_path / f"rpi-process-{dead.pid}-def").mkdir()
    (tmp_path / f"rpi-process-{dead.pid}-def" / "upload").write_bytes(b"RIFF")
    (tmp_path / f"rpi-upload-{live}-ghi").write_bytes(b"RIFF")
    (tmp_path / "unrelated").write_bytes(b"x")
    assert capture.clean_spool(str(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"rpi-upload-{live}-ghi", "unrelated"]


def test_spools_carry_the_process_id(tmp_path: Path) -> None:
    chunks = iter([b"RIFF", b""])
    spooled = capture.spool(lambda n: next(chunks), limit=100)
    try:
        assert Path(spooled.file.name).name.startswith(f"rpi-upload-{os.getpid()}-")
    finally:
        spooled.file.close()


@pytest.mark.django_db
def test_support_sees_why_a_call_failed(stuck: Call, personas: Personas, client: Client) -> None:
    capture.recordings_storage().delete(stuck.upload_key)
    repair.repair_stuck_calls()
    login_support(client, personas.support)  # a superuser, with the admin's second factor
    listing = client.get("/admin/recordings/call/?state__exact=failed")
    assert listing.status_code == 200
    assert stuck.pbx_call_id in listing.content.decode() and "audio_missing" in listing.content.decode()
    page = client.get(f"/admin/recordings/call/{stuck.pk}/change/")
    assert page.status_code == 200
    assert "+31612345678" not in page.content.decode()  # numbers masked
    assert stuck.upload_key not in page.content.decode()


@pytest.mark.django_db
def test_an_api_view_meeting_a_database_fault_answers_503(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from recordings.api import actions
    from tests.api.helpers import client_for

    def database_gone(user: Any, recording_id: Any) -> None:
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(actions, "get_recording_for_user", database_gone)
    api = client_for(personas.users["always"])
    api.raise_request_exception = False
    assert_unavailable(api.get(f"/api/v1/recordings/{uuid.uuid4()}/labels"))


@pytest.mark.django_db
def test_the_api_503_speaks_dutch(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from recordings.api import actions
    from tests.api.helpers import client_for

    def database_gone(user: Any, recording_id: Any) -> None:
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(actions, "get_recording_for_user", database_gone)
    api = client_for(personas.users["always"])
    api.raise_request_exception = False
    response = api.get(f"/api/v1/recordings/{uuid.uuid4()}/labels", HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith("Een dienst is even niet beschikbaar")


def _client_error(status: int, code: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(
    ("make", "fault"),
    [
        (lambda: OperationalError("could not connect"), True),
        (lambda: kombu.exceptions.OperationalError("refused"), True),
        (
            lambda: __import__("botocore.exceptions").exceptions.EndpointConnectionError(endpoint_url="x"),
            True,
        ),
        (lambda: __import__("botocore.exceptions").exceptions.ConnectionClosedError(endpoint_url="x"), True),
        (lambda: _client_error(503, "SlowDown"), True),
        (lambda: _client_error(500, "InternalError"), True),
        (lambda: _client_error(404, "NoSuchKey"), False),
        (lambda: _client_error(403, "AccessDenied"), False),
        (lambda: ValueError("a bug"), False),
    ],
)
def test_which_errors_are_infrastructure_faults(make: Any, fault: bool) -> None:
    from hiprecorder.faults import is_infrastructure_fault

    assert is_infrastructure_fault(make()) is fault
