"""``manage.py demo``: create (idempotently) a demo customer with one person per product and role."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from notifications.services import register_device
from recordings import alerts, privacy, products, rules
from recordings.models import ContactRule, KeywordAlert
from recordings.transcripts import optin
from tenants import services
from tenants.models import RecordingMode, Role, Team, Tenant, User
from tenants.scoping import tenant_scope

BLACKLIST = "+31201111111"
WHITELIST = "+31202222222"

# (key in the JSON, role, product kind, mode or tier, pbx_id)
# Keyword alerts of the demo: the simulator's English speech says "invoice" (make run's model is
# English); the Dutch ones are for a deployment with a multilingual model.
DEMO_ALERTS = ("invoice", "factuur", "opzeggen", "klacht")
PEOPLE: list[tuple[str, str, str | None, str | None, str]] = [
    ("admin", Role.ADMIN, None, None, "1000"),
    ("listener", Role.LISTENER, None, None, "1009"),
    ("always", Role.USER, "licence", RecordingMode.ALWAYS, "1001"),
    ("always_pause", Role.USER, "licence", RecordingMode.ALWAYS_PAUSE, "1002"),
    ("on_demand", Role.USER, "licence", RecordingMode.ON_DEMAND, "1003"),
    ("on_demand_user_start", Role.USER, "licence", RecordingMode.ON_DEMAND_USER_START, "1004"),
    ("never", Role.USER, "licence", RecordingMode.NEVER, "1005"),
    ("playback_days_30", Role.USER, "playback", "days_30", "2001"),
    ("playback_days_90", Role.USER, "playback", "days_90", "2002"),
    ("playback_minutes_100k", Role.USER, "playback", "minutes_100k", "2003"),
    ("no_product", Role.USER, None, None, "3001"),
]


def username_for(slug: str, key: str) -> str:
    return key if slug == "demo" else f"{slug}.{key}"


class Command(BaseCommand):
    help = "Create or refresh a demo tenant with a user per licence mode and Playback tier."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo", help="the demo tenant's slug (default: demo)")
        parser.add_argument("--json", action="store_true", help="print only the JSON with log-ins and key")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["tenant"]
        with transaction.atomic():
            result = self.build(slug)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(self.style.SUCCESS(f"Demo tenant {slug!r} is ready. Sign in with:"))
        for key, person in result["users"].items():
            self.stdout.write(f"  {key:24} {person['username']:28} {person['password']}")
        self.stdout.write(f"Phone-system key: {result['pbx_key']}")
        if not Tenant.objects.get(slug=slug).require_mfa_for_admins:
            self.stdout.write("The demo's admin signs in without a second factor (real tenants require one).")

    @staticmethod
    def give_rules_and_phone(user: User) -> None:
        """The demo's contact rules, and a phone whose prompts land in the portal's outbox."""
        wanted = {BLACKLIST: ContactRule.List.BLACKLIST, WHITELIST: ContactRule.List.WHITELIST}
        for number, list_type in wanted.items():
            rule = ContactRule.objects.filter(user=user, number=number).first()
            if rule is None:
                rules.add_rule(user=user, list_type=list_type, number=number, name="Demo")
            elif rule.list_type != list_type:
                rules.update_rule(rule=rule, list_type=list_type)
        register_device(user=user, token=f"demo-outbox-{user.pk}", platform="web", app_version="demo")

    def build(self, slug: str) -> dict[str, Any]:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            tenant = services.create_tenant(name=f"Demo ({slug})", slug=slug, country="NL", language="nl")
            # Real tenants require a second factor for their admins; the demo's admin log-in is printed
            # for trying the product at once. Support staff can switch it on in the admin.
            Tenant.objects.filter(pk=tenant.pk).update(require_mfa_for_admins=False)
        if not privacy.get_register(tenant).has_purpose:  # recording needs a recorded purpose
            privacy.update_register(
                tenant=tenant,
                acting_user=None,
                purpose="Training and quality of customer service; proof of agreements made by phone.",
                legitimate_interest=(
                    "Agreements with customers are made by phone and recording is the only reliable "
                    "proof of them; callers hear an announcement and can ask for erasure."
                ),
            )
        if not tenant.transcription_enabled:  # the demo shows transcripts of the simulator's speech
            optin.set_transcription(
                tenant=tenant,
                acting_user=None,
                enabled=True,
                purpose="Finding calls by what was said and reading them at a glance (training, quality).",
            )
        users: dict[str, dict[str, str]] = {}
        people: dict[str, User] = {}
        with tenant_scope(tenant):
            for key, role, product, setting, pbx_id in PEOPLE:
                password = secrets.token_urlsafe(12)
                username = username_for(slug, key)
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = services.create_user(
                        tenant=tenant, username=username, password=password, role=role, pbx_id=pbx_id
                    )
                else:
                    user.set_password(password)
                    user.role, user.pbx_id, user.is_active = role, pbx_id, True
                    user.save()
                # One product or none (a removed subscription: saved playbacks due within 30 days).
                products.set_user_product(user=user, product=product or "", setting=setting or "")
                people[key] = user
                users[key] = {"username": username, "password": password, "pbx_id": pbx_id}
            sales = Team.objects.filter(name="Sales").first() or services.create_team(
                tenant=tenant, name="Sales"
            )
            members = [people[k] for k, _r, product, _s, _p in PEOPLE if product == "licence"]
            services.set_team_people(team=sales, members=members, listeners=[people["listener"]])
            for phrase in DEMO_ALERTS:
                if not KeywordAlert.objects.filter(folded=alerts.clean_phrase(phrase)[1]).exists():
                    alerts.add_alert(tenant=tenant, phrase=phrase, acting_user=people["admin"])
            for key, _r, product, _s, _p in PEOPLE:
                if product == "playback":
                    self.give_rules_and_phone(people[key])
        issued = services.create_pbx_key(tenant=tenant, name="Demo phone system")
        return {
            "tenant": slug,
            "pbx_key": issued.secret,
            "users": users,
            "rules": {"blacklist": BLACKLIST, "whitelist": WHITELIST},
        }
