from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants import services
from tenants.models import PbxKey, User
from tests.base import Personas, login, login_support


def test_login_page_is_served(client: Client, db: None) -> None:
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content
    assert "Content-Security-Policy" in response.headers
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_username_and_password_get_in(client: Client, personas: Personas) -> None:
    response = login(client, "alice")
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert b"alice" in home.content


def test_wrong_password_stays_out(client: Client, personas: Personas) -> None:
    response = login(client, "alice", "wrong password")
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_there_is_no_signup(client: Client, db: None) -> None:
    response = client.post(reverse("account_signup"), {"username": "mallory", "password1": "x" * 20})
    assert response.status_code in {200, 302}
    from tenants.models import User

    assert not User.objects.filter(username="mallory").exists()


def test_users_of_an_ended_tenant_cannot_sign_in_and_lose_their_session(
    client: Client, personas: Personas
) -> None:
    login(client, "charlie")
    assert client.get("/").status_code == 200
    personas.tenant_b.status = "ended"
    personas.tenant_b.save()
    assert client.get("/").status_code == 302  # session no longer accepted
    fresh = Client()
    login(fresh, "charlie")
    assert fresh.get("/").status_code == 302


def test_a_deactivated_person_loses_their_session(client: Client, personas: Personas) -> None:
    client.force_login(personas.listener)
    assert client.get("/").status_code == 200
    personas.listener.is_active = False
    personas.listener.save(update_fields=["is_active"])
    assert client.get("/").status_code == 302


def test_the_sessions_user_and_tenant_are_one_query(client: Client, personas: Personas) -> None:
    """Every signed-in request reads the person and their tenant (scope, service check, language)."""
    client.force_login(personas.listener)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/healthz").status_code == 200
    sql = [q["sql"] for q in captured.captured_queries]
    users = [q for q in sql if 'FROM "tenants_user"' in q]
    assert len(users) == 1 and 'JOIN "tenants_tenant"' in users[0]
    assert not any('FROM "tenants_tenant"' in q for q in sql)


def test_logout_needs_post(client: Client, personas: Personas) -> None:
    login(client, "alice")
    client.post(reverse("account_logout"))
    assert client.get("/").status_code == 302


def test_password_reset_sends_an_email(client: Client, personas: Personas) -> None:
    personas.admin.email = "alice@acme.example"
    personas.admin.save()
    response = client.post(reverse("account_reset_password"), {"email": "alice@acme.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "alice@acme.example" in mail.outbox[0].to


def test_support_staff_get_the_admin_and_not_the_portal(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    assert client.get("/").status_code == 403
    for name in ["tenant", "user", "team", "licence", "playbacksubscription", "pbxkey"]:
        assert client.get(reverse(f"admin:tenants_{name}_changelist")).status_code == 200, name


def test_customer_users_do_not_get_the_admin(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_admin_creates_a_key_and_shows_it_once(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    response = client.post(
        reverse("admin:tenants_pbxkey_add"), {"tenant": personas.tenant_a.pk, "name": "PBX 1"}, follow=True
    )
    assert response.status_code == 200
    key = PbxKey.objects.unscoped().get(name="PBX 1")
    shown = [str(m) for m in response.context["messages"]]
    secret = next(m.split(": ")[-1] for m in shown if "shown only this once" in m)
    assert secret.startswith(f"hip_{key.prefix}_")
    again = client.get(reverse("admin:tenants_pbxkey_change", args=[key.pk]))
    assert secret.encode() not in again.content


def test_admin_refuses_a_second_product(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    response = client.post(
        reverse("admin:tenants_licence_add"),
        {"tenant": personas.tenant_a.pk, "user": personas.playback["days_30"].pk, "mode": "always"},
    )
    assert response.status_code == 200
    assert b"Playback subscription" in response.content


@pytest.mark.parametrize("mode", ["sometimes", ""])
def test_admin_refuses_an_unknown_mode(client: Client, personas: Personas, mode: str) -> None:
    login_support(client, personas.support)
    response = client.post(
        reverse("admin:tenants_licence_add"),
        {"tenant": personas.tenant_a.pk, "user": personas.no_product.pk, "mode": mode},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors


def test_admin_refuses_a_duplicate_pbx_id(client: Client, personas: Personas) -> None:
    new = services.create_tenant(name="Initech BV", slug="initech", country="NL", language="nl")
    services.create_user(tenant=new, username="peter", password=None, pbx_id="100")  # no admin yet
    login_support(client, personas.support)
    response = client.post(
        reverse("admin:tenants_user_add"),
        {"username": "newbie", "tenant": new.pk, "pbx_id": "100", "email": "newbie@initech.example"},
    )
    assert response.status_code == 200
    assert b"already used" in response.content
    assert not User.objects.filter(username="newbie").exists()


def test_support_removing_or_changing_a_subscription_goes_through_the_lifecycle(
    client: Client, personas: Personas
) -> None:
    """The Django admin does what the portal does: a tier change re-computes, a removal caps."""
    from datetime import timedelta

    from django.utils import timezone

    from recordings import lifecycle
    from recordings.models import Recording
    from tenants.models import PlaybackSubscription
    from tenants.scoping import tenant_scope
    from tests.lifecycle_factory import make_recording

    user = personas.playback["minutes_100k"]
    rec = make_recording(user)
    lifecycle.on_playback_ready(rec)
    lifecycle.keep_recording(recording=rec, acting_user=user)
    login_support(client, personas.support)
    with tenant_scope(personas.tenant_a):
        subscription = PlaybackSubscription.objects.get(user=user)
    response = client.post(
        reverse("admin:tenants_playbacksubscription_change", args=[subscription.pk]),
        {"user": user.pk, "tier": "days_30"},
    )
    assert response.status_code == 302, response.content[:2000]
    with tenant_scope(personas.tenant_a):
        assert Recording.objects.get(pk=rec.pk).expires_at == rec.ended_at + timedelta(days=30)
    client.post(
        reverse("admin:tenants_playbacksubscription_change", args=[subscription.pk]),
        {"user": user.pk, "tier": "minutes_100k"},
    )
    response = client.post(
        reverse("admin:tenants_playbacksubscription_delete", args=[subscription.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    with tenant_scope(personas.tenant_a):
        assert not PlaybackSubscription.objects.filter(user=user).exists()
        due = Recording.objects.get(pk=rec.pk).expires_at
    assert due is not None and abs(due - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
