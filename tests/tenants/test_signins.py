"""Sign-ins, failed sign-ins and revoked device tokens in the audit log (tenants.signins)."""

from __future__ import annotations

import json

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tenants.audit import AuditEntry, verify_all
from tenants.models import Tenant
from tests.api.test_auth import assert_error
from tests.api.test_auth import login as api_login
from tests.base import PASSWORD, Personas, login, totp_code


def _entries(tenant: Tenant | None, action: str) -> list[AuditEntry]:
    entries = AuditEntry.objects.unscoped().filter(action=action).order_by("seq")
    return list(entries.filter(tenant=tenant) if tenant is not None else entries.filter(tenant__isnull=True))


def _no_secret(entry: AuditEntry, *secrets: str) -> None:
    text = json.dumps(entry.payload())
    for secret in (PASSWORD, *secrets):
        assert secret not in text


def test_an_app_sign_in_is_logged_with_its_token(personas: Personas) -> None:
    response = api_login("user_always")
    assert response.status_code == 201
    body = response.json()
    (entry,) = _entries(personas.tenant_a, "auth.sign_in")
    user = personas.users["always"]
    assert (entry.actor_id, entry.actor_label) == (user.pk, "user_always")
    assert (entry.target_type, entry.target_id) == ("tenants.apitoken", body["device"]["id"])
    assert entry.detail == {"via": "app"}
    assert entry.ip == "127.0.0.1"
    # The token's random part, after "<API_TOKEN_PREFIX>_<prefix>_" (it may contain "_" itself).
    random_part = body["token"].split("_", 2)[2]
    assert len(random_part) >= 40
    _no_secret(entry, body["token"], random_part)
    assert verify_all() == []


def test_failed_app_sign_ins_of_a_known_user_are_logged_without_the_password(personas: Personas) -> None:
    assert_error(api_login("user_always", "Wrong-Guess-1234"), 401, "invalid_credentials")
    (entry,) = _entries(personas.tenant_a, "auth.sign_in_failed")
    user = personas.users["always"]
    assert entry.actor_id is None
    assert (entry.target_type, entry.target_id) == ("tenants.user", str(user.pk))
    assert entry.detail == {"via": "app", "reason": "password"}
    _no_secret(entry, "Wrong-Guess-1234")
    # An unknown username leaves no entry anywhere.
    assert_error(api_login("no-such-person", "Wrong-Guess-1234"), 401, "invalid_credentials")
    assert AuditEntry.objects.unscoped().filter(action="auth.sign_in_failed").count() == 1
    assert not _entries(personas.tenant_a, "auth.sign_in")


def test_a_wrong_authenticator_code_after_the_right_password_is_logged(personas: Personas) -> None:
    good = totp_code(personas.admin)
    wrong = "000000" if good != "000000" else "111111"
    assert_error(api_login("alice", totp_code=wrong), 401, "invalid_totp")
    assert_error(api_login("alice"), 401, "totp_required")  # the app asks for the code: no entry
    (entry,) = _entries(personas.tenant_a, "auth.sign_in_failed")
    assert entry.detail == {"via": "app", "reason": "totp"}
    assert entry.target_id == str(personas.admin.pk)
    assert not _entries(personas.tenant_a, "auth.sign_in")
    assert api_login("alice", totp_code=good).status_code == 201
    assert len(_entries(personas.tenant_a, "auth.sign_in")) == 1


def test_revoking_a_token_is_logged_once_by_whoever_revoked_it(personas: Personas) -> None:
    first = api_login("lisa").json()
    second = api_login("lisa").json()
    phone = APIClient()
    phone.credentials(HTTP_AUTHORIZATION=f"Bearer {first['token']}")
    tablet = APIClient()
    tablet.credentials(HTTP_AUTHORIZATION=f"Bearer {second['token']}")
    # From the list of devices: the phone signs the tablet out.
    assert phone.delete(f"/api/v1/auth/tokens/{second['device']['id']}").status_code == 204
    assert phone.delete(f"/api/v1/auth/tokens/{second['device']['id']}").status_code == 404
    # The phone signs itself out.
    assert phone.post("/api/v1/auth/logout").status_code == 204
    entries = _entries(personas.tenant_a, "auth.token_revoked")
    assert [(e.target_id, e.detail) for e in entries] == [
        (second["device"]["id"], {"how": "device_list"}),
        (first["device"]["id"], {"how": "logout"}),
    ]
    for entry in entries:
        assert (entry.actor_id, entry.target_type) == (personas.listener.pk, "tenants.apitoken")
        _no_secret(entry, first["token"], second["token"])


def test_portal_sign_ins_are_logged_once(client: Client, personas: Personas) -> None:
    assert login(client, "lisa").status_code == 302
    (entry,) = _entries(personas.tenant_a, "auth.sign_in")
    assert (entry.actor_id, entry.detail) == (personas.listener.pk, {"via": "portal"})
    assert (entry.target_type, entry.target_id) == ("tenants.user", str(personas.listener.pk))
    # With an authenticator: logged once the code is given, not after the password alone.
    other = Client()
    other.post(reverse("account_login"), {"login": "alice", "password": PASSWORD})
    assert len(_entries(personas.tenant_a, "auth.sign_in")) == 1
    other.post(reverse("mfa_authenticate"), {"code": totp_code(personas.admin)})
    assert [e.actor_label for e in _entries(personas.tenant_a, "auth.sign_in")] == ["lisa", "alice"]
    # Support staff sign in to their own chain.
    staff = Client()
    assert login(staff, "sam").status_code == 302
    assert [e.actor_label for e in _entries(None, "auth.sign_in")] == ["sam"]


def test_failed_portal_sign_ins_are_logged_without_the_password(client: Client, personas: Personas) -> None:
    response = client.post(reverse("account_login"), {"login": "lisa", "password": "Wrong-Guess-1234"})
    assert response.status_code == 200
    (entry,) = _entries(personas.tenant_a, "auth.sign_in_failed")
    assert entry.actor_id is None
    assert entry.target_id == str(personas.listener.pk)
    assert entry.detail == {"via": "portal", "reason": "password"}
    _no_secret(entry, "Wrong-Guess-1234")
    client.post(reverse("account_login"), {"login": "nobody-at-all", "password": "Wrong-Guess-1234"})
    assert AuditEntry.objects.unscoped().filter(action="auth.sign_in_failed").count() == 1
