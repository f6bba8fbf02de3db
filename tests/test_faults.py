"""Fault tests on the real stack: SIGKILL the Celery worker in the middle of work, restart it, and
check that nothing was lost and nothing was left behind (``reconcile`` reports zero). Issue 19:
stop and restart Redis, PostgreSQL and the S3 store while calls flow (``scripts/services.sh
down|up``); every call ends recorded, once, with no audio lost and no orphan.

A real ``celery -A hiprecorder worker`` subprocess runs against the scratch PostgreSQL, Redis and
SeaweedFS of ``scripts/services.sh`` (``HIPRECORDER_REAL_SERVICES=1``). Each test uses its own
bucket, so ``reconcile`` sees only its objects. Messages of a killed worker come back after
``CELERY_VISIBILITY_TIMEOUT`` (short here), as they do after the configured hour in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.test import Client
from django.utils import timezone

from recordings import privacy
from recordings.models import Call, Kind, Recording
from recordings.reconcile import reconcile
from tenants import services
from tenants.models import DeletionReport, Tenant
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import iso

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
VISIBILITY_TIMEOUT = 2
DEADLINE = 120  # seconds any wait may take before the test fails (a hung worker, not a slow one)


def wait_for(condition: Callable[[], bool], what: str, *, timeout: float = DEADLINE) -> None:
    """Poll ``condition`` (a database or storage read) until it holds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Worker:
    """One ``celery -A hiprecorder worker`` process (solo pool: one process to kill)."""

    def __init__(self, env: dict[str, str], log: Path, queues: str = "celery") -> None:
        self.env, self.log, self.proc, self.queues = env, log, None, queues

    def start(self) -> Worker:
        command = [sys.executable, "-m", "celery", "-A", "hiprecorder", "worker", "--pool=solo", "-l", "INFO"]
        command += [f"--queues={self.queues}"]
        command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
        command += ["-n", f"fault-{uuid.uuid4().hex[:6]}@%h"]
        with self.log.open("ab") as handle:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, as when the machine loses the process."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture
def bucket(settings: object) -> Iterator[str]:
    """A fresh bucket for this test, used by the test process and the worker alike."""
    import boto3

    name = f"fault-{uuid.uuid4().hex[:12]}"
    s3 = boto3.resource(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_S3_REGION_NAME", "us-east-1"),
    )
    s3.create_bucket(Bucket=name)
    stores = dict(settings.STORAGES)  # type: ignore[attr-defined]
    stores["recordings"] = {
        **stores["recordings"],
        "OPTIONS": {**stores["recordings"]["OPTIONS"], "bucket_name": name},
    }
    settings.STORAGES = stores  # type: ignore[attr-defined]
    yield name
    b = s3.Bucket(name)
    b.objects.all().delete()
    b.delete()


@pytest.fixture
def worker(bucket: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers against the test database, the bucket and the real broker; stop them after.
    ``worker(queues="transcribe", env={...})``: one consuming other queues, with more settings."""
    from hiprecorder.celery import app

    db = connection.settings_dict["NAME"]  # the test database pytest-django made
    parts = urlsplit(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(parts._replace(path=f"/{db}")),
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "PURGE_BATCH": "10",
        # One batch loop per sweep, so the sweep's batches come one after another and a kill can
        # land between two of them (several loops at once are tested in test_sweep_concurrency).
        "EXPIRY_SWEEP_WORKERS": "1",
        "EXPIRY_SWEEP_BATCH": "1000",  # test_worker_killed_during_the_expiry_sweep: three batches
        "DATA_DIR": str(tmp_path / "data"),
    }
    app.conf.task_always_eager = False
    app.conf.broker_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT}
    with app.connection_for_write() as conn:
        for queue in ("celery", "transcribe"):
            conn.default_channel.queue_purge(queue)
    started: list[Worker] = []

    def start(queues: str = "celery", extra: dict[str, str] | None = None) -> Worker:
        log = tmp_path / f"worker-{queues}.log"
        w = Worker({**env, **(extra or {})}, log, queues).start()
        started.append(w)
        return w

    try:
        yield start
    finally:
        for w in started:
            w.stop()
        app.conf.task_always_eager = True


def assert_reconciled() -> None:
    report = reconcile()
    assert report.orphan_objects == [], report.orphan_objects[:5]
    assert report.missing_objects == [], report.missing_objects[:5]


def put_objects(keys: list[str]) -> None:
    store = storages["recordings"]
    bucket = store.bucket

    def put(key: str) -> None:
        bucket.put_object(Key=key, Body=b"ID3" + key.encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))


def make_rows(owner: object, n: int, *, expires_at: object) -> list[Recording]:
    tenant_id = owner.tenant_id  # type: ignore[attr-defined]
    now = timezone.now()
    rows = []
    for _ in range(n):
        rec_id = uuid.uuid4()
        rows.append(
            Recording(
                id=rec_id,
                tenant_id=tenant_id,
                owner=owner,
                kind=Kind.STANDARD,
                direction="inbound",
                leg="fixed",
                local_number="+31201234567",
                remote_number="+31612345678",
                started_at=now - timedelta(days=100),
                ended_at=now - timedelta(days=100) + timedelta(minutes=1),
                duration_ms=60_000,
                storage_key=f"tenants/{tenant_id}/recordings/{rec_id}.mp3",
                mime="audio/mpeg",
                expires_at=expires_at,
                expiry_rule="retention" if expires_at else "",
            )
        )
    put_objects([r.storage_key for r in rows])
    with tenant_scope(tenant_id):
        Recording.objects.bulk_create(rows, batch_size=500)
    return rows


def test_worker_killed_while_processing_a_call(
    personas: Personas, worker: Callable[[], Worker], tmp_path: Path
) -> None:
    from recordings import audio

    key = services.create_pbx_key(tenant=personas.tenant_a, name="PBX").secret
    pbx = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=20)
    body = {
        "call_id": "fault-call-1",
        "user": personas.users["always"].pbx_id,
        "direction": "inbound",
        "local_number": "+31201234567",
        "remote_number": "+31612345678",
        "leg": "fixed",
        "started_at": iso(started),
    }
    assert pbx.post("/rpi/v1/calls", body, content_type="application/json").status_code == 201
    ended = started + timedelta(minutes=15)
    end = pbx.post(
        "/rpi/v1/calls/fault-call-1/end", {"ended_at": iso(ended)}, content_type="application/json"
    )
    assert end.status_code == 202, end.content
    wav = audio.make_wav(tmp_path / "call.wav", seconds=900, kind="speech-like")  # 15 minutes
    upload = pbx.put("/rpi/v1/calls/fault-call-1/audio", data=wav.read_bytes(), content_type="audio/wav")
    assert upload.status_code == 201, upload.content

    def call() -> Call:
        with tenant_scope(personas.tenant_a):
            return Call.objects.get(pbx_call_id="fault-call-1")

    first = worker()
    # In the middle: the attempt is claimed and its rendition key noted, the recording not made.
    wait_for(lambda: call().pending_rendition_key != "", "processing to start")
    assert call().state == Call.State.PROCESSING
    first.kill()
    assert call().state == Call.State.PROCESSING  # the kill really cut it short

    worker()  # the message comes back after the visibility timeout
    # (recorded commits first; the raw upload is removed right after that commit)
    wait_for(
        lambda: (
            (c := call()).state != Call.State.PROCESSING
            and (c.state != Call.State.RECORDED or not c.upload_key)
        ),
        "processing to finish after the restart",
    )
    done = call()
    assert done.state == Call.State.RECORDED, (done.state, done.error_code)
    assert done.processing_attempts >= 2
    with tenant_scope(personas.tenant_a):
        recordings = list(Recording.objects.filter(call=done))
    assert len(recordings) == 1  # not lost, not doubled
    assert storages["recordings"].exists(recordings[0].storage_key)
    assert done.upload_key == "" and done.pending_rendition_key == ""
    assert_reconciled()


def test_worker_killed_during_the_expiry_sweep(personas: Personas, worker: Callable[[], Worker]) -> None:
    from recordings.lifecycle.tasks import sweep_expired_task

    owner = personas.users["always"]
    due = make_rows(owner, 2100, expires_at=timezone.now() - timedelta(minutes=1))  # three batches
    kept = make_rows(owner, 20, expires_at=timezone.now() + timedelta(days=30))

    def live_due() -> int:
        return (
            Recording.objects.unscoped().filter(pk__in=[r.pk for r in due], deleted_at__isnull=True).count()
        )

    first = worker()
    sweep_expired_task.apply_async()
    wait_for(lambda: live_due() < len(due), "the first batch of the sweep")
    first.kill()
    assert live_due() > 0  # killed in the middle, not after

    worker()
    wait_for(lambda: live_due() == 0, "the sweep to finish after the restart")
    assert (
        Recording.objects.unscoped().filter(pk__in=[r.pk for r in kept], deleted_at__isnull=True).count()
        == 20
    )
    store = storages["recordings"]
    assert all(store.exists(r.storage_key) for r in kept)
    assert_reconciled()


def test_worker_killed_during_an_end_of_service_purge(
    personas: Personas, worker: Callable[[], Worker]
) -> None:
    make_rows(personas.users["always"], 200, expires_at=None)
    globex = make_rows(personas.charlie, 5, expires_at=None)
    tenant = personas.tenant_a

    def report() -> DeletionReport | None:
        return DeletionReport.objects.filter(tenant=tenant).first()

    first = worker()
    privacy.end_service(tenant=tenant, acting_user=personas.support)  # commits: the purge is sent
    wait_for(
        lambda: (r := report()) is not None and r.counts.get("recordings", 0) >= 30, "the purge to start"
    )
    first.kill()
    assert report().status == DeletionReport.Status.RUNNING  # type: ignore[union-attr]
    assert privacy.storage_objects_of(tenant.pk)  # objects remain: it was cut short

    worker()
    wait_for(lambda: report().status != DeletionReport.Status.RUNNING, "the purge to finish")  # type: ignore[union-attr]
    final = report()
    assert final is not None and final.verified, privacy.deletion_report_document(final)  # type: ignore[union-attr]
    assert final.runs >= 2
    assert privacy.storage_objects_of(tenant.pk) == []
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.ENDED
    # The other tenant lost nothing.
    store = storages["recordings"]
    assert all(store.exists(r.storage_key) for r in globex)
    assert Recording.objects.unscoped().filter(tenant=personas.tenant_b, deleted_at__isnull=True).count() == 5
    assert_reconciled()


# --- issue 19: Redis, PostgreSQL and the store stopped and restarted while calls flow ------------

SERVICES_DIR = os.environ.get("HIPRECORDER_SERVICES_DIR", "")


def service(action: str, name: str) -> None:
    """Stop (``down``) or restart (``up``, same port and data) one of ``scripts/services.sh``'s
    services."""
    if not SERVICES_DIR:
        pytest.skip("needs HIPRECORDER_SERVICES_DIR (written by scripts/services.sh start)")
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "services.sh"), action, SERVICES_DIR, name],
        check=True,
        capture_output=True,
        timeout=90,
        env={**os.environ, "PYTHON": sys.executable},  # has boto3, for the store's readiness check
    )


class Phone:
    """The phone system: starts, ends and uploads calls, and repeats a request answered ``503``
    (after checking the answer is the contract's) until it is taken, as the contract asks."""

    def __init__(self, personas: Personas, wav: bytes) -> None:
        key = services.create_pbx_key(tenant=personas.tenant_a, name="PBX").secret
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        self.client.raise_request_exception = False
        self.user = personas.users["always"].pbx_id
        self.tenant = personas.tenant_a
        self.wav = wav
        self.unavailable = 0
        self.started = timezone.now().replace(microsecond=0) - timedelta(minutes=5)

    def send(self, method: str, path: str, data: object, content_type: str, *, retry: bool) -> int:
        end = time.monotonic() + DEADLINE
        while True:
            response = getattr(self.client, method)(f"/rpi/v1/{path}", data=data, content_type=content_type)
            if response.status_code != 503:
                return response.status_code
            assert response["Content-Type"].startswith("application/json")
            assert response.json()["error"]["code"] == "service_unavailable"
            assert int(response["Retry-After"]) > 0
            self.unavailable += 1
            # As at the end of a real request (the test client skips it): drop a broken connection.
            connection.close_if_unusable_or_obsolete()
            if not retry:
                return 503
            assert time.monotonic() < end, f"{method} {path} kept answering 503"
            time.sleep(0.5)

    def call(self, call_id: str, *, retry: bool = True) -> list[int]:
        body = {
            "call_id": call_id,
            "user": self.user,
            "direction": "inbound",
            "local_number": "+31201234567",
            "remote_number": "+31612345678",
            "leg": "fixed",
            "started_at": iso(self.started),
        }
        return [
            self.send("post", "calls", body, "application/json", retry=retry),
            self.send(
                "post",
                f"calls/{call_id}/end",
                {"ended_at": iso(self.started + timedelta(seconds=3))},
                "application/json",
                retry=retry,
            ),
            self.send("put", f"calls/{call_id}/audio", self.wav, "audio/wav", retry=retry),
        ]

    def calls(self) -> list[Call]:
        with tenant_scope(self.tenant):
            return list(Call.objects.filter(pbx_call_id__startswith="fault-"))


@pytest.fixture
def phone(personas: Personas, tmp_path: Path, settings: object, monkeypatch: pytest.MonkeyPatch) -> Phone:
    from recordings import audio, repair

    # The repair (run here, as beat would) with short deadlines, so a lost send is re-sent at once.
    settings.PROCESSING_DEADLINE_SECONDS = 5  # type: ignore[attr-defined]
    monkeypatch.setattr(repair, "SEND_GRACE", timedelta(0))
    return Phone(personas, audio.make_wav(tmp_path / "call.wav", seconds=3).read_bytes())


def assert_nothing_lost(phone: Phone, expected: int) -> None:
    """Every call reaches ``recorded`` (the repair running as beat would), with exactly one
    recording whose audio exists; no raw upload, outbox row or orphan object is left."""
    from recordings.models import ProcessingOutbox
    from recordings.repair import repair_stuck_calls

    def settled() -> bool:
        calls = phone.calls()
        if all(c.state != Call.State.PROCESSING and not c.upload_key for c in calls):
            return True
        repair_stuck_calls()
        time.sleep(0.3)
        return False

    wait_for(settled, "every call to reach a final state")
    calls = phone.calls()
    assert len(calls) == expected
    assert {c.state for c in calls} == {Call.State.RECORDED}, [(c.state, c.error_code) for c in calls]
    with tenant_scope(phone.tenant):
        for c in calls:
            [recording] = Recording.objects.filter(call=c)  # one each: none lost, none doubled
            assert storages["recordings"].exists(recording.storage_key)
    assert ProcessingOutbox.objects.unscoped().count() == 0
    assert_reconciled()


def test_redis_outage_while_calls_flow(phone: Phone, worker: Callable[[], Worker]) -> None:
    worker()
    assert phone.call("fault-r1") == [201, 202, 201]
    service("down", "redis")
    try:
        # The call is taken and its audio stored; the task cannot be sent: 503, the call queued.
        assert phone.call("fault-r2", retry=False) == [201, 202, 503]
        assert phone.call("fault-r3", retry=False)[:2] == [201, 202]
    finally:
        service("up", "redis")
    # The phone system retries: same bytes, 200; the repair sends what was not sent.
    assert phone.call("fault-r2") == [200, 200, 200]
    assert phone.call("fault-r3") == [200, 200, 200]
    assert phone.unavailable >= 2
    assert_nothing_lost(phone, 3)


def test_postgres_outage_while_the_worker_works_a_backlog(phone: Phone, worker: Callable[[], Worker]) -> None:
    for n in range(3):
        assert phone.call(f"fault-p{n}") == [201, 202, 201]  # queued; no worker yet
    service("down", "postgres")
    try:
        w = worker()  # its tasks meet a database that is down: retried with backoff
        time.sleep(3)
        assert w.proc is not None and w.proc.poll() is None, w.tail()
        # The phone system meanwhile gets 503, not an HTML 500.
        assert phone.call("fault-p9", retry=False)[0] == 503
    finally:
        service("up", "postgres")
    connection.close()  # this process's connection died with the server
    assert phone.call("fault-p9") == [201, 202, 201]
    assert_nothing_lost(phone, 4)


def test_store_outage_during_uploads_and_processing(phone: Phone, worker: Callable[[], Worker]) -> None:
    assert phone.call("fault-s1") == [201, 202, 201]  # queued; no worker yet
    service("down", "s3")
    try:
        worker()  # processing meets a store that is down: retried with backoff
        # The upload cannot be stored: 503 and nothing half-applied.
        assert phone.call("fault-s2", retry=False) == [201, 202, 503]
        with tenant_scope(phone.tenant):
            assert Call.objects.get(pbx_call_id="fault-s2").upload_sha256 == ""
    finally:
        service("up", "s3")
    assert phone.call("fault-s2") == [200, 200, 201]
    assert_nothing_lost(phone, 2)
