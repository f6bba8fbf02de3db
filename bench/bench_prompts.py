"""Benchmark of the keep-or-delete prompt fan-out to a loopback FCM v1 server.

    . /tmp/svc-x/env.sh && python bench/bench_prompts.py [--users 100] [--devices 2] [--calls 500]

Needs ``DATABASE_URL`` (PostgreSQL; its own database ``<name>_bench_prompts``) and, for the real
path through a queue, ``CELERY_BROKER_URL`` (Redis): a ``celery worker`` is started as a
subprocess. Without a broker the send task runs in-process (eager). The loopback FCM server
(tests/notifications/fcm_server.py) runs in this process; firebase-admin in the worker talks to
it with a service account whose token endpoint is the same server.

  (a) baseline: firebase-admin ``send_each`` straight to the server (no database, no queue), the
      same number of messages;
  (b) the product path: ``--calls`` playback recordings become ready one after another
      (``on_playback_ready``: rules, expiry, prompt row, task on commit), the worker sends to each
      of the user's ``--devices`` phones. Reported: prompts per second (ready of the first to the
      last FCM request) and the time from a recording being ready to its first FCM request
      (p50/p95/max). Goal: p95 under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from measure import bench_database_url, percentile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

P95_GOAL_S = 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = ap.parse_args()

    from tests.notifications.fcm_server import FcmServer, write_service_account

    server = FcmServer().start()
    folder = Path(tempfile.mkdtemp(prefix="bench-prompts-"))
    creds = write_service_account(folder / "sa.json", token_uri=server.base + "/token")
    os.environ["DATABASE_URL"] = bench_database_url("bench_prompts")
    os.environ["FIREBASE_CREDENTIALS_FILE"] = str(creds)
    os.environ["FCM_SEND_URL"] = server.send_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker:
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE recordings_recording, recordings_call, notifications_device CASCADE")

    from notifications import push
    from notifications.services import register_device
    from recordings import lifecycle
    from recordings.models import Call, Recording
    from tenants import services
    from tenants.models import ProcessingRegister, Tenant, User
    from tenants.scoping import tenant_scope

    tenant = Tenant.objects.filter(slug="bench").first() or services.create_tenant(
        name="Bench BV", slug="bench"
    )
    with tenant_scope(tenant):
        ProcessingRegister.objects.get_or_create(
            tenant=tenant, defaults={"purpose": "Benchmark.", "legitimate_interest": "Benchmark."}
        )
    users = []
    for n in range(args.users):
        user = User.objects.filter(username=f"pb-{n}").first() or services.create_user(
            tenant=tenant, username=f"pb-{n}", password=None, pbx_id=f"9{n}"
        )
        services.set_playback_subscription(user=user, tier="days_30")
        for d in range(args.devices):
            register_device(user=user, token=f"bench-{n}-{d}-{uuid.uuid4().hex}", platform="android")
        users.append(user)

    # (a) baseline: firebase-admin straight to the server.
    from firebase_admin import messaging

    backend = push.FcmBackend()
    backend._messaging()  # point it at the loopback server
    total_messages = args.calls * args.devices
    msgs = [
        messaging.Message(
            fid=f"base-{i}", notification=messaging.Notification(title="t", body="b"), data={"k": "v"}
        )
        for i in range(total_messages)
    ]
    messaging.send_each(msgs[:1], app=backend.app)  # fetch the access token outside the clock
    t0 = time.perf_counter()
    for start in range(0, len(msgs), 500):
        messaging.send_each(msgs[start : start + 500], app=backend.app)
    base_s = time.perf_counter() - t0
    print(
        f"(a) baseline send_each: {total_messages} messages in {base_s:.2f} s "
        f"-> {total_messages / base_s:,.0f}/s"
    )
    server.reset()

    worker = None
    if broker:
        env = dict(os.environ)
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "hiprecorder",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={args.concurrency}",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=str(HERE.parent),
            env=env,
        )
        time.sleep(6)  # let the worker connect before the clock starts
        print(f"worker: celery, {args.concurrency} processes, broker {broker.split('@')[-1]}")
    else:
        print("worker: none (eager, in this process)")

    now = datetime.now(UTC)
    recs = []
    with tenant_scope(tenant):
        for i in range(args.calls):
            user = users[i % len(users)]
            call = Call.objects.create(
                pbx_call_id=f"bp-{uuid.uuid4().hex}",
                user=user,
                direction="inbound",
                leg="mobile",
                local_number="+31201234567",
                remote_number="+31612345678",
                started_at=now,
                ended_at=now,
                kind="playback",
                record=True,
                announce=True,
                state="recorded",
            )
            recs.append(
                Recording.objects.create(
                    call=call,
                    owner=user,
                    kind="playback",
                    direction="inbound",
                    leg="mobile",
                    local_number="+31201234567",
                    remote_number="+31612345678",
                    started_at=now,
                    ended_at=now,
                    duration_ms=60_000,
                )
            )
    ready: dict[str, float] = {}
    started = time.time()
    for rec in recs:
        ready[str(rec.pk)] = time.time()
        lifecycle.on_playback_ready(rec)
    produced = time.time() - started
    deadline = time.time() + 180
    while len(server.received) < total_messages and time.time() < deadline:
        time.sleep(0.2)
    if worker is not None:
        worker.terminate()
        worker.wait(timeout=30)
    first: dict[str, float] = {}
    last_at = 0.0
    for r in server.received:
        rid = r.message.get("data", {}).get("recording_id", "")
        first[rid] = min(first.get(rid, r.at), r.at)
        last_at = max(last_at, r.at)
    latencies = [first[rid] - at for rid, at in ready.items() if rid in first]
    print(
        f"(b) {args.calls} recordings ready in {produced:.2f} s ({args.calls / produced:,.0f}/s produced); "
        f"FCM requests received: {len(server.received)} of {total_messages}"
    )
    if latencies:
        span = last_at - started
        print(
            f"    prompts/s (first ready -> last FCM request): {len(first) / span:,.1f} "
            f"({len(server.received) / span:,.1f} FCM messages/s)"
        )
        print(
            f"    ready -> first FCM request: p50 {statistics.median(latencies) * 1000:,.0f} ms, "
            f"p95 {percentile(latencies, 95) * 1000:,.0f} ms, max {max(latencies) * 1000:,.0f} ms"
        )
    ok = bool(latencies) and len(server.received) == total_messages and percentile(latencies, 95) < P95_GOAL_S
    print(f"    goal: every message sent, p95 < {P95_GOAL_S:.0f} s: {'met' if ok else 'MISSED'}")
    server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
