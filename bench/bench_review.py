"""Benchmark of the portal's review view and the live lists' "nothing new" poll, on the embedded
default (SQLite), with a baseline in the same run.

    python bench/bench_review.py [--recordings 200000] [--unsaved 300] [--requests 300]

Works in a fresh data folder (a temporary SQLite database, migrated and filled once per run): the
test personas, and for one Playback user ``--recordings`` saved playbacks over a year plus
``--unsaved`` unanswered ones (the review view's rows; it shows at most 100). Each figure is
through the whole Django stack in this process (test client, session, tenant scope), p50/p95/max
in ms over ``--requests`` requests:

  (a) baseline: ``GET /healthz`` (the floor of any request);
  (b) the review view's poll with its current tag (``If-None-Match``): 304, nothing rendered —
      target p95 < 3 ms;
  (c) the home list's poll with its current tag: 304 — target p95 < 3 ms;
  (d) the review view, full page (100 rows) — target p95 < 20 ms;
  (e) for information: the review list's partial after a change (a stale tag).

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

POLL_TARGET_MS = 3.0
REVIEW_TARGET_MS = 20.0


def measure(get: object, n: int) -> tuple[float, float, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        get()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], times[-1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=200_000)
    parser.add_argument("--unsaved", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-review-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    import django

    django.setup()
    import datetime as dt
    import uuid

    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    setup_test_environment()  # the test client's templates signal, as in the test suite
    call_command("migrate", verbosity=0)
    from recordings.models import Kind, Recording
    from tenants.scoping import tenant_scope
    from tests.base import make_personas

    pb = make_personas().playback["days_30"]
    tenant_id = pb.tenant_id
    assert tenant_id is not None
    now = timezone.now()
    t0 = time.perf_counter()
    with tenant_scope(tenant_id):
        batch: list[Recording] = []
        total = args.recordings + args.unsaved
        for i in range(total):
            unsaved = i >= args.recordings
            started = now - dt.timedelta(minutes=(total - i) * (1 if unsaved else 3))
            batch.append(
                Recording(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    owner=pb,
                    kind=Kind.PLAYBACK,
                    direction="inbound",
                    leg="mobile",
                    remote_number=f"+3161{i:07d}",
                    started_at=started,
                    ended_at=started + dt.timedelta(minutes=2),
                    duration_ms=120_000,
                    saved=not unsaved,
                    saved_at=None if unsaved else started,
                    expires_at=started + dt.timedelta(days=3 if unsaved else 30),
                    expiry_rule="unanswered" if unsaved else "days_30",
                )
            )
            if len(batch) == 5000:
                Recording.objects.bulk_create(batch)
                batch = []
        Recording.objects.bulk_create(batch)
    print(f"filled {args.recordings:,} saved + {args.unsaved} unsaved in {time.perf_counter() - t0:.0f} s")

    client = Client()
    client.force_login(pb)
    hx = {"HX-Request": "true"}
    review_tag = client.get("/review/")["ETag"]
    home_tag = client.get("/")["ETag"]
    assert client.get("/review/", headers={**hx, "If-None-Match": review_tag}).status_code == 304
    home_poll = {**hx, "HX-Target": "results", "If-None-Match": home_tag}
    assert client.get("/", headers=home_poll).status_code == 304
    n = args.requests
    rows = {
        "(a) baseline GET /healthz": measure(lambda: client.get("/healthz"), n),
        "(b) review poll, nothing new (304)": measure(
            lambda: client.get("/review/", headers={**hx, "If-None-Match": review_tag}), n
        ),
        "(c) home poll, nothing new (304)": measure(lambda: client.get("/", headers=home_poll), n),
        "(d) review view, full page": measure(lambda: client.get("/review/"), n),
        "(e) review list after a change": measure(
            lambda: client.get("/review/", headers={**hx, "If-None-Match": '"stale"'}), n
        ),
    }
    targets = {"(b)": POLL_TARGET_MS, "(c)": POLL_TARGET_MS, "(d)": REVIEW_TARGET_MS}
    missed = False
    for name, (p50, p95, top) in rows.items():
        target = targets.get(name[:3])
        verdict = ""
        if target is not None:
            ok = p95 < target
            missed |= not ok
            verdict = f"  target p95 < {target:g} ms: {'met' if ok else 'MISSED'}"
        print(f"{name:40s} p50 {p50:6.2f}  p95 {p95:6.2f}  max {top:7.2f} ms{verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
