"""Sign-in, device tokens, the error shape and the tenant scope of the API."""

from __future__ import annotations

from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.api.tokens import issue_api_token
from tenants.models import ApiToken, User
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for, make_recording, token_for
from tests.base import PASSWORD, Personas

LOGIN = "/api/v1/auth/login"


def login(username: str, password: str = PASSWORD, **extra: object) -> object:
    return APIClient().post(
        LOGIN, {"username": username, "password": password, "device_name": "Pixel 9", **extra}, format="json"
    )


def assert_error(response: object, status: int, code: str) -> dict:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_username_and_password_give_a_token_that_signs_in(personas: Personas) -> None:
    response = login("user_always")
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("hipapp_")
    assert body["device"]["name"] == "Pixel 9"
    me = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.status_code == 200
    assert me.json()["username"] == "user_always"
    # Only the hash is stored.
    with tenant_scope(personas.tenant_a):
        stored = ApiToken.objects.get(pk=body["device"]["id"])
    assert body["token"] not in stored.key_hash
    assert stored.last_used_at is not None


def test_wrong_password_and_unknown_user_look_the_same(personas: Personas) -> None:
    wrong = assert_error(login("user_always", "not the password"), 401, "invalid_credentials")
    unknown = assert_error(login("nobody-here"), 401, "invalid_credentials")
    assert wrong == unknown
    with tenant_scope(personas.tenant_a):
        assert not ApiToken.objects.exists()


def test_login_validation_errors_name_the_fields(personas: Personas) -> None:
    response = APIClient().post(LOGIN, {"username": "alice"}, format="json")
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"password", "device_name"}
    error = assert_error(login("alice", totp_code="12ab"), 400, "invalid")
    assert set(error["fields"]) == {"totp_code"}


def test_malformed_json_is_a_clear_400(personas: Personas) -> None:
    response = APIClient().post(LOGIN, data="{not json", content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_a_user_with_totp_must_give_the_code(personas: Personas) -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DP"
    TOTP.activate(personas.users["always"], secret)
    assert_error(login("user_always"), 401, "totp_required")
    assert_error(login("user_always", totp_code="000000"), 401, "invalid_totp")
    code = format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))
    if code == "000000":  # pragma: no cover - one in a million
        code = format_hotp_value(hotp_value(secret, list(yield_hotp_counters_from_time())[-1]))
    assert login("user_always", totp_code=code).status_code == 201
    # A used code cannot be replayed.
    assert_error(login("user_always", totp_code=code), 401, "invalid_totp")
    # Users without TOTP do not need a code.
    assert login("lisa").status_code == 201


def test_support_staff_have_no_app(personas: Personas) -> None:
    assert_error(login("sam"), 403, "no_app_access")


def test_login_is_throttled_per_username(personas: Personas) -> None:
    statuses = [login("alice", "guess").status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10
    response = login("alice")  # even the right password waits now
    error = assert_error(response, 429, "throttled")
    assert error["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert login("lisa").status_code == 201  # another username is not blocked (yet)


def test_no_token_bad_scheme_and_unknown_token_are_401(personas: Personas) -> None:
    response = APIClient().get("/api/v1/me")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(APIClient().get("/api/v1/me", HTTP_AUTHORIZATION="Token abc"), 401, "authentication_failed")
    token = token_for(personas.admin)
    forged = token[:-4] + "AAAA"
    assert_error(
        APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {forged}"), 401, "authentication_failed"
    )


def test_tokens_of_an_ended_tenant_or_inactive_user_stop_working(personas: Personas) -> None:
    charlie = client_for(personas.charlie)
    alice = client_for(personas.admin)
    assert charlie.get("/api/v1/me").status_code == 200
    personas.tenant_b.status = "ended"
    personas.tenant_b.save()
    assert_error(charlie.get("/api/v1/me"), 401, "authentication_failed")
    assert_error(login("charlie"), 401, "invalid_credentials")
    User.objects.filter(pk=personas.admin.pk).update(is_active=False)
    assert_error(alice.get("/api/v1/me"), 401, "authentication_failed")


def test_devices_are_listed_and_revoked(personas: Personas) -> None:
    phone = token_for(personas.admin, "Phone")
    tablet = token_for(personas.admin, "Tablet")
    token_for(personas.listener, "Lisa's phone")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {phone}")
    devices = client.get("/api/v1/auth/tokens").json()
    assert [(d["name"], d["current"]) for d in devices] == [("Tablet", False), ("Phone", True)]
    tablet_id = devices[0]["id"]
    assert client.delete(f"/api/v1/auth/tokens/{tablet_id}").status_code == 204
    assert_error(
        APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tablet}"), 401, "authentication_failed"
    )
    assert [d["name"] for d in client.get("/api/v1/auth/tokens").json()] == ["Phone"]
    # Revoked already: gone from the list, so 404.
    assert_error(client.delete(f"/api/v1/auth/tokens/{tablet_id}"), 404, "not_found")


def test_another_users_or_tenants_token_is_404(personas: Personas) -> None:
    lisa = issue_api_token(user=personas.listener, name="Lisa", acting_user=personas.listener).token
    charlie = issue_api_token(user=personas.charlie, name="Charlie", acting_user=personas.charlie).token
    alice = client_for(personas.admin)
    assert_error(alice.delete(f"/api/v1/auth/tokens/{lisa.pk}"), 404, "not_found")
    assert_error(alice.delete(f"/api/v1/auth/tokens/{charlie.pk}"), 404, "not_found")
    lisa.refresh_from_db()
    charlie.refresh_from_db()
    assert lisa.revoked_at is None and charlie.revoked_at is None


def test_logout_revokes_the_token_of_the_request(personas: Personas) -> None:
    client = client_for(personas.admin)
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert_error(client.get("/api/v1/me"), 401, "authentication_failed")
    assert_error(APIClient().post("/api/v1/auth/logout"), 401, "not_authenticated")


def test_wrong_method_is_405_in_the_error_shape(personas: Personas) -> None:
    assert_error(client_for(personas.admin).put("/api/v1/me", {}, format="json"), 405, "method_not_allowed")
    assert_error(APIClient().get(LOGIN), 405, "method_not_allowed")


def test_me_shows_product_language_and_quota(personas: Personas) -> None:
    me = client_for(personas.users["on_demand"]).get("/api/v1/me").json()
    assert me["product"] == {"type": "licence", "mode": "on_demand", "tier": None}
    assert me["quota"] is None
    assert me["effective_language"] == "nl"
    assert me["tenant"]["name"] == "Acme BV"

    minutes = personas.playback["minutes_100k"]
    make_recording(minutes, saved=True, duration_ms=90 * 60_000)
    make_recording(minutes, saved=False, duration_ms=30 * 60_000)  # undecided: not counted
    make_recording(minutes, saved=True, duration_ms=60_000, deleted_at=timezone.now())  # deleted: neither
    me = client_for(minutes).get("/api/v1/me").json()
    assert me["product"] == {"type": "playback", "mode": None, "tier": "minutes_100k"}
    assert me["quota"] == {"used_minutes": 90.0, "limit_minutes": 100000, "warning": False}

    assert client_for(personas.no_product).get("/api/v1/me").json()["product"]["type"] == "none"
    assert client_for(personas.charlie).get("/api/v1/me").json()["effective_language"] == "en"


def test_the_scope_is_left_after_each_request(personas: Personas) -> None:
    from tenants.scoping import active_tenant_id_or_none

    client_for(personas.admin).get("/api/v1/me")
    assert active_tenant_id_or_none() is None
    client_for(personas.admin).get("/api/v1/recordings/00000000-0000-0000-0000-000000000000")
    assert active_tenant_id_or_none() is None


def test_admins_follow_the_portals_mfa_rule(personas: Personas) -> None:
    from allauth.mfa.models import Authenticator

    from tests.base import totp_code

    # alice (admin) has TOTP: the code is needed, and with it she gets in.
    assert_error(login("alice"), 401, "totp_required")
    assert login("alice", totp_code=totp_code(personas.admin)).status_code == 201
    client = client_for(personas.admin)
    assert client.get("/api/v1/me").status_code == 200
    # Without an authenticator an admin of a tenant that requires one is refused, token or not.
    Authenticator.objects.filter(user=personas.admin).delete()
    assert_error(login("alice"), 403, "mfa_setup_required")
    assert_error(client.get("/api/v1/me"), 403, "mfa_setup_required")
    personas.tenant_a.require_mfa_for_admins = False
    personas.tenant_a.save()
    assert client.get("/api/v1/me").status_code == 200
    assert login("alice").status_code == 201


def test_unknown_api_paths_and_malformed_ids_are_json_404s(personas: Personas) -> None:
    client = client_for(personas.users["always"])
    for path in ("/api/v1/recordings/not-a-uuid", "/api/v1/nothing-here", "/api/v2/recordings"):
        assert_error(client.get(path), 404, "not_found")
