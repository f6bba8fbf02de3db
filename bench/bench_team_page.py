"""Benchmark of Manage → Teams → a team with 1,000 people in the tenant (SQLite, test client):
the team page and its search-as-you-type answer, against the picker it replaced (every active
person as a member checkbox and every listener as a listener checkbox, rendered in the same run).

    .venv/bin/python bench/bench_team_page.py [--people 1000] [--requests 50]
                                              [--db /tmp/team_bench.sqlite3]

Fills its own SQLite file once (kept for the next run; delete it to refill): one tenant with
``--people`` people (a tenth of them listeners, many sharing a name), one team of 20 members and
3 listeners. Prints p50/p95/max and the size of each answer; exits 0 (information, not a gate).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--db", default="/tmp/team_bench.sqlite3")
    args = ap.parse_args()
    os.environ["DATABASE_URL"] = f"sqlite:///{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    import django

    django.setup()
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from tenants import forms
    from tenants.models import Team, Tenant, User
    from tenants.scoping import tenant_scope

    setup_test_environment()
    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.filter(slug="teambench").first() or fill(args.people)
    admin = User.objects.get(username="team_admin")
    if not Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(admin, generate_totp_secret())
    client = Client()
    client.force_login(admin)
    with tenant_scope(tenant):
        team = Team.objects.get(name="Helpdesk")
    url = reverse("manage_team", args=[team.pk])

    def timed(label: str, run: object) -> None:
        times, size = [], 0
        for _n in range(args.requests):
            start = time.perf_counter()
            size = len(run())  # type: ignore[operator]
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(
            f"{label:<52} p50 {statistics.median(times):6.1f}  p95 {p95:6.1f}  max {times[-1]:6.1f} ms"
            f"  {size / 1024:7.1f} KiB"
        )

    def page() -> bytes:
        response = client.get(url)
        assert response.status_code == 200
        return bytes(response.content)

    def search() -> bytes:
        response = client.get(url, {"q": "jansen"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        return bytes(response.content)

    def old_picker() -> str:
        # What the page rendered before: the whole tenant as checkboxes (the baseline).
        with tenant_scope(tenant):
            people = User.objects.filter(tenant=tenant, is_active=True).order_by("username")
            form = forms.TeamPeopleForm(people=people, initial={"name": team.name})  # checkbox widgets
            return str(form.as_div())

    print(f"{args.people} people; {args.requests} requests each")
    timed("baseline: the old picker's form alone (1,000 boxes)", old_picker)
    timed("team page (members, listeners, reach)", page)
    timed("search-as-you-type answer (htmx, 'jansen')", search)


def fill(people: int) -> object:
    from tenants import services
    from tenants.models import Role, Tenant
    from tenants.scoping import tenant_scope

    tenant = services.create_tenant(name="Team bench", slug="teambench")
    services.create_user(tenant=tenant, username="team_admin", password=None, role=Role.ADMIN)
    made = []
    for n in range(people):
        role = Role.LISTENER if n % 10 == 0 else Role.USER
        last = "Jansen" if n % 25 == 0 else f"Name{n:04d}"
        made.append(
            services.create_user(
                tenant=tenant,
                username=f"p{n:04d}",
                password=None,
                role=role,
                first_name="Jan",
                last_name=last,
            )
        )
    with tenant_scope(tenant):
        services.create_team(
            tenant=tenant,
            name="Helpdesk",
            members=made[1:21],
            listeners=[p for p in made if p.role == Role.LISTENER][:3],
        )
    return Tenant.objects.get(slug="teambench")


if __name__ == "__main__":
    main()
