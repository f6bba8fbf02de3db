"""Shared test base: two tenants and the people of the product (the personas).

Tenant A ("acme"): an admin, a listener of team Sales, one user per licence mode (members of
Sales), one Playback user per tier, a user without a product, and an always-mode user outside
Sales. Tenant B ("globex"): its admin Charlie, who must see nothing of A. Plus support staff.
Everyone's password is ``PASSWORD``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tenants import services
from tenants.models import Role, Team, Tenant, User

PASSWORD = "correct horse battery staple"
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
