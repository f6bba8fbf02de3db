"""Benchmark of the portal's review view and the live lists' "nothing new" poll, on PostgreSQL.

    . /tmp/svc-x/env.sh && python bench/bench_review.py [--recordings 1500000] [--heavy 200000]
                                                        [--unsaved 300] [--requests 300]
    python bench/bench_review.py --sqlite [--recordings 200000] …   (the embedded default)

On PostgreSQL (the default; ``DATABASE_URL`` must point at a server) it works in its own database
``<name>_bench_review``, created, migrated and filled once (bench_api's filler: one tenant with
``--recordings`` recordings, ``--heavy`` of them a Playback user's, the rest over 250 colleagues,
a listener of a 20-member team), then made to look like a lived-in tenant: every standard
recording due a year after its call, the heavy user's kept ones 90 days after, and of their
playbacks of the last three days ``--unsaved`` left unanswered (the review view's rows, 25 a
page). Requests go through gunicorn on a Unix socket in the production configuration
(``bench/server.py``); ``--sqlite`` fills a fresh SQLite database instead, served the same way.

p50/p95 in ms of the client's time (socket, gunicorn, every middleware) and of the server's own
(``Server-Timing``, from the request reaching the application to its answer), ``--requests``
each, as the heavy Playback user:

  (a) baseline: ``GET /healthz`` through the same stack (the floor of any request now);
  (b) the review view's poll with its current tag (``If-None-Match``): 304, nothing rendered —
      target server time p95 < 3 ms (the issue's measure);
  (c) the home list's poll with its current tag: 304 — target server time p95 < 3 ms;
  (d) the review view, full page (its first 25 rows) — target p95 < 20 ms;
  (e) for information: the review list's partial after a change (a stale tag);
  (f) for information: the listener's home poll, nothing new (304).

Then EXPLAIN ANALYZE of the review rows' query. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from measure import bench_database_url, percentile  # noqa: E402 (after the path)
from server import Server, production_env  # noqa: E402 (after the path)

NEEDS_SERVICES = (
    "Set DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis): scripts/services.sh start DIR; "
    ". DIR/env.sh. Or --sqlite for the embedded default."
)
POLL_TARGET_MS = 3.0
REVIEW_TARGET_MS = 20.0


def lived_in(actors: dict[str, Any], unsaved: int) -> None:
    """Realistic expiries (once), and ``unsaved`` open playbacks of the heavy user, the newest
    ended 5 minutes apart up to now (again whenever the last run's have aged)."""
    from django.db import connection

    heavy = str(actors["heavy"].pk)
    # Raw SQL: a benchmark shaping its own database.
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from recordings_recording where owner_id = %s and kind = 'playback' "
            "and not saved and deleted_at is null and expires_at > now() + interval '1 day'",
            [heavy],
        )
        if cursor.fetchone()[0] == unsaved:
            return
        print("making the tenant lived-in …", flush=True)
        cursor.execute(
            "update recordings_recording set expires_at = ended_at + interval '365 days', "
            "expiry_rule = 'retention' where kind = 'standard' and deleted_at is null and expires_at is null"
        )
        cursor.execute(
            "update recordings_recording set saved = true, saved_at = ended_at, "
            "expires_at = ended_at + interval '90 days', expiry_rule = 'days_90' "
            "where owner_id = %s and deleted_at is null and (not saved or expires_at is null)",
            [heavy],
        )
        cursor.execute(
            "update recordings_recording r set saved = false, saved_at = null, "
            "started_at = now() - s.n * interval '5 minutes' - interval '3 minutes', "
            "ended_at = now() - s.n * interval '5 minutes', "
            "expires_at = now() - s.n * interval '5 minutes' + interval '3 days', expiry_rule = 'unanswered' "
            "from (select id, row_number() over (order by started_at desc, id desc) as n "
            "  from recordings_recording where owner_id = %s and deleted_at is null "
            "  order by started_at desc, id desc limit %s) s where r.id = s.id",
            [heavy, unsaved],
        )
        # The reshaping churned the partial index of open playbacks (130,000 entries, now 300):
        # rebuilt, as it is small in a tenant that lived this way from the start.
        cursor.execute("reindex index rec_unanswered")
        cursor.execute("vacuum analyze recordings_recording")


def sqlite_fill(recordings: int, unsaved: int) -> dict[str, Any]:
    """The embedded default: a fresh SQLite database with the personas and one heavy Playback
    user's ``recordings`` kept playbacks plus ``unsaved`` open ones."""
    import datetime as dt
    import uuid

    from django.utils import timezone

    from recordings.models import Kind, Recording
    from tenants.scoping import tenant_scope
    from tests.base import make_personas

    personas = make_personas()
    heavy = personas.playback["days_90"]
    now = timezone.now()
    with tenant_scope(personas.tenant_a):
        batch: list[Recording] = []
        total = recordings + unsaved
        for i in range(total):
            open_ = i >= recordings
            started = now - dt.timedelta(minutes=(total - i) * (1 if open_ else 3))
            batch.append(
                Recording(
                    id=uuid.uuid4(),
                    tenant_id=personas.tenant_a.pk,
                    owner=heavy,
                    kind=Kind.PLAYBACK,
                    direction="inbound",
                    leg="mobile",
                    remote_number=f"+3161{i:07d}",
                    started_at=started,
                    ended_at=started + dt.timedelta(minutes=2),
                    duration_ms=120_000,
                    saved=not open_,
                    saved_at=None if open_ else started,
                    expires_at=started + dt.timedelta(days=3 if open_ else 90),
                    expiry_rule="unanswered" if open_ else "days_90",
                )
            )
            if len(batch) == 5000:
                Recording.objects.bulk_create(batch)
                batch = []
        Recording.objects.bulk_create(batch)
    return {"tenant": personas.tenant_a, "heavy": heavy, "listener": personas.listener}


def explain_review(actors: dict[str, Any]) -> str:
    from django.db import connection

    from recordings import review
    from tenants.scoping import tenant_scope

    with tenant_scope(actors["tenant"]):
        rows = review.to_review(actors["heavy"])[: review.REVIEW_PAGE]
        sql, params = rows.query.sql_with_params()
    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        if connection.vendor == "postgresql"
        else "EXPLAIN QUERY PLAN "
    )
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        return "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sqlite", action="store_true", help="the embedded default instead of PostgreSQL")
    parser.add_argument("--recordings", type=int, default=None, help="default 1,500,000 (200,000 on SQLite)")
    parser.add_argument("--heavy", type=int, default=200_000)
    parser.add_argument("--unsaved", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    if args.sqlite:
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME"):
            os.environ.pop(name, None)
        os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-review-")
        recordings = args.recordings or 200_000
    else:
        os.environ["DATABASE_URL"] = bench_database_url("bench_review", NEEDS_SERVICES)
        os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-review-data-"))
        os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)
        recordings = args.recordings or 1_500_000
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # shared with gunicorn
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client as TestClient
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.sqlite:
        actors = sqlite_fill(recordings, args.unsaved)
    else:
        from bench_api import fill

        actors = fill(total=recordings, heavy=args.heavy)
        lived_in(actors, args.unsaved)
    print(f"data ready in {time.perf_counter() - started:.0f} s", flush=True)

    server = Server(production_env({"DATA_DIR": os.environ["DATA_DIR"]}), timed=True)
    try:
        lines, ok = run(server, actors, args.requests, TestClient)
    finally:
        server.stop()
    print("\n".join(lines))
    print("EXPLAIN of the review rows:\n" + explain_review(actors))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


def run(server: Server, actors: dict[str, Any], requests: int, test_client: Any) -> tuple[list[str], bool]:
    from recordings.review import REVIEW_PAGE

    def signed_in(user: Any) -> Any:
        client = test_client()
        client.force_login(user)
        return server.client(cookie=f"sessionid={client.cookies['sessionid'].value}")

    heavy, listener = signed_in(actors["heavy"]), signed_in(actors["listener"])
    hx = {"HX-Request": "true"}

    def tag_of(http: Any, path: str) -> str:
        http.conn.request("GET", path, headers=http.headers)
        response = http.conn.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        return response.getheader("ETag")

    def measure(
        http: Any, path: str, headers: dict[str, str], status: int, rows: int | None = None
    ) -> tuple[list[float], list[float]]:
        """The client's times and the server's (Server-Timing) of ``requests`` answers."""
        times, server = [], []
        for n in range(requests + 10):
            got, body, elapsed = http.timed_get(path, headers)
            assert got == status, (path, got)
            if rows is not None:
                assert body.count(b'<li class="recording ') == rows, (
                    path,
                    body.count(b'<li class="recording '),
                )
            if n >= 10:  # warm-up
                times.append(elapsed)
                server.append(http.server_ms)
        return times, server

    review_tag, home_tag, listener_tag = tag_of(heavy, "/review/"), tag_of(heavy, "/"), tag_of(listener, "/")
    figures = {
        "(a) baseline GET /healthz": (measure(heavy, "/healthz", {}, 200), None),
        "(b) review poll, nothing new (304)": (
            measure(heavy, "/review/", {**hx, "HX-Target": "review-list", "If-None-Match": review_tag}, 304),
            POLL_TARGET_MS,
        ),
        "(c) home poll, nothing new (304)": (
            measure(heavy, "/", {**hx, "HX-Target": "results", "If-None-Match": home_tag}, 304),
            POLL_TARGET_MS,
        ),
        "(d) review view, full page (25 rows)": (
            measure(heavy, "/review/", {}, 200, rows=REVIEW_PAGE),
            REVIEW_TARGET_MS,
        ),
        "(e) review list after a change": (
            measure(heavy, "/review/", {**hx, "HX-Target": "review-list", "If-None-Match": '"stale"'}, 200),
            None,
        ),
        "(f) listener home poll, nothing new": (
            measure(listener, "/", {**hx, "HX-Target": "results", "If-None-Match": listener_tag}, 304),
            None,
        ),
    }
    lines = [
        "through gunicorn (2 sync workers, Unix socket, production settings); client: the round trip,"
        " server: the application's own time (Server-Timing)",
    ]
    ok = True
    polls = ("(b)", "(c)")  # the poll target is server time; the view's the whole trip
    for name, ((times, server), target) in figures.items():
        judged = server if name.startswith(polls) else times
        p95 = percentile(judged, 95)
        verdict = ""
        if target is not None:
            met = p95 < target
            ok &= met
            which = "server" if judged is server else "client"
            verdict = f"  target {which} p95 < {target:g} ms: {'met' if met else 'MISSED'}"
        lines.append(
            f"{name:40s} client p50 {statistics.median(times):6.2f} p95 {percentile(times, 95):6.2f}"
            f"  server p50 {statistics.median(server):6.2f} p95 {percentile(server, 95):6.2f} ms{verdict}"
        )
    return lines, ok


if __name__ == "__main__":
    sys.exit(main())
