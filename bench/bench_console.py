"""Benchmark of the management console (issue 16): the overview, the calls list, the audit log
and the people list, on PostgreSQL, through gunicorn in the production configuration.

    . /tmp/svc-x/env.sh && python bench/bench_console.py [--recordings 1500000] [--people 1000]
                                                         [--audit 1000000] [--requests 100]
                                                         [--sqlite /tmp/console_bench.sqlite3]

Needs ``DATABASE_URL`` pointing at a PostgreSQL server; works in its own database
``<name>_bench_console``, created, migrated and filled once (kept for the next runs: the
measurements only read, so a later run reuses the load; drop the database to refill). The fill
is ``INSERT … SELECT generate_series`` in batches: one tenant with ``--people`` people (a tenth
of them Playback users with the 100,000-minute tier, the rest licence mode Always), calls over
``--days`` days of which 85 % were recorded (5 % since deleted by the sweep, their recordings
tombstones) so that there are ``--recordings`` recordings, 7 % discarded, 2 % failed, 6 % not
recorded; standard recordings kept 90 days, Playback ones a third saved and the rest due 3 days
after the call; what was due before now is a tombstone, as the sweep leaves it; ``--audit``
audit entries. ``--sqlite PATH`` runs the same on the embedded default
(SQLite) instead, filled with the same rows through the ORM (slow: use smaller sizes).

Through gunicorn on a Unix socket in the production configuration (``bench/server.py``), signed in
as the tenant's admin, ``--requests`` requests each after 5 of warm-up, p50/p95/max of the
client's time (request sent to the body's last byte), in the same run as the baseline
``GET /manage/`` through the same stack (the admin's redirect to the overview: the floor of a
signed-in request):

  overview (target p95 < 100 ms); calls list: first page, a page 1,000 pages deep by the keyset
  cursor, the last page (target p95 < 20 ms each); audit log: first, 1,000 pages deep, last page
  (target < 20 ms each); the people list's first page (50 people; no target, shown for
  information).

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from measure import NEEDS_POSTGRES, bench_database_url, percentile  # noqa: E402 (after the path)
from server import Server, production_env  # noqa: E402 (after the path)

OVERVIEW_TARGET_MS = 100.0
LIST_TARGET_MS = 20.0
UNUSABLE = "!"  # Django's mark of an unusable password (nobody signs in; the client forces it)
RECORDED_SHARE = 0.85  # of the calls: recorded (80 %) or recorded and since deleted (5 %)


# --- the fill ---------------------------------------------------------------------------------


def fill(args: argparse.Namespace) -> Any:
    """Create (once) the tenant, its people, calls, recordings and audit entries."""
    from django.db import connection, transaction

    from recordings import usage
    from tenants import services
    from tenants.audit import AuditEntry
    from tenants.models import Licence, PlaybackSubscription, ProcessingRegister, Role, Tenant, User
    from tenants.scoping import tenant_scope

    tenant = Tenant.objects.filter(slug="bench").first()
    if tenant is not None and AuditEntry.objects.unscoped().filter(tenant=tenant).exists():
        return tenant  # loaded by an earlier run (the audit entries come last)
    if tenant is not None:
        sys.exit(
            "The bench database holds a load cut short: drop it (DROP DATABASE …_bench_console) and run again"
        )
    started = time.perf_counter()
    calls = math.ceil(args.recordings / RECORDED_SHARE)
    print(
        f"filling (once): {args.people} people, {calls:,} calls, {args.audit:,} audit entries …", flush=True
    )
    with transaction.atomic():
        tenant = services.create_tenant(name="Bench BV", slug="bench", country="NL", language="nl")
        with tenant_scope(tenant):
            ProcessingRegister.objects.create(tenant=tenant, purpose="bench", legitimate_interest="bench")
            people = [
                User(
                    username=f"p{n:04d}",
                    first_name="Jan",
                    last_name=f"Jansen{n % 50}",
                    tenant=tenant,
                    role=Role.USER,
                    pbx_id=str(1000 + n),
                    password=UNUSABLE,
                )
                for n in range(args.people)
            ]
            User.objects.bulk_create(people, batch_size=1000)
            User.objects.create(username="bench_admin", tenant=tenant, role=Role.ADMIN, password=UNUSABLE)
            people = list(User.objects.filter(tenant=tenant, role=Role.USER).order_by("username"))
            n_playback = len(people) // 10
            PlaybackSubscription.objects.bulk_create(
                [
                    PlaybackSubscription(tenant=tenant, user=u, tier="minutes_100k")
                    for u in people[:n_playback]
                ]
            )
            Licence.objects.bulk_create(
                [Licence(tenant=tenant, user=u, mode="always") for u in people[n_playback:]]
            )
    params = {
        "tenant": str(tenant.pk),
        "people": [str(p.pk) for p in people],
        "labels": [p.username for p in people],
        "n": len(people),
        "n_playback": n_playback,
        "step": args.days * 86400 / calls,
    }
    if connection.vendor == "postgresql":
        _fill_sql(params, calls=calls, audit=args.audit)
        with connection.cursor() as cursor:
            cursor.execute("vacuum analyze")
    else:
        _fill_orm(tenant, people, n_playback, calls=calls, audit=args.audit, days=args.days)
    with tenant_scope(tenant):
        usage.rebuild(tenant.pk)  # what the migration does for existing data
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
    return tenant


# g % 100: the call's state (and whether it has a recording, a tombstone for "deleted").
STATE_SQL = (
    "case when g %% 100 < 80 then 'recorded' when g %% 100 < 85 then 'deleted' "
    "when g %% 100 < 92 then 'discarded' when g %% 100 < 94 then 'failed' else 'not_recorded' end"
)


OVERDUE_SQL = (
    "update recordings_recording set deleted_at = expires_at, deletion_reason = expiry_rule, "
    "owner_id = null, "
    "storage_key = '', local_number = '', remote_number = '' "
    "where tenant_id = %(tenant)s::uuid and deleted_at is null and expires_at < now()"
)
OVERDUE_CALLS_SQL = (
    "update recordings_call c set state = 'deleted', local_number = '', remote_number = '' "
    "from recordings_recording r where r.call_id = c.id and r.tenant_id = %(tenant)s::uuid "
    "and r.deleted_at is not null and c.state = 'recorded'"
)


def _insert_select(
    table: str, model: Any, known: dict[str, str], params: dict[str, Any], source: str
) -> None:
    """INSERT … SELECT over ``source``: the expressions in ``known`` for their columns, the
    model's defaults for the rest. Raw SQL is fine here: a benchmark filling its own database."""
    from django.db import connection

    columns, values, params = [], [], dict(params)
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in known:
            continue  # an auto field: the sequence numbers it
        columns.append(f'"{field.column}"')
        if field.column in known:
            values.append(known[field.column])
        else:
            key = f"default_{field.column}"
            params[key] = field.get_db_prep_save(field.get_default(), connection)
            values.append(f"%({key})s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"insert into {table} ({', '.join(columns)}) select {', '.join(values)} {source}", params
        )


def _fill_sql(params: dict[str, Any], *, calls: int, audit: int) -> None:
    from django.db import connection, transaction

    from recordings.models import Call, Recording
    from tenants.audit import AuditEntry

    user = "(%(people)s::uuid[])[1 + g %% %(n)s]"
    playback = "(g %% %(n)s) < %(n_playback)s"
    at = "(now() - (g * %(step)s) * interval '1 second')"
    call_known = {
        "id": "md5('call' || g::text)::uuid",
        "tenant_id": "%(tenant)s::uuid",
        "pbx_call_id": "'b' || g::text",
        "user_id": user,
        "direction": "case when g %% 2 = 0 then 'inbound' else 'outbound' end",
        "leg": "'mobile'",
        "local_number": "'+31201234567'",
        "remote_number": "'+316' || lpad((g %% 100000000)::text, 8, '0')",
        "started_at": at,
        "ended_at": f"{at} + (30 + g %% 600) * interval '1 second'",
        "kind": f"case when {playback} then 'playback' else 'standard' end",
        "mode": f"case when {playback} then null else 'always' end",
        "record": "g %% 100 < 85",
        "announce": "false",
        "state": STATE_SQL,
        "error_code": "case when g %% 100 between 92 and 93 then 'processing_failed' else '' end",
        "outcome": "case when g %% 100 between 85 and 91 then 'nothing_retained' else '' end",
        "created_at": at,
        "updated_at": at,
    }
    batch = 250_000
    for lo in range(1, calls + 1, batch):
        hi = min(lo + batch - 1, calls)
        with transaction.atomic():
            _insert_select(
                "recordings_call", Call, call_known, {**params, "lo": lo, "hi": hi},
                "from generate_series(%(lo)s, %(hi)s) as g",
            )  # fmt: skip
            # The recording of each recorded call: a tombstone (no owner, deleted) for "deleted".
            gone = "c.state = 'deleted'"
            rec_known = {
                "id": "md5('rec' || c.id::text)::uuid",
                "tenant_id": "c.tenant_id",
                "call_id": "c.id",
                "owner_id": f"case when {gone} then null else c.user_id end",
                "kind": "c.kind",
                "direction": "c.direction",
                "leg": "c.leg",
                "local_number": f"case when {gone} then '' else c.local_number end",
                "remote_number": f"case when {gone} then '' else c.remote_number end",
                "started_at": "c.started_at",
                "ended_at": "c.ended_at",
                "duration_ms": "(extract(epoch from c.ended_at - c.started_at) * 1000)::int",
                "size_bytes": "3000 * extract(epoch from c.ended_at - c.started_at)::int",
                "storage_key": f"case when {gone} then '' else 'bench/' || c.id::text end",
                "peaks": "'[]'::jsonb",
                "paused_spans": "'[]'::jsonb",
                "segments": "'[]'::jsonb",
                # Playback: a third saved (no due date: the quota counts them), the rest due 3
                # days after the call; standard: the tenant's retention (90 days).
                "saved": "c.kind = 'playback' and hashtext(c.id::text) %% 3 = 0",
                "expires_at": (
                    "case when c.kind = 'playback' and hashtext(c.id::text) %% 3 = 0 then null "
                    "when c.kind = 'playback' then c.ended_at + interval '3 days' "
                    "else c.ended_at + interval '90 days' end"
                ),
                "expiry_rule": (
                    "case when c.kind = 'playback' and hashtext(c.id::text) %% 3 = 0 then '' "
                    "when c.kind = 'playback' then 'unanswered' else 'retention' end"
                ),
                "created_at": "c.ended_at",
                "deleted_at": f"case when {gone} then c.ended_at + interval '3 days' else null end",
                "deletion_reason": f"case when {gone} then 'retention' else '' end",
            }
            _insert_select(
                "recordings_recording", Recording, rec_known, {**params, "lo": lo, "hi": hi},
                "from recordings_call c where c.tenant_id = %(tenant)s::uuid "
                "and c.pbx_call_id in (select 'b' || g::text from generate_series(%(lo)s, %(hi)s) g) "
                "and c.state in ('recorded', 'deleted')",
            )  # fmt: skip
        print(f"  calls {hi:,}/{calls:,}", flush=True)
    # What the expiry sweep has deleted by now (a tenant in service has nothing long overdue):
    # tombstones, their calls "deleted".
    with connection.cursor() as cursor:
        cursor.execute(OVERDUE_SQL, params)
        cursor.execute(OVERDUE_CALLS_SQL, params)
    actions = ["manage.user.product", "auth.sign_in", "recording.played", "manage.team.update"]
    audit_known = {
        "chain": "'bench'",
        "seq": "g",
        "tenant_id": "%(tenant)s::uuid",
        "actor_id": user,
        "actor_label": "(%(labels)s::text[])[1 + g %% %(n)s]",
        "action": "(%(actions)s::text[])[1 + g %% 4]",
        "target_type": "'tenants.user'",
        "target_id": f"({user})::text",
        "detail": (
            'case when g %% 4 = 0 then \'{"before": "licence:always", "after": "licence:never"}\'::jsonb '
            "else '{}'::jsonb end"
        ),
        "created_at": "now() - (%(audit)s - g) * interval '1 second'",
        "prev_hash": "''",
        "hash": "'x'",
        "personal_keys": "'[]'::jsonb",
    }
    for lo in range(1, audit + 1, batch):
        hi = min(lo + batch - 1, audit)
        with connection.cursor() as cursor:
            cursor.execute("select 1")  # one transaction per batch (autocommit)
        _insert_select(
            "tenants_auditentry", AuditEntry, audit_known,
            {**params, "actions": actions, "audit": audit, "lo": lo, "hi": hi},
            "from generate_series(%(lo)s, %(hi)s) as g",
        )  # fmt: skip
        print(f"  audit entries {hi:,}/{audit:,}", flush=True)


def _fill_orm(tenant: Any, people: list[Any], n_playback: int, *, calls: int, audit: int, days: int) -> None:
    """The same rows through the ORM (SQLite)."""
    import datetime as dt
    import uuid

    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from recordings.models import Call, Recording
    from tenants.audit import AuditEntry
    from tenants.scoping import tenant_scope

    now = timezone.now()
    step = days * 86400 / calls
    states = ["recorded"] * 80 + ["deleted"] * 5 + ["discarded"] * 7 + ["failed"] * 2 + ["not_recorded"] * 6
    with tenant_scope(tenant):
        for lo in range(1, calls + 1, 20_000):
            call_rows, recs = [], []
            for g in range(lo, min(lo + 20_000, calls + 1)):
                user = people[g % len(people)]
                playback = g % len(people) < n_playback
                at = now - dt.timedelta(seconds=g * step)
                state = states[g % 100]
                call = Call(
                    id=uuid.uuid4(), tenant=tenant, pbx_call_id=f"b{g}", user=user,
                    direction="inbound" if g % 2 == 0 else "outbound", leg="mobile",
                    local_number="+31201234567", remote_number="+31612345678", started_at=at,
                    ended_at=at + dt.timedelta(seconds=30 + g % 600),
                    kind="playback" if playback else "standard", record=g % 100 < 85, announce=False,
                    state=state, error_code="processing_failed" if state == "failed" else "",
                )  # fmt: skip
                call_rows.append(call)
                if state in ("recorded", "deleted"):
                    saved = playback and g % 3 == 0
                    gone = state == "deleted"
                    assert call.ended_at is not None
                    recs.append(
                        Recording(
                            tenant=tenant,
                            call=call,
                            owner=None if gone else user,
                            kind=call.kind,
                            direction=call.direction,
                            leg="mobile",
                            started_at=at,
                            ended_at=call.ended_at,
                            duration_ms=(30 + g % 600) * 1000,
                            saved=saved,
                            expires_at=None
                            if saved
                            else call.ended_at + dt.timedelta(days=3 if playback else 90),
                            expiry_rule="" if saved else ("unanswered" if playback else "retention"),
                            deleted_at=call.ended_at + dt.timedelta(days=3) if gone else None,
                            deletion_reason="retention" if gone else "",
                        )
                    )
            with transaction.atomic():
                Call.objects.bulk_create(call_rows)
                Recording.objects.bulk_create(recs)
        overdue = Recording.objects.filter(
            deleted_at__isnull=True, expires_at__lt=now
        )  # as the sweep left it
        Call.objects.filter(recording__in=overdue, state="recorded").update(
            state="deleted", local_number="", remote_number=""
        )
        overdue.update(
            deleted_at=F("expires_at"), deletion_reason=F("expiry_rule"), owner=None, storage_key="",
            local_number="", remote_number="",
        )  # fmt: skip
    actions = ["manage.user.product", "auth.sign_in", "recording.played", "manage.team.update"]
    entries = []
    for g in range(1, audit + 1):
        who = people[g % len(people)]
        entries.append(
            AuditEntry(
                chain="bench",
                seq=g,
                tenant=tenant,
                actor_id=who.pk,
                actor_label=who.username,
                action=actions[g % 4],
                target_type="tenants.user",
                target_id=str(who.pk),
                detail={"before": "licence:always", "after": "licence:never"} if g % 4 == 0 else {},
                created_at=now - dt.timedelta(seconds=audit - g),
                prev_hash="",
                hash="x",
            )
        )
    AuditEntry.objects.unscoped().bulk_create(entries, batch_size=5000)


# --- the measurements -------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=1_500_000)
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--audit", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=120, help="the calls' period, ending now")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--depth", type=int, default=1000, help="pages deep for the deep page")
    ap.add_argument("--sqlite", metavar="PATH", help="the embedded default (SQLite) in PATH instead")
    args = ap.parse_args()
    if args.sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{args.sqlite}"
    else:
        os.environ["DATABASE_URL"] = bench_database_url(
            "bench_console", NEEDS_POSTGRES + ", or pass --sqlite PATH"
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # shared with gunicorn
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    call_command("migrate", verbosity=0)
    tenant = fill(args)

    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from recordings import calls_console
    from recordings.models import Call, Recording
    from tenants.audit import AuditEntry
    from tenants.models import User
    from tenants.scoping import tenant_scope

    admin = User.objects.get(username="bench_admin")
    if not Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(admin, generate_totp_secret())  # customer admins sign in with a second factor
    browser = Client()
    browser.force_login(admin)
    with tenant_scope(tenant):
        n_calls, n_recs = Call.objects.count(), Recording.objects.count()
        newest = Call.objects.filter(tenant=tenant).order_by("-started_at", "-id")
        deep_call = newest[args.depth * calls_console.CALLS_PAGE - 1]
        last_call = newest[n_calls - 10]  # the last page: fewer than a page of calls after it
    audits = AuditEntry.objects.unscoped().filter(tenant=tenant).order_by("-id")
    n_audit = audits.count()
    from tenants.views import AUDIT_PAGE

    deep_entry = audits.values_list("id", flat=True)[args.depth * AUDIT_PAGE - 1]
    last_entry = audits.values_list("id", flat=True)[n_audit - 10]
    people = User.objects.filter(tenant=tenant).count()
    database = connection.vendor
    print(
        f"tenant: {n_calls:,} calls, {n_recs:,} recordings, {n_audit:,} audit entries, {people:,} "
        f"people; {database}; through gunicorn (production settings, Unix socket); "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}",
        flush=True,
    )
    connection.close()

    env = production_env()
    server = Server(env)
    ok = True
    try:
        http = server.client(cookie=f"sessionid={browser.cookies['sessionid'].value}")

        def measure(
            label: str, path: str, target: float | None, must: bytes | None = None, status_ok: int = 200
        ) -> None:
            nonlocal ok
            times = []
            for n in range(args.requests + 5):
                status, body, elapsed = http.timed_get(path)
                assert status == status_ok, (label, status, body[:300])
                if must is not None:
                    assert must in body, (label, must)
                if n >= 5:  # warm-up
                    times.append(elapsed)
            p95 = percentile(times, 95)
            verdict = ""
            if target is not None:
                met = p95 < target
                ok &= met
                verdict = f"  target < {target:.0f} ms: {'met' if met else 'MISSED'}"
            print(
                f"{label:<34} p50 {statistics.median(times):7.2f}  p95 {p95:7.2f}  "
                f"max {max(times):7.2f} ms{verdict}",
                flush=True,
            )

        calls_url = reverse("manage_calls")
        audit_url = reverse("manage_audit")
        # The floor of a signed-in admin's request (session, tenant, MFA and role checks, a redirect)
        measure("baseline: /manage/ (a redirect)", reverse("manage_home"), None, status_ok=302)
        measure("overview", reverse("manage_overview"), OVERVIEW_TARGET_MS)
        measure("calls, first page", calls_url, LIST_TARGET_MS, b"after=")
        position = calls_console.position_of(deep_call)
        measure(
            f"calls, {args.depth} pages deep", f"{calls_url}?{urlencode({'after': position})}", LIST_TARGET_MS
        )
        position = calls_console.position_of(last_call)
        measure("calls, last page", f"{calls_url}?{urlencode({'after': position})}", LIST_TARGET_MS)
        measure("audit log, first page", audit_url, LIST_TARGET_MS)
        measure(f"audit log, {args.depth} pages deep", f"{audit_url}?before={deep_entry}", LIST_TARGET_MS)
        measure("audit log, last page", f"{audit_url}?before={last_entry}", LIST_TARGET_MS)
        measure("people (first page)", reverse("manage_users"), None)
    finally:
        server.stop()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
