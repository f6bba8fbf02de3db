"""Benchmark of the expiry sweep (recordings.lifecycle.sweep_expired) on PostgreSQL.

    . /tmp/svc-x/env.sh && python bench/bench_expiry.py [--total 3000000] [--due 1000000]
                                    [--objects 5000] [--batch N] [--reuse-load] [--skip-objects]

Works in its own database ``<DATABASE_URL name>_bench_expiry`` (created and migrated; the
recordings tables are emptied at the start of each phase).

Rows: ``--total`` recordings (with their calls) are bulk-loaded with COPY, ``--due`` of them due
(spread over the last 3 days; every third row, among rows due in the future or never: saved
100k-minute playbacks). ``--layout arrival`` (the default) stores the rows in the order their
calls ended, as a live table fills, so the due order follows the table; ``--layout random``
scatters the due order over the table (each claimed row on another page: the worst case).
Rows carry no storage object here (objects are measured apart). The loaded tables are vacuumed,
read into shared_buffers (pg_prewarm) and checkpointed before the measurements; ``--reuse-load``
keeps a copy of the loaded database and starts the next run from it. Measured in the same run,
with ``--batch`` rows per batch (default: ``settings.EXPIRY_SWEEP_BATCH``):
  (a) baseline: the bare tombstoning UPDATE in SQL, one batch per statement via the same partial
      index (``FOR UPDATE SKIP LOCKED``), one connection, on the first 100,000 due rows;
  (b1) ``sweep_expired(workers=1)`` on a quarter of the remaining due rows (one batch loop:
      claim + tombstone + call scrub in one statement, derived rows, commit), with the time its
      statements took, by kind;
  (b2) ``sweep_expired()`` as deployed (``settings.EXPIRY_SWEEP_WORKERS`` loops at once, or
      ``--workers``) on the rest: the rate the goal is about.
EXPLAIN (ANALYZE, BUFFERS) of the sweep's claiming query shows the index it uses.

Objects: ``--objects`` recordings with a real object each (16 KB), files and then S3 (the
``AWS_*`` settings, e.g. SeaweedFS from scripts/services.sh):
  (c) baseline: one delete call per object (``storage.delete``, what django-storages offers);
  (d) ``sweep_expired()`` (S3: DeleteObjects, 1000 keys per request; files: one unlink each).
Goals: (b2) at least 0.8x (a)'s rate on a durable server (fsync, synchronous_commit and
full_page_writes on, as production; the tests' server has them off: start the services with
``PG_OPTIONS="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"``), with the WAL bytes
per expired recording printed for (a) and (b2); objects >= 1,000/s. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from measure import bench_database_url

if TYPE_CHECKING:
    import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

ROWS_GOAL = 50_000
RATIO_GOAL = 0.8  # the sweep's rate against the bare batched UPDATE of the same rows, same run
OBJECTS_GOAL = 1_000
BASELINE_ROWS = 100_000


def empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE recordings_recording, recordings_call CASCADE")


def actors() -> tuple[object, object]:
    from tenants import services
    from tenants.models import Tenant, User

    tenant = Tenant.objects.filter(slug="bench").first() or services.create_tenant(
        name="Bench BV", slug="bench"
    )
    user = User.objects.filter(username="bench-playback").first() or services.create_user(
        tenant=tenant, username="bench-playback", password=None, pbx_id="1"
    )
    return tenant, user


def copy_rows(*, tenant_id: uuid.UUID, user_id: uuid.UUID, rows: list[tuple]) -> None:
    """COPY calls and recordings: rows of (recording id, call id, ended_at, expires_at, storage_key)."""
    from django.db import connection

    from recordings.models import Recording

    connection.ensure_connection()
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cur:
        with cur.copy(
            "COPY recordings_call (id, tenant_id, pbx_call_id, user_id, direction, leg, local_number, "
            "remote_number, started_at, ended_at, kind, record, announce, state, error_code, upload_key, "
            "upload_sha256, upload_content_type, upload_offset_ms, processing_attempts, created_at, "
            "updated_at, outcome, blacklisted, pending_rendition_key) FROM STDIN"
        ) as copy:
            for _rec, call_id, ended, _exp, _key in rows:
                copy.write_row(
                    (
                        call_id,
                        tenant_id,
                        f"b-{call_id.hex}",
                        user_id,
                        "inbound",
                        "mobile",
                        "+31201234567",
                        "+31612345678",
                        ended - timedelta(minutes=2),
                        ended,
                        "playback",
                        True,
                        True,
                        "recorded",
                        "",
                        "",
                        "",
                        "",
                        0,
                        1,
                        ended,
                        ended,
                        "kept",
                        False,
                        "",
                    )
                )
        # NOT NULL columns without a database default that not every version has (the script
        # also measures older code), with the value each row gets: integrity_problem (recordings
        # 0006), muted_spans and unmuted_key (0020).
        columns = {f.column for f in Recording._meta.concrete_fields}
        later = {
            c: value
            for c, value in (("integrity_problem", ""), ("muted_spans", "[]"), ("unmuted_key", ""))
            if c in columns
        }
        with cur.copy(
            "COPY recordings_recording (id, tenant_id, call_id, owner_id, kind, direction, leg, "
            "local_number, remote_number, started_at, ended_at, duration_ms, storage_key, mime, "
            "size_bytes, sha256, peaks, "
            "paused_spans, segments, saved, expires_at, expiry_rule, created_at, deletion_reason"
            + "".join(f", {c}" for c in later)
            + ") FROM STDIN"
        ) as copy:
            for rec_id, call_id, ended, exp, key in rows:
                saved = exp is None
                copy.write_row(
                    (
                        rec_id,
                        tenant_id,
                        call_id,
                        user_id,
                        "playback",
                        "inbound",
                        "mobile",
                        "+31201234567",
                        "+31612345678",
                        ended - timedelta(minutes=2),
                        ended,
                        120_000,
                        key,
                        "audio/mpeg",
                        16384,
                        "0" * 64,
                        "[0.1, 0.4, 0.2]",
                        "[]",
                        "[]",
                        saved,
                        exp,
                        "" if saved else "unanswered",
                        ended,
                        "",
                        *later.values(),
                    )
                )
    with connection.cursor() as cur:
        cur.execute("ANALYZE recordings_recording")
        cur.execute("ANALYZE recordings_call")


class _RollBack(Exception):
    pass


def hot_updates() -> dict[str, tuple[int, int]]:
    """(updates, HOT updates) per table so far (this backend's counters flushed first)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
            "WHERE relname IN ('recordings_recording', 'recordings_call')"
        )
        return {name: (upd, hot) for name, upd, hot in cur.fetchall()}


def _template_name(args: argparse.Namespace) -> str:
    from django.db import connection

    return f"{connection.settings_dict['NAME']}_tpl_{args.total}_{args.due}_{args.layout}"


def _admin_connect() -> psycopg.Connection[Any]:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    return psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True)


def restore_load(args: argparse.Namespace) -> bool:
    """--reuse-load: re-create the bench database from the copy kept after an earlier load of the
    same shape, if that load is less than 20 hours old (rows not due then are still not due: the
    not-yet-due ones expire 24 to 72 hours after the load). False when there is none."""
    from django.db import connection, connections

    template = _template_name(args)
    with _admin_connect() as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [template]
        ).fetchone()
        if not row or not row[0] or datetime.now(UTC) - datetime.fromisoformat(row[0]) > timedelta(hours=20):
            return False
        name = connection.settings_dict["NAME"]
        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # migrations added since the copy was kept
    return True


def keep_load(args: argparse.Namespace) -> None:
    """--reuse-load: keep a copy of the loaded, vacuumed database for the next runs."""
    from django.db import connection, connections

    template = _template_name(args)
    name = connection.settings_dict["NAME"]
    connections.close_all()
    t0 = time.perf_counter()
    with _admin_connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{template}"')
        admin.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
        admin.execute(f"COMMENT ON DATABASE \"{template}\" IS '{datetime.now(UTC).isoformat()}'")
    print(f"kept a copy of the loaded database as {template} in {time.perf_counter() - t0:.1f} s")


def prewarm() -> None:
    """Read the two tables and their indexes into shared_buffers (pg_prewarm), as a server in
    service has them cached; a copied database (--reuse-load) starts cold otherwise, and the
    measurement would include reading it in. Then a CHECKPOINT, so that the load's dirty pages
    are not written out during the measurement."""
    from django.db import connection

    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        cur.execute(
            "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c WHERE c.relkind IN ('r', 'i') AND "
            "(c.oid IN ('recordings_recording'::regclass, 'recordings_call'::regclass) OR c.oid IN "
            "(SELECT indexrelid FROM pg_index WHERE indrelid IN "
            "('recordings_recording'::regclass, 'recordings_call'::regclass)))"
        )
        pages = cur.fetchone()[0]
        cur.execute("CHECKPOINT")
    took = time.perf_counter() - t0
    print(f"prewarmed {pages:,} pages of the tables and their indexes, then CHECKPOINT: {took:.1f} s")


def wal_checkpoints() -> int:
    """Checkpoints the server started because max_wal_size worth of WAL was written (a checkpoint
    during a measurement writes out every dirty buffer on the same cores)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT checkpoints_req FROM pg_stat_bgwriter")
        return cur.fetchone()[0]


def wal_lsn() -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_wal_insert_lsn()")
        return cur.fetchone()[0]


def wal_bytes_since(lsn: str) -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [lsn])
        return int(cur.fetchone()[0])


def phase_rows(args: argparse.Namespace) -> bool:
    from django.conf import settings
    from django.db import connection, transaction

    from recordings import lifecycle
    from recordings.models import Recording

    tenant, user = actors()
    now = datetime.now(UTC)
    if args.reuse_load and restore_load(args):
        load_rows = False
    else:
        load_rows = True
        empty_tables()
    t0 = time.perf_counter()
    loaded = 0
    chunk = 250_000
    for start in range(0, args.total if load_rows else 0, chunk):
        rows = []
        for i in range(start, min(args.total, start + chunk)):
            if i % (args.total // args.due) == 0 and i // (args.total // args.due) < args.due:
                if args.layout == "arrival":  # older rows first: due order is table order
                    k = i // (args.total // args.due)
                    ended = now - timedelta(days=3, seconds=1 + (args.due - k) * 3 * 86400 / args.due)
                else:  # due order scattered over the table
                    ended = now - timedelta(days=3, seconds=1 + (i * 7919) % (3 * 86400))
                exp = ended + timedelta(days=3)  # due: in the past
            elif i % 3 == 0:
                ended, exp = now - timedelta(days=20), None  # saved, 100k-minute tier: no expiry
            else:
                ended = now - timedelta(hours=(i * 31) % 48)
                exp = ended + timedelta(days=3)  # unsaved, not yet due
            rows.append((uuid.uuid4(), uuid.uuid4(), ended, exp, ""))
        copy_rows(tenant_id=tenant.pk, user_id=user.pk, rows=rows)
        loaded += len(rows)
    due = Recording.objects.unscoped().filter(deleted_at__isnull=True, expires_at__lte=now).count()
    if load_rows:
        print(f"loaded {loaded:,} recordings and calls in {time.perf_counter() - t0:.1f} s; due now: {due:,}")
        # A table in service has been vacuumed: hint bits set, pages all-visible. Without this, the
        # first statements to read the freshly COPYed pages set the hint bits (and write the pages),
        # and autovacuum's first pass over the new rows runs during the measurement.
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) recordings_recording, recordings_call")
        print(f"VACUUM (ANALYZE) after the load: {time.perf_counter() - t0:.1f} s")
        if args.reuse_load:
            keep_load(args)
    else:
        took = time.perf_counter() - t0
        print(f"copied the loaded database (--reuse-load) in {took:.1f} s; due now: {due:,}")
    prewarm()
    durable = True
    with connection.cursor() as cur:
        shown = []
        for name in (
            "server_version",
            "shared_buffers",
            "max_wal_size",
            "fsync",
            "synchronous_commit",
            "full_page_writes",
        ):
            cur.execute(f"SHOW {name}")
            value = cur.fetchone()[0]
            shown.append(f"{name}={value}")
            if name in ("fsync", "synchronous_commit", "full_page_writes") and value == "off":
                durable = False
    print("server: " + ", ".join(shown))
    print(
        "durability: on, as production runs"
        if durable
        else "durability: OFF (the tests' server): not the target's configuration; start the services with "
        'PG_OPTIONS="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"'
    )

    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname, pg_size_pretty(pg_relation_size(oid)), pg_size_pretty(pg_indexes_size(oid)), "
            "(SELECT count(*) FROM pg_index WHERE indrelid = c.oid), "
            "coalesce((SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = c.oid), '') "
            "FROM pg_class c WHERE relname IN ('recordings_recording', 'recordings_call') ORDER BY relname"
        )
        for name, heap, idx, n_idx, opts in cur.fetchall():
            print(f"table {name}: heap {heap}, {n_idx} indexes {idx}{', ' + opts if opts else ''}")
    try:
        with transaction.atomic(), connection.cursor() as cur:
            if hasattr(lifecycle, "claim_and_tombstone_sql"):  # the set-based batch (one statement)
                sql, params = lifecycle.claim_and_tombstone_sql(connection, now=now, batch_size=args.batch)
                what = "the sweep's batch statement (claim + tombstone + call; rolled back)"
            else:  # before it: the claim of the row-by-row batch
                claim = (
                    Recording.objects.unscoped()
                    .select_for_update(skip_locked=True, of=("self",))
                    .filter(deleted_at__isnull=True, expires_at__isnull=False, expires_at__lte=now)
                    .order_by("expires_at")
                    .values_list(*lifecycle.deletion._CLAIMED)[: args.batch]
                )
                sql, params = claim.query.sql_with_params()
                what = "the sweep's claim"
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) " + sql, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
            raise _RollBack
    except _RollBack:
        pass
    print(f"EXPLAIN (ANALYZE, BUFFERS, WAL) of {what}:\n" + plan)

    checkpoints_before = wal_checkpoints()
    lsn = wal_lsn()
    # (a) baseline: the bare tombstoning UPDATE in SQL over the same index, one batch a statement.
    t0 = time.perf_counter()
    done = 0
    with connection.cursor() as cur:
        while done < min(BASELINE_ROWS, args.due // 10):
            with transaction.atomic():
                cur.execute(
                    "WITH due AS (SELECT id FROM recordings_recording WHERE deleted_at IS NULL "
                    "AND expires_at IS NOT NULL AND expires_at <= %s ORDER BY expires_at LIMIT %s "
                    "FOR UPDATE SKIP LOCKED) UPDATE recordings_recording r SET deleted_at = %s, "
                    "deletion_reason = r.expiry_rule, owner_id = NULL, local_number = '', "
                    "remote_number = '', peaks = '[]', storage_key = '', sha256 = '' "
                    "FROM due WHERE r.id = due.id",
                    [now, args.batch, now],
                )
                if cur.rowcount == 0:
                    break
                done += cur.rowcount
    base_s = time.perf_counter() - t0
    base_wal = wal_bytes_since(lsn)
    print(
        f"(a) baseline SQL tombstoning: {done:,} rows in {base_s:.2f} s -> {done / base_s:,.0f} rows/s; "
        f"WAL {base_wal / max(done, 1):,.0f} bytes a row"
    )

    spent: dict[str, list[float]] = {}

    def timed(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            words = sql.split()
            table = next((w for w in words[1:] if w.startswith('"')), "")
            if sql.startswith("WITH") and "SKIP LOCKED" in sql:
                key = "claim + tombstone + call UPDATE (one statement)"
            elif sql.startswith("WITH"):
                key = "probe derived tables"
            else:
                key = f"{words[0]} {table}".strip()
            spent.setdefault(key, []).append(time.perf_counter() - t)

    hot_before = hot_updates()
    # (b1) one loop, on the first quarter of what is left: where a loop's time goes, by statement.
    left_batches = -(-(args.due - done) // args.batch)
    t0 = time.perf_counter()
    with connection.execute_wrapper(timed):
        one = lifecycle.sweep_expired(
            now=now, batch_size=args.batch, workers=1, max_batches=max(1, left_batches // 4)
        )
    one_s = time.perf_counter() - t0
    one_rate = one.rows / one_s
    print(
        f"(b1) sweep_expired(workers=1): {one.rows:,} rows in {one.batches} batches, {one_s:.2f} s -> "
        f"{one_rate:,.0f} rows/s ({one_rate / (done / base_s):.2f}x the baseline's rate)"
    )
    for key, times in sorted(spent.items(), key=lambda kv: -sum(kv[1])):
        print(f"    {sum(times):7.2f} s in {len(times):5} x {key}")
    other = one_s - sum(sum(t) for t in spent.values())
    print(f"    {other:7.2f} s outside statements (commits, Python)")
    # (b2) the sweep as deployed (settings.EXPIRY_SWEEP_WORKERS loops) on the rest.
    workers = args.workers or settings.EXPIRY_SWEEP_WORKERS
    lsn = wal_lsn()
    t0 = time.perf_counter()
    result = lifecycle.sweep_expired(now=now, batch_size=args.batch, workers=workers)
    sweep_s = time.perf_counter() - t0
    sweep_wal = wal_bytes_since(lsn)
    rate = result.rows / sweep_s
    ratio = rate / (done / base_s)
    print(
        f"(b2) sweep_expired(workers={workers}): {result.rows:,} rows in {result.batches} batches, "
        f"{sweep_s:.2f} s -> {rate:,.0f} rows/s ({ratio:.2f}x the baseline's rate); "
        f"WAL {sweep_wal / max(result.rows, 1):,.0f} bytes per expired recording"
    )
    hot_after = hot_updates()
    for name in sorted(hot_after):
        upd = hot_after[name][0] - hot_before.get(name, (0, 0))[0]
        hot = hot_after[name][1] - hot_before.get(name, (0, 0))[1]
        print(f"    {name}: {upd:,} rows updated by the sweep, {hot:,} of them HOT (no index entry)")
    print(f"    checkpoints forced by WAL volume during (a)-(b2): {wal_checkpoints() - checkpoints_before}")
    left = Recording.objects.unscoped().filter(deleted_at__isnull=True, expires_at__lte=now).count()
    ok = left == 0 and ratio >= RATIO_GOAL
    print(
        f"due rows left: {left}; goal >= {RATIO_GOAL}x the bare UPDATE's rate: {'met' if ok else 'MISSED'}"
        f"{'' if durable else ' (on a server without durability)'}; {ROWS_GOAL:,} rows/s (the earlier "
        f"goal): {'reached' if rate >= ROWS_GOAL else 'not reached'}"
    )
    return ok


def phase_objects(args: argparse.Namespace, storage: object, label: str) -> bool:
    from recordings import lifecycle

    tenant, user = actors()
    payload = os.urandom(16384)

    def make(n: int, prefix: str) -> list[str]:
        keys = [f"bench/{prefix}/{uuid.uuid4()}.mp3" for _ in range(n)]
        for key in keys:
            storage.save(key, io.BytesIO(payload))  # type: ignore[attr-defined]
        return keys

    keys = make(args.objects, "baseline")
    t0 = time.perf_counter()
    for key in keys:
        storage.delete(key)  # type: ignore[attr-defined]
    base_s = time.perf_counter() - t0
    print(
        f"[{label}] (c) baseline, one delete per object: {len(keys):,} in {base_s:.2f} s -> "
        f"{len(keys) / base_s:,.0f} objects/s"
    )

    empty_tables()
    now = datetime.now(UTC)
    keys = make(args.objects, "sweep")
    rows = [(uuid.uuid4(), uuid.uuid4(), now - timedelta(days=4), now - timedelta(days=1), k) for k in keys]
    copy_rows(tenant_id=tenant.pk, user_id=user.pk, rows=rows)
    t0 = time.perf_counter()
    result = lifecycle.sweep_expired(now=now, batch_size=args.batch, storage=storage)  # type: ignore[arg-type]
    sweep_s = time.perf_counter() - t0
    left = sum(1 for k in keys[:200] if storage.exists(k))  # type: ignore[attr-defined]
    rate = result.objects / sweep_s
    print(
        f"[{label}] (d) sweep_expired(): {result.rows:,} rows, {result.objects:,} objects "
        f"in {sweep_s:.2f} s -> {rate:,.0f} objects/s; objects left (of 200 checked): {left}; "
        f"goal >= {OBJECTS_GOAL:,}/s: "
        f"{'met' if rate >= OBJECTS_GOAL and not left else 'MISSED'}"
    )
    return rate >= OBJECTS_GOAL and not left


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total", type=int, default=3_000_000)
    ap.add_argument("--due", type=int, default=1_000_000)
    ap.add_argument("--objects", type=int, default=5_000)
    ap.add_argument("--batch", type=int, default=0, help="rows per batch (default: EXPIRY_SWEEP_BATCH)")
    ap.add_argument("--skip-rows", action="store_true")
    ap.add_argument(
        "--layout",
        choices=["arrival", "random"],
        default="arrival",
        help="arrival: rows stored in call order, as they arrive (due order follows the table); "
        "random: due order scattered over the table (the worst case)",
    )
    ap.add_argument("--workers", type=int, default=0, help="(b2)'s loops (default: settings)")
    ap.add_argument(
        "--reuse-load",
        action="store_true",
        help="keep a copy of the loaded database and start from it on the next runs of the same "
        "--total/--due/--layout (within 20 hours), instead of loading again (~4 min at full scale)",
    )
    ap.add_argument("--skip-objects", action="store_true")
    args = ap.parse_args()
    os.environ["DATABASE_URL"] = bench_database_url("bench_expiry")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    import logging

    import django

    django.setup()
    from django.conf import settings

    args.batch = args.batch or settings.EXPIRY_SWEEP_BATCH
    logging.getLogger("recordings.lifecycle").setLevel(logging.WARNING)
    from django.core.files.storage import FileSystemStorage, storages
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    ok = True
    if not args.skip_objects:
        with tempfile.TemporaryDirectory(prefix="bench-expiry-") as folder:
            ok &= phase_objects(args, FileSystemStorage(location=folder), "files")
        if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
            ok &= phase_objects(args, storages["recordings"], "S3 (SeaweedFS)")
        else:
            print("[S3] skipped: no AWS_STORAGE_BUCKET_NAME")
    if not args.skip_rows:
        ok &= phase_rows(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
