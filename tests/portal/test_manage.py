"""The management environment: customer admins manage their own tenant; every change is audited."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tenants.audit import AuditEntry
from tenants.models import Licence, PbxKey, PlaybackSubscription, Team, Tenant, User
from tenants.scoping import tenant_scope
from tenants.services import authenticate_pbx_key
from tests.base import PASSWORD, Personas


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    client.force_login(personas.admin)
    return client


def _actions(tenant: Tenant) -> list[str]:
    return list(
        AuditEntry.objects.unscoped().filter(tenant=tenant).order_by("seq").values_list("action", flat=True)
    )


def test_change_a_licence_mode_and_product(admin: Client, personas: Personas) -> None:
    user = personas.users["always"]
    response = admin.post(
        reverse("manage_user_product", args=[user.pk]), {"product": "licence:on_demand", "confirm": "1"}
    )
    assert response.status_code == 302
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=user).mode == "on_demand"
    # switching to Playback in one step replaces the licence
    admin.post(
        reverse("manage_user_product", args=[user.pk]), {"product": "playback:days_90", "confirm": "1"}
    )
    with tenant_scope(personas.tenant_a):
        assert not Licence.objects.filter(user=user).exists()
        assert PlaybackSubscription.objects.get(user=user).tier == "days_90"
    entry = AuditEntry.objects.unscoped().filter(action="manage.user.product").order_by("seq").last()
    assert entry.detail == {"before": "licence:on_demand", "after": "playback:days_90"}
    assert entry.actor_label == "alice"


def test_bad_product_changes_nothing(admin: Client, personas: Personas) -> None:
    user = personas.users["always"]
    response = admin.post(
        reverse("manage_user_product", args=[user.pk]), {"product": "licence:sometimes", "confirm": "1"}
    )
    assert response.status_code == 400
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=user).mode == "always"
    assert "manage.user.product" not in _actions(personas.tenant_a)


def _follow_password_link(message: mail.EmailMessage, password: str) -> None:
    """The person opens the link from their e-mail in a browser of their own and chooses a password."""
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", message.body)
    assert link is not None, message.body
    browser = Client()
    form_page = browser.get(urlsplit(link.group(0)).path, follow=True)
    assert form_page.status_code == 200
    done = browser.post(form_page.redirect_chain[-1][0], {"password1": password, "password2": password})
    assert done.status_code == 302


def test_a_new_person_sets_their_own_password_from_a_link(admin: Client, personas: Personas) -> None:
    fields = {"username": "newbie", "role": "user", "pbx_id": "555", "first_name": "Nico"}
    # without an e-mail address nobody could set the password but the admin: refused, nothing made
    refused = admin.post(reverse("manage_users"), fields)
    assert refused.status_code == 400 and not User.objects.filter(username="newbie").exists()
    assert not mail.outbox
    response = admin.post(reverse("manage_users"), {**fields, "email": "nico@acme.example"})
    newbie = User.objects.get(username="newbie")
    assert response.status_code == 302 and response.url == reverse("manage_user", args=[newbie.pk])
    assert newbie.tenant == personas.tenant_a and not newbie.has_usable_password()
    [message] = mail.outbox
    assert message.to == ["nico@acme.example"]
    _follow_password_link(message, "nicos own secret 42")
    fresh = Client()
    login = fresh.post(reverse("account_login"), {"login": "newbie", "password": "nicos own secret 42"})
    assert login.status_code == 302
    # duplicate phone-system id: refused, nothing created
    dup = admin.post(
        reverse("manage_users"),
        {"username": "other", "role": "user", "pbx_id": "555", "email": "o@acme.example"},
    )
    assert dup.status_code == 400
    assert not User.objects.filter(username="other").exists()


def test_role_deactivate_and_reset_password(admin: Client, personas: Personas) -> None:
    bob = personas.users["never"]
    admin.post(reverse("manage_user_update", args=[bob.pk]), {"role": "listener", "first_name": "Bob"})
    bob.refresh_from_db()
    assert bob.role == "listener" and bob.first_name == "Bob"
    # deactivated: the session ends at once
    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.get(reverse("home")).status_code == 200
    # "Deactivate" asks what happens to the recordings first (offboarding), then deactivates
    asked = admin.post(reverse("manage_user_active", args=[bob.pk]), {"active": "0"})
    assert asked["Location"] == reverse("manage_user_offboard", args=[bob.pk])
    assert bob_client.get(reverse("home")).status_code == 200
    admin.post(reverse("manage_user_offboard", args=[bob.pk]), {"choice": "keep", "confirm": "1"})
    assert bob_client.get(reverse("home")).status_code == 302
    admin.post(reverse("manage_user_active", args=[bob.pk]), {"active": "1"})
    # A reset is a link to Bob's own address: the admin never sees or sets his password.
    assert admin.post(reverse("manage_user_password", args=[bob.pk])).status_code == 302
    assert not mail.outbox  # Bob has no e-mail address yet: nothing sent
    User.objects.filter(pk=bob.pk).update(email="bob@acme.example")
    response = admin.post(reverse("manage_user_password", args=[bob.pk]), follow=True)
    assert "bob@acme.example" in response.content.decode()
    [message] = mail.outbox
    assert message.to == ["bob@acme.example"]
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)  # unchanged until Bob follows the link
    _follow_password_link(message, "bobs own secret 42")
    bob.refresh_from_db()
    assert bob.check_password("bobs own secret 42")
    assert {
        "manage.user.update",
        "manage.user.offboard",
        "manage.user.activate",
        "manage.user.password_reset",
    } <= set(_actions(personas.tenant_a))


def test_an_admin_cannot_lock_themselves_out(admin: Client, personas: Personas) -> None:
    me = personas.admin
    assert admin.post(reverse("manage_user_update", args=[me.pk]), {"role": "user"}).status_code == 400
    admin.post(reverse("manage_user_active", args=[me.pk]), {"active": "0"})
    me.refresh_from_db()
    assert me.role == "admin" and me.is_active


def test_teams(admin: Client, personas: Personas) -> None:
    response = admin.post(reverse("manage_teams"), {"name": "Support"})
    with tenant_scope(personas.tenant_a):
        team = Team.objects.get(name="Support")
    assert response["Location"] == reverse("manage_team", args=[team.pk])
    admin.post(
        reverse("manage_team", args=[team.pk]),
        {"name": "Support NL", "members": [personas.outsider.pk], "listeners": [personas.listener.pk]},
    )
    with tenant_scope(personas.tenant_a):
        team.refresh_from_db()
        assert team.name == "Support NL"
        assert list(team.members.all()) == [personas.outsider]
        assert list(team.listeners.all()) == [personas.listener]
    # another tenant's person is not a valid choice
    bad = admin.post(reverse("manage_team", args=[team.pk]), {"name": "X", "members": [personas.charlie.pk]})
    assert bad.status_code == 400
    duplicate = admin.post(reverse("manage_teams"), {"name": "Sales"})
    assert duplicate.status_code == 400
    admin.post(reverse("manage_team_delete", args=[team.pk]))
    with tenant_scope(personas.tenant_a):
        assert not Team.objects.filter(pk=team.pk).exists()


def test_pbx_keys_shown_once_and_revocable(admin: Client, personas: Personas) -> None:
    response = admin.post(reverse("manage_keys"), {"name": "Centrale"})
    secret = re.search(r"data-secret>([^<]+)<", response.content.decode()).group(1)
    assert authenticate_pbx_key(secret) is not None
    assert secret not in admin.get(reverse("manage_keys")).content.decode()
    key = PbxKey.objects.unscoped().get(name="Centrale")
    admin.post(reverse("manage_key_revoke", args=[key.pk]))
    assert authenticate_pbx_key(secret) is None


def test_settings(admin: Client, personas: Personas) -> None:
    response = admin.post(
        reverse("manage_settings"), {"retention_days": "30", "language": "en", "announce_recording": ""}
    )
    assert response.status_code == 302
    tenant = Tenant.objects.get(pk=personas.tenant_a.pk)
    assert (tenant.retention_days, tenant.language, tenant.announce_recording) == (30, "en", False)
    bad = admin.post(reverse("manage_settings"), {"retention_days": "0", "language": "en"})
    assert bad.status_code == 400
    assert Tenant.objects.get(pk=tenant.pk).retention_days == 30


def test_audit_log_page_shows_only_this_tenant(admin: Client, personas: Personas) -> None:
    admin.post(reverse("manage_settings"), {"retention_days": "31", "language": "nl"})
    charlie = Client()
    charlie.force_login(personas.charlie)
    charlie.post(reverse("manage_keys"), {"name": "Globex PBX"})
    page = admin.get(reverse("manage_audit")).content.decode()
    assert "manage.settings.update" in page and "manage.pbx_key.create" not in page
    assert "manage.pbx_key.create" in charlie.get(reverse("manage_audit")).content.decode()


def test_management_lists_only_own_tenant(admin: Client, personas: Personas) -> None:
    page = admin.get(reverse("manage_users")).content.decode()
    assert "lisa" in page and "charlie" not in page


def test_contact_rules(admin: Client, personas: Personas) -> None:
    from recordings.models import ContactRule

    pb = personas.playback["days_30"]
    url = reverse("manage_user_rules", args=[pb.pk])
    response = admin.post(url, {"list_type": "whitelist", "number": "06 12345678", "name": "Mam"})
    assert response.status_code == 302
    with tenant_scope(personas.tenant_a):
        rule = ContactRule.objects.get(user=pb)
    assert (rule.number, rule.list_type, rule.name) == ("+31612345678", "whitelist", "Mam")
    again = admin.post(url, {"list_type": "blacklist", "number": "+31612345678"})
    assert again.status_code == 400
    bad = admin.post(url, {"list_type": "whitelist", "number": "not a number"})
    assert bad.status_code == 400
    with tenant_scope(personas.tenant_a):
        assert ContactRule.objects.count() == 1
    # the name from the rules shows on the home screen instead of the number
    from tests.factories import make_recording

    make_recording(pb, remote_number="+31612345678")
    pb_client = Client()
    pb_client.force_login(pb)
    assert "Mam" in pb_client.get(reverse("home")).content.decode()
    admin.post(reverse("manage_user_rule_remove", args=[pb.pk, rule.pk]))
    with tenant_scope(personas.tenant_a):
        assert ContactRule.objects.count() == 0
    assert {"manage.contact_rule.create", "manage.contact_rule.delete"} <= set(_actions(personas.tenant_a))


def test_removing_a_playback_subscription_says_when_saved_recordings_go(
    admin: Client, personas: Personas
) -> None:
    from datetime import UTC, datetime

    import time_machine

    from recordings import lifecycle
    from recordings.models import Recording
    from tests.lifecycle_factory import make_recording

    user = personas.playback["minutes_100k"]
    page = admin.get(reverse("manage_user", args=[user.pk])).content.decode()
    assert "Het Playback-abonnement verwijderen: bewaarde opnamen worden uiterlijk 30" in page  # Acme: Dutch
    with time_machine.travel(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), tick=False):
        # No audio object: S3 refuses requests signed with a travelled clock (RequestTimeTooSkewed).
        rec = make_recording(user, with_object=False)
        lifecycle.on_playback_ready(rec)
        lifecycle.keep_recording(recording=rec, acting_user=user)
        response = admin.post(
            reverse("manage_user_product", args=[user.pk]), {"product": "", "confirm": "1"}, follow=True
        )
    html = response.content.decode()
    assert "Het Playback-abonnement van" in html and "uiterlijk op 2 december 2026 verwijderd" in html
    with tenant_scope(personas.tenant_a):
        assert not PlaybackSubscription.objects.filter(user=user).exists()
        assert Recording.objects.get(pk=rec.pk).expires_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert (
        "Het Playback-abonnement verwijderen"
        not in admin.get(reverse("manage_user", args=[user.pk])).content.decode()
    )
    # A person without a subscription: the removal line is not said after a product change.
    other = personas.users["always"]
    response = admin.post(
        reverse("manage_user_product", args=[other.pk]), {"product": "", "confirm": "1"}, follow=True
    )
    assert "Het Playback-abonnement van" not in response.content.decode()
