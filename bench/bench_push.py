"""Benchmark of Web Push prompts: ready -> the push service's request.

    . /tmp/svc-x/env.sh && python bench/bench_push.py [--users 100] [--calls 1000] [--concurrency 2]
    python bench/bench_push.py --sqlite …   (the embedded default) | --eager (no worker)
                                 --producers N (N threads make the recordings ready at once)

By default on PostgreSQL (a fresh database ``<name>_bench_push`` on ``DATABASE_URL``'s server)
and Celery over Redis (``CELERY_BROKER_URL``), with a ``celery worker`` subprocess; ``--sqlite``:
the embedded default as it ships (SQLite and kombu's filesystem transport in a fresh DATA_DIR);
``--eager``: the send runs in this process instead of a worker.
Each of ``--users`` Playback users has one browser subscribed at the loopback Web Push service
(tests/notifications/webpush_server.py, in this process), which verifies every request's VAPID
signature and decrypts its aes128gcm payload, as in the tests. ``--calls`` recordings become
ready at once (``on_playback_ready`` one after another: rules, expiry, prompt, task on commit);
reported: the time from each recording being ready to the push service receiving its request
(p50/p95/max; goal p95 under 2 s) and prompts per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

NEEDS_SERVICES = (
    "Set DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis): scripts/services.sh start DIR; "
    ". DIR/env.sh. Or --sqlite for the embedded default."
)
P95_GOAL_S = 2.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fresh_database(url: str) -> str:
    """A new, empty database ``<name>_bench_push`` on the PostgreSQL server of ``url``."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        sys.exit(NEEDS_SERVICES)
    name = parts.path.lstrip("/") + "_bench_push"
    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return urlunsplit(parts._replace(path="/" + name))


def fill(n: int, *, template: Any, users: list[Any]) -> None:
    """``n`` older recordings in the tenant, copies of ``template`` (no call, kept, spread over the
    past years and the users), each with its keep-or-delete prompt answered: the tables as a
    tenant's years make them, so the claim's scan is measured among them (PostgreSQL only)."""
    from django.db import connection

    started = time.time()
    with connection.cursor() as cur:
        cur.execute(
            "select column_name from information_schema.columns where table_name = 'recordings_recording'"
        )
        cols = [
            c for (c,) in cur.fetchall() if c not in ("id", "call_id", "owner_id", "started_at", "ended_at")
        ]
        listed = ", ".join(f'"{c}"' for c in cols)
        copied = ", ".join(f't."{c}"' for c in cols)
        cur.execute(
            f"insert into recordings_recording (id, call_id, owner_id, started_at, ended_at, {listed}) "  # noqa: S608 (names from the catalogue; values bound)
            f"select gen_random_uuid(), null, (%s::uuid[])[1 + g %% %s], "
            f"t.started_at - g * interval '60 seconds', t.ended_at - g * interval '60 seconds', {copied} "
            f"from recordings_recording t, generate_series(1, %s) g where t.id = %s",
            [[str(u) for u in users], len(users), n, str(template.pk)],
        )
        cur.execute(
            "update recordings_recording set saved = true, expires_at = null, expiry_rule = '' "
            "where call_id is null"
        )
        cur.execute(
            "insert into notifications_pushprompt (id, tenant_id, user_id, recording_id, kind, status, "
            "title, body, data, attempts, last_error, answer, created_at, ready_at, sent_at, answered_at) "
            "select gen_random_uuid(), r.tenant_id, r.owner_id, r.id, 'keep_or_delete', 'answered', "
            "'Gesprek bewaren?', 'Gesprek met +31612345678 (1:00). Bewaren of verwijderen?', '{}', 1, '', "
            "'keep', r.ended_at, r.ended_at, r.ended_at, r.ended_at from recordings_recording r "
            "where r.call_id is null"
        )
        cur.execute("analyze recordings_recording")
        cur.execute("analyze notifications_pushprompt")
        cur.execute("select count(*) from recordings_recording")
        (total,) = cur.fetchone()
    print(
        f"fill: {n:,} older recordings with answered prompts in {time.time() - started:.0f} s; "
        f"{total:,} in all"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=2, help="worker processes")
    ap.add_argument(
        "--producers",
        type=int,
        default=1,
        help="threads making recordings ready at once (each its own connection)",
    )
    ap.add_argument(
        "--fill",
        type=int,
        default=0,
        help="recordings already in the tenant (each with its answered prompt), e.g. 1500000",
    )
    ap.add_argument(
        "--batch", type=int, default=0, help="PUSH_BATCH_SIZE for the worker (1: one prompt per task)"
    )
    ap.add_argument("--eager", action="store_true", help="send in this process (no worker)")
    ap.add_argument(
        "--sqlite", action="store_true", help="the embedded default (SQLite, filesystem broker) instead"
    )
    args = ap.parse_args()

    from tests.notifications.webpush_server import WebPushServer

    server = WebPushServer().start()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-push-"))
    os.environ.pop("FIREBASE_CREDENTIALS_FILE", None)
    if args.sqlite:
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
            os.environ.pop(name, None)
    else:
        if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
            sys.exit(NEEDS_SERVICES)
        os.environ["DATABASE_URL"] = fresh_database(os.environ.get("DATABASE_URL", ""))
    os.environ["DATA_DIR"] = str(data_dir)
    if args.batch:
        os.environ["PUSH_BATCH_SIZE"] = str(args.batch)
    os.environ["WEBPUSH_ALLOWED_HOSTS"] = server.host
    os.environ["WEBPUSH_INSECURE_HOSTS"] = server.host
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    if args.eager:
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from notifications.services import register_web_subscription
    from recordings import lifecycle
    from recordings.models import Call, Recording
    from tenants import services
    from tenants.models import ProcessingRegister
    from tenants.scoping import tenant_scope

    print(f"database: {settings.DATABASES['default']['ENGINE']}; data dir {data_dir}")
    tenant = services.create_tenant(name="Bench BV", slug="bench")
    with tenant_scope(tenant):
        ProcessingRegister.objects.get_or_create(
            tenant=tenant, defaults={"purpose": "Benchmark.", "legitimate_interest": "Benchmark."}
        )
    users = []
    for n in range(args.users):
        user = services.create_user(tenant=tenant, username=f"pb-{n}", password=None, pbx_id=f"9{n}")
        services.set_playback_subscription(user=user, tier="days_30")
        register_web_subscription(user=user, subscription=server.subscription().as_json())
        users.append(user)

    now = datetime.now(UTC)
    recs = []
    with tenant_scope(tenant):
        for i in range(args.calls):
            user = users[i % len(users)]
            common = {
                "direction": "inbound",
                "leg": "mobile",
                "local_number": "+31201234567",
                "remote_number": "+31612345678",
                "started_at": now,
                "ended_at": now,
            }
            call = Call.objects.create(
                pbx_call_id=f"bp-{uuid.uuid4().hex}",
                user=user,
                kind="playback",
                record=True,
                announce=True,
                state="recorded",
                **common,
            )
            recs.append(
                Recording.objects.create(call=call, owner=user, kind="playback", duration_ms=60_000, **common)
            )

    if args.fill:
        fill(args.fill, template=recs[0], users=[u.pk for u in users])

    worker = None
    if not args.eager:
        from hiprecorder.celery import app

        # A fresh queue as well as a fresh database: tasks an earlier run left behind (their
        # prompts long sent, in a dropped database) would run first and delay this run's.
        stale = app.control.purge()
        print(f"queue: {stale} stale tasks purged")
        env = dict(os.environ)
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
        time.sleep(8)  # let the worker start before the clock starts
        print(
            f"worker: celery, {args.concurrency} processes, "
            f"broker {settings.CELERY_BROKER_URL.split(':')[0]}, batch {settings.PUSH_BATCH_SIZE}, "
            f"Web Push concurrency {settings.WEBPUSH_CONCURRENCY}"
        )
    else:
        print("worker: none (eager, in this process)")

    ready: dict[str, float] = {}
    committed: dict[str, float] = {}  # on_playback_ready returned: the prompt committed, its task sent

    def produce(part: list[Recording]) -> None:
        """One producer (a processing worker finishing its calls): each recording made ready."""
        from django.db import connection

        try:
            for rec in part:
                ready[str(rec.pk)] = time.time()
                lifecycle.on_playback_ready(rec)
                committed[str(rec.pk)] = time.time()
        finally:
            connection.close()

    started = time.time()
    if args.producers <= 1:
        for rec in recs:
            ready[str(rec.pk)] = time.time()
            lifecycle.on_playback_ready(rec)
            committed[str(rec.pk)] = time.time()
    else:  # several at once, as several processing workers finishing calls together
        threads = [
            threading.Thread(target=produce, args=(recs[n :: args.producers],)) for n in range(args.producers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    produced = time.time() - started
    deadline = time.time() + 300
    while len(server.received) < args.calls and time.time() < deadline:
        time.sleep(0.2)
    if worker is not None:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:  # (the figures are taken; a slow warm shutdown does not matter)
            print("worker: no warm shutdown within 30 s, killed")
            worker.kill()
            worker.wait()
    arrived: dict[str, float] = {}
    by_prompt: dict[str, str] = {}
    from notifications.models import PushPrompt

    with tenant_scope(tenant):
        for prompt_id, rec_id in PushPrompt.objects.values_list("id", "recording_id"):
            by_prompt[str(prompt_id)] = str(rec_id)
    for r in server.received:
        rid = by_prompt.get(str(r.payload.get("tag")), "")
        arrived[rid] = min(arrived.get(rid, r.at), r.at)
    latencies = [arrived[rid] - at for rid, at in ready.items() if rid in arrived]
    print(
        f"{args.calls} recordings ready in {produced:.2f} s ({args.calls / produced:,.0f}/s produced); "
        f"push requests received: {len(server.received)} of {args.calls}, rejected: {len(server.rejected)}"
    )
    if not latencies:
        return 1
    span = max(arrived.values()) - started
    print(f"prompts/s (first ready -> last push request): {len(arrived) / span:,.1f}")
    print(
        f"ready -> push service request: p50 {statistics.median(latencies) * 1000:,.0f} ms, "
        f"p95 {pct(latencies, 95) * 1000:,.0f} ms, max {max(latencies) * 1000:,.0f} ms"
    )
    hook = [committed[rid] - at for rid, at in ready.items() if rid in committed]
    fanout = [arrived[rid] - committed[rid] for rid in committed if rid in arrived]
    print(
        f"  of which on_playback_ready (rules, expiry, prompt, commit): "
        f"p50 {statistics.median(hook) * 1000:,.0f} ms, "
        f"p95 {pct(hook, 95) * 1000:,.0f} ms; committed -> push request: "
        f"p50 {statistics.median(fanout) * 1000:,.0f} ms, p95 {pct(fanout, 95) * 1000:,.0f} ms"
    )
    p95 = pct(latencies, 95)
    print(f"goal p95 < {P95_GOAL_S:.0f} s: {'met' if p95 < P95_GOAL_S else 'MISSED'}")
    print(json.dumps({"p95_ms": round(p95 * 1000), "received": len(server.received)}))
    server.stop()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if len(latencies) == args.calls and p95 < P95_GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
