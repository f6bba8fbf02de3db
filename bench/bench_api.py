"""Benchmark of the app's recordings list (``GET /api/v1/recordings``) on PostgreSQL.

    . /tmp/svc-x/env.sh && python bench/bench_api.py [--recordings 1500000] [--heavy 200000]
                                                     [--requests 200] [--depth 1000]

Needs ``DATABASE_URL`` pointing at a PostgreSQL server; works in its own database
``<name>_bench_api`` (created, migrated and filled once; kept for the next run). The tenant gets
``--recordings`` live recordings (plus 2 % deleted tombstones), ``--heavy`` of them owned by one
Playback user, the rest spread over 250 colleagues; a listener listens to a 20-member team.

Measured through gunicorn on a Unix socket in the production configuration (``bench/server.py``;
``--test-client`` for Django's test client instead): token authentication, tenant scope,
serializer, ``--requests`` requests each, p50/p95/max in ms of the client's time:

  (a) first page (50 rows) of the heavy user;
  (b) the page ``--depth`` pages deep, reached with the keyset cursor the API hands out, and the
      last page;
  (c) baseline, same run: the same deep page fetched with OFFSET (what a page-number paginator
      does), database query only — the cost the keyset cursor avoids;
  (d) the listener's first page and a page 100 deep (team members' recordings);
  (e) baseline, same run: ``GET /api/v1/auth/tokens`` (one tiny query) through the same stack —
      the floor of any request on this machine at this moment (the machine is shared).

Target: (a), (b) and (d) p95 under 20 ms. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from measure import bench_database_url, percentile, summary  # noqa: E402 (after the path)
from server import Server, production_env  # noqa: E402 (after the path)

TARGET_MS = 20.0


def fill(*, total: int, heavy: int) -> dict[str, object]:
    """Create (once) the tenant, its people and ``total`` recordings; return the actors."""
    from django.db import connection, transaction

    from recordings.models import Recording
    from tenants import services
    from tenants.models import ProcessingRegister, Role, Tenant, User
    from tenants.scoping import tenant_scope

    tenant = Tenant.objects.filter(slug="bench").first()
    if tenant is None:
        with transaction.atomic():
            tenant = services.create_tenant(name="Bench BV", slug="bench")
            # Recording can be switched on only once the register states its purpose (tenants.register).
            with tenant_scope(tenant):
                ProcessingRegister.objects.create(
                    tenant=tenant, purpose="Benchmark.", legitimate_interest="Benchmark data only."
                )
            heavy_user = services.create_user(tenant=tenant, username="heavy", password="x" * 20, pbx_id="1")
            services.set_playback_subscription(user=heavy_user, tier="days_90")
            listener = services.create_user(
                tenant=tenant, username="listener", password="x" * 20, role=Role.LISTENER, pbx_id="2"
            )
            others = []
            for n in range(250):
                user = services.create_user(
                    tenant=tenant, username=f"u{n}", password="x" * 20, pbx_id=str(100 + n)
                )
                services.set_licence(user=user, mode="always")
                others.append(user)
            services.create_team(tenant=tenant, name="Team", members=others[:20], listeners=[listener])
    heavy_user = User.objects.get(username="heavy", tenant=tenant)
    listener = User.objects.get(username="listener", tenant=tenant)
    with tenant_scope(tenant):
        have = Recording.objects.count()
    if have < total:
        print(f"filling {total - have} recordings (once) …", flush=True)
        others_ids = list(
            User.objects.filter(tenant=tenant, username__startswith="u").values_list("pk", flat=True)
        )
        started = time.perf_counter()
        _insert(tenant.pk, heavy_user.pk, others_ids, count=total - have, heavy=max(0, heavy - have))
        with connection.cursor() as cursor:
            cursor.execute("analyze recordings_recording")
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
    return {"tenant": tenant, "heavy": heavy_user, "listener": listener}


def _insert(
    tenant_id: uuid.UUID, heavy_id: uuid.UUID, others: list[uuid.UUID], *, count: int, heavy: int
) -> None:
    """INSERT … SELECT generate_series: every concrete column, Django's defaults for the rest.

    Raw SQL is fine here: a benchmark filling its own database.
    """
    from django.db import connection

    from recordings.models import Recording

    known = {
        "id": "md5(random()::text || g::text)::uuid",
        "tenant_id": "%(tenant)s::uuid",
        "owner_id": (
            "case when g <= %(heavy)s then %(heavy_id)s::uuid "
            "else (%(others)s::uuid[])[1 + (g %% %(n_others)s)] end"
        ),
        "call_id": "null",
        "kind": "case when g <= %(heavy)s then 'playback' else 'standard' end",
        "direction": "case when g %% 2 = 0 then 'inbound' else 'outbound' end",
        "leg": "'mobile'",
        "local_number": "'+31201234567'",
        "remote_number": "'+316' || lpad((g %% 100000000)::text, 8, '0')",
        "started_at": "now() - (g * interval '37 seconds')",
        "ended_at": "now() - (g * interval '37 seconds') + interval '3 minutes'",
        "duration_ms": "180000",
        "saved": "(g %% 3 = 0)",
        "created_at": "now()",
        "deleted_at": "case when g %% 50 = 0 then now() else null end",
        "peaks": "'[]'::jsonb",
        "paused_spans": "'[]'::jsonb",
        "segments": "'[]'::jsonb",
    }
    columns, values, params = (
        [],
        [],
        {
            "tenant": str(tenant_id),
            "heavy": heavy,
            "heavy_id": str(heavy_id),
            "others": [str(o) for o in others],
            "n_others": len(others),
        },
    )
    for field in Recording._meta.concrete_fields:
        columns.append(f'"{field.column}"')
        if field.column in known:
            values.append(known[field.column])
        else:
            default = field.get_default()
            key = f"default_{field.column}"
            params[key] = field.get_db_prep_save(default, connection)
            values.append(f"%({key})s")
    batch = 250_000
    done = 0
    with connection.cursor() as cursor:
        while done < count:
            size = min(batch, count - done)
            # Column names come from the model and expressions from this file; values are params.
            sql = (
                f"insert into recordings_recording ({', '.join(columns)}) "  # noqa: S608
                f"select {', '.join(values)} from generate_series(%(lo)s, %(hi)s) as g"
            )
            cursor.execute(sql, {**params, "lo": done + 1, "hi": done + size})
            done += size
            print(f"  {done}/{count}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=1_500_000)
    parser.add_argument("--heavy", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument(
        "--test-client", action="store_true", help="through Django's test client, not gunicorn"
    )
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database_url("bench_api")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # shared with gunicorn
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-api-data-"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    actors = fill(total=args.recordings, heavy=args.heavy)

    from recordings.listing import encode_cursor
    from recordings.models import Recording
    from tenants.api.tokens import issue_api_token
    from tenants.scoping import tenant_scope

    server = None if args.test_client else Server(production_env({"DATA_DIR": os.environ["DATA_DIR"]}))

    def client_for(user: object) -> Any:
        """A GET function (path, params) -> (status, JSON, ms) with ``user``'s API token."""
        token = issue_api_token(user=user, name="bench", acting_user=user).secret  # type: ignore[arg-type]
        if server is None:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

            def through_test_client(path: str, params: dict[str, object]) -> tuple[int, Any, float]:
                started = time.perf_counter()
                response = client.get(path, params)
                elapsed = (time.perf_counter() - started) * 1000
                return response.status_code, response.json(), elapsed

            return through_test_client
        http = server.client(headers={"Authorization": f"Bearer {token}"})

        def through_server(path: str, params: dict[str, object]) -> tuple[int, Any, float]:
            status, body, elapsed = http.timed_get(f"{path}?{urlencode(params)}" if params else path)
            return status, json.loads(body), elapsed

        return through_server

    def deep_cursor(user: object, pages: int, listener: bool = False) -> str:
        with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
            rows = Recording.objects.visible_to(user).order_by("-started_at", "-id")  # type: ignore[arg-type]
            row = rows[pages * 50 - 1]
        return encode_cursor(row.started_at, row.pk)

    def measure(
        get: Any, params: dict[str, object], path: str = "/api/v1/recordings", rows: int | None = 50
    ) -> list[float]:
        times = []
        for n in range(args.requests + 5):
            status, body, elapsed = get(path, params)
            assert status == 200, body
            if path.endswith("recordings") and rows is not None:
                assert len(body["results"]) == rows, len(body["results"])
            if n >= 5:  # warm-up
                times.append(elapsed)
        return times

    heavy = client_for(actors["heavy"])
    floor = measure(heavy, {}, "/api/v1/auth/tokens")
    first = measure(heavy, {})
    cursor = deep_cursor(actors["heavy"], args.depth)
    deep = measure(heavy, {"cursor": cursor})
    with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
        mine_visible = Recording.objects.visible_to(actors["heavy"]).count()  # type: ignore[arg-type]
    last_page = (mine_visible - 1) // 50
    last = measure(heavy, {"cursor": deep_cursor(actors["heavy"], last_page)}, rows=None)
    # The cursor page is exactly the OFFSET page (same rows), so the baseline is comparable.
    offset_times = []
    with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
        query = Recording.objects.visible_to(actors["heavy"]).order_by("-started_at", "-id")  # type: ignore[arg-type]
        keyset_ids = [r["id"] for r in heavy("/api/v1/recordings", {"cursor": cursor})[1]["results"]]
        assert [
            str(pk) for pk in query.values_list("pk", flat=True)[args.depth * 50 : args.depth * 50 + 50]
        ] == keyset_ids
        for _ in range(20):
            started = time.perf_counter()
            list(query[args.depth * 50 : args.depth * 50 + 50])
            offset_times.append((time.perf_counter() - started) * 1000)
    listener = client_for(actors["listener"])
    listener_first = measure(listener, {})
    listener_deep = measure(listener, {"cursor": deep_cursor(actors["listener"], 100)})
    if server is not None:
        server.stop()

    with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
        total = Recording.objects.count()
        live = Recording.objects.live().count()
        mine = Recording.objects.live().filter(owner=actors["heavy"]).count()
    print(f"\nrecordings in the tenant: {total} ({live} live); the heavy user's: {mine}")
    print(
        "through gunicorn (2 sync workers, Unix socket, production settings)"
        if server is not None
        else "through Django's test client (--test-client)"
    )
    print(f"(a) first page                 {summary(first)}")
    print(f"(b) page {args.depth} deep (cursor)     {summary(deep)}")
    print(f"    the last page ({last_page})      {summary(last)}")
    print(f"(c) baseline: OFFSET, same page {summary(offset_times)}  [query only]")
    print(f"(e) baseline: GET /api/v1/auth/tokens {summary(floor)}  [the stack's floor now]")
    print(f"(d) listener, first page       {summary(listener_first)}")
    print(f"    listener, page 100 deep    {summary(listener_deep)}")
    ok = all(percentile(t, 95) < TARGET_MS for t in (first, deep, last, listener_first, listener_deep))
    print(f"target p95 < {TARGET_MS:.0f} ms for (a), (b) and (d): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
