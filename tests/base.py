"""Shared test base: two tenants and the people of the product (the personas).

Tenant A ("acme"): an admin, a listener of team Sales, one user per licence mode (members of
Sales), one Playback user per tier, a user without a product, and an always-mode user outside
Sales. Tenant B ("globex"): its admin Charlie, who must see nothing of A. Plus support staff.
Everyone's password is ``PASSWORD``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from tenants import services
from tenants.models import ProcessingRegister, Role, Team, Tenant, User
from tenants.scoping import tenant_scope

PASSWORD = "correct horse battery staple"
if TYPE_CHECKING:
    from django.http import HttpResponse
    from django.test import Client

PURPOSE = "Training and quality of customer service; proof of agreements made by phone."
INTEREST = "Agreements are made by phone; recording is the only reliable proof. Callers are told."
REAL_SERVICES = os.environ.get("HIPRECORDER_REAL_SERVICES") == "1"


@dataclass
class Personas:
    tenant_a: Tenant
    tenant_b: Tenant
    admin: User
    listener: User
    users: dict[str, User]
    playback: dict[str, User]
    no_product: User
    outsider: User
    charlie: User
    support: User
    sales: Team
    everyone: dict[str, User | None] = field(default_factory=dict)


def make_personas() -> Personas:
    acme = services.create_tenant(name="Acme BV", slug="acme", country="NL", language="nl")
    globex = services.create_tenant(name="Globex NV", slug="globex", country="BE", language="en")
    for tenant in (acme, globex):  # recording can be switched on only once its purpose is recorded
        with tenant_scope(tenant):  # (directly, so that the audit log starts empty)
            ProcessingRegister.objects.create(tenant=tenant, purpose=PURPOSE, legitimate_interest=INTEREST)

    def person(tenant: Tenant, username: str, role: str = Role.USER, pbx_id: str = "") -> User:
        return services.create_user(
            tenant=tenant, username=username, password=PASSWORD, role=role, pbx_id=pbx_id
        )

    admin = person(acme, "alice", Role.ADMIN, "100")
    listener = person(acme, "lisa", Role.LISTENER, "101")
    users = {}
    for n, mode in enumerate(["always", "always_pause", "on_demand", "on_demand_user_start", "never"]):
        users[mode] = person(acme, f"user_{mode}", Role.USER, str(201 + n))
        services.set_licence(user=users[mode], mode=mode)
    playback = {}
    for n, tier in enumerate(["days_30", "days_90", "minutes_100k"]):
        playback[tier] = person(acme, f"playback_{tier}", Role.USER, str(301 + n))
        services.set_playback_subscription(user=playback[tier], tier=tier)
    no_product = person(acme, "nobody", Role.USER, "400")
    outsider = person(acme, "olga", Role.USER, "401")  # always-mode user outside Sales
    services.set_licence(user=outsider, mode="always")
    sales = services.create_team(
        tenant=acme, name="Sales", members=list(users.values()), listeners=[listener]
    )
    charlie = person(globex, "charlie", Role.ADMIN, "100")
    for tenant_admin in (admin, charlie):  # admins must have an authenticator app (tenant default)
        TOTP.activate(tenant_admin, generate_totp_secret())
    support = services.create_support_staff(username="sam", password=PASSWORD)
    everyone: dict[str, User | None] = {
        "admin": admin,
        "listener": listener,
        "user": users["always"],
        "playback": playback["days_30"],
        "other_tenant_admin": charlie,
        "support": support,
        "anonymous": None,
    }
    return Personas(
        acme,
        globex,
        admin,
        listener,
        users,
        playback,
        no_product,
        outsider,
        charlie,
        support,
        sales,
        everyone,
    )


def make_superuser(username: str = "root") -> User:
    """A support-staff superuser (every Django-admin permission; still no tenant). Not one of
    the personas above, so that tests counting users and staff stay as they are."""
    return services.create_support_staff(username=username, password=PASSWORD, superuser=True)


def totp_code(user: User) -> str:
    """The authenticator app's current code for ``user`` (the real TOTP algorithm)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    return totp_for_secret(decrypt(authenticator.data["secret"]))


def totp_for_secret(secret: str) -> str:
    """The current code for ``secret``, read far enough from the period's end to still hold when
    the server checks it: a code read in a period's last second may arrive in the next period,
    where a person would read the new code (the server's tolerance is one period either way,
    tests do not lean on it)."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    period = app_settings.TOTP_PERIOD
    left = period - time.time() % period
    if left < 2.0:
        time.sleep(left + 0.01)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def login(client: Client, username: str, password: str = PASSWORD) -> HttpResponse:
    """Sign in through the real log-in form, answering the authenticator-code step if asked."""
    from django.urls import reverse

    response = client.post(reverse("account_login"), {"login": username, "password": password})
    if response.status_code == 302 and response.url == reverse("mfa_authenticate"):
        user = User.objects.get(username=username)
        response = client.post(reverse("mfa_authenticate"), {"code": totp_code(user)})
    return response


def login_support(client: Client, support: User, *, superuser: bool = True) -> None:
    """Sign support staff in to the admin the way the admin requires: an authenticator app
    (enrolled here if missing) and its code at log-in, through the real log-in form."""
    from allauth.mfa.models import Authenticator

    if superuser and not support.is_superuser:
        support.is_superuser = True
        support.save(update_fields=["is_superuser"])
    if not Authenticator.objects.filter(user=support, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(support, generate_totp_secret())
    client.logout()
    response = login(client, support.username)
    assert response.status_code == 302, response.status_code
    assert "_auth_user_id" in client.session


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, *args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, as a process of the project starts: from the project's
    root, with the project's settings, its own ``DATA_DIR`` and the extra environment ``env``
    (a value of ``""`` removes that variable). Output is captured as text; it never raises."""
    environ = {**os.environ, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "hiprecorder.settings"}
    for name, value in env.items():
        if value == "":
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
