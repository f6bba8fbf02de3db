"""Keep/delete, streaming, labels, comments, shares, devices and contact rules through the API.

Per endpoint: success, validation errors, another tenant's object 404, a wrong role 403 and
no token 401 — the matrix at the end covers the last three for every endpoint with an object.
"""

from __future__ import annotations

import pytest
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.test import APIClient

from notifications.models import Device
from recordings import rules, social
from recordings.models import ContactRule, PlaybackAccess, Recording
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for
from tests.api.test_auth import assert_error
from tests.base import Personas
from tests.factories import make_recording
from tests.streams import streamed_bytes

R = "/api/v1/recordings"


# --- keep or delete ---------------------------------------------------------------------------


def test_keep_saves_a_playback_with_its_tiers_expiry(personas: Personas) -> None:
    rec = make_recording(personas.playback["days_30"])
    response = client_for(personas.playback["days_30"]).post(f"{R}/{rec.pk}/keep")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["saved"] is True and body["colour"] == "dark_blue" and body["decision_pending"] is False
    rec.refresh_from_db()
    assert rec.saved and rec.expires_at == rec.ended_at + timezone.timedelta(days=30)
    # Keeping again changes nothing.
    assert client_for(personas.playback["days_30"]).post(f"{R}/{rec.pk}/keep").status_code == 200


def test_keep_refuses_standard_recordings_and_other_peoples(personas: Personas) -> None:
    standard = make_recording(personas.users["always"])
    error = assert_error(client_for(personas.users["always"]).post(f"{R}/{standard.pk}/keep"), 400, "invalid")
    assert "Playback" in error["message"]
    # A listener hears a team member's recording but does not decide on it.
    assert_error(client_for(personas.listener).post(f"{R}/{standard.pk}/keep"), 403, "permission_denied")


def test_keep_too_late_is_409(personas: Personas) -> None:
    rec = make_recording(personas.playback["days_30"], with_audio=False)
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk=rec.pk).update(expires_at=timezone.now() - timezone.timedelta(minutes=1))
    assert_error(client_for(personas.playback["days_30"]).post(f"{R}/{rec.pk}/keep"), 409, "too_late")


def test_delete_removes_the_recording_and_every_url_of_it_404s(personas: Personas) -> None:
    user = personas.playback["days_90"]
    rec = make_recording(user)
    social.add_label(recording=rec, name="x", acting_user=user)
    client = client_for(user)
    stream = client.post(f"{R}/{rec.pk}/stream").json()["url"]
    assert client.delete(f"{R}/{rec.pk}").status_code == 204
    rec.refresh_from_db()
    assert rec.deleted_at is not None and not storages["recordings"].exists(rec.storage_key or "x")
    for method, path in [
        ("get", f"{R}/{rec.pk}"),
        ("delete", f"{R}/{rec.pk}"),
        ("post", f"{R}/{rec.pk}/keep"),
        ("post", f"{R}/{rec.pk}/stream"),
        ("get", f"{R}/{rec.pk}/labels"),
        ("get", f"{R}/{rec.pk}/comments"),
        ("get", f"{R}/{rec.pk}/shares"),
    ]:
        assert_error(getattr(client, method)(path), 404, "not_found")
    assert_error(client.get(stream.replace("http://testserver", "")), 404, "not_found")
    assert str(rec.pk) not in str(client.get(R).json())


def test_standard_recordings_cannot_be_deleted_by_the_app(personas: Personas) -> None:
    rec = make_recording(personas.users["always"], with_audio=False)
    assert_error(client_for(personas.users["always"]).delete(f"{R}/{rec.pk}"), 400, "invalid")
    rec.refresh_from_db()
    assert rec.deleted_at is None


# --- streaming --------------------------------------------------------------------------------


def test_stream_url_plays_with_ranges_inline_and_is_logged(personas: Personas) -> None:
    rec = make_recording(personas.users["always"])
    player = client_for(personas.users["always"])  # the app's player sends the same token
    body = player.post(f"{R}/{rec.pk}/stream").json()
    assert body["mime"] == "audio/mpeg" and body["duration_ms"] == rec.duration_ms
    url = body["url"].replace("http://testserver", "")
    whole = player.get(url)
    assert whole.status_code == 200
    assert whole["Content-Disposition"].startswith("inline")
    assert "attachment" not in whole["Content-Disposition"]
    with storages["recordings"].open(rec.storage_key) as stored:
        assert streamed_bytes(whole) == stored.read()
    part = player.get(url, HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206 and len(streamed_bytes(part)) == 100
    with tenant_scope(personas.tenant_a):
        assert PlaybackAccess.objects.filter(recording=rec, via="app").count() == 1


def test_stream_token_is_bound_to_user_and_recording_and_checks_access_again(personas: Personas) -> None:
    rec = make_recording(personas.users["always"])
    other = make_recording(personas.users["on_demand"])
    listener = client_for(personas.listener)
    url = listener.post(f"{R}/{rec.pk}/stream").json()["url"].replace("http://testserver", "")
    played = listener.get(url)
    assert played.status_code == 200 and streamed_bytes(played)
    # The same token for another recording is refused.
    assert_error(listener.get(url.replace(str(rec.pk), str(other.pk))), 403, "stream_denied")
    assert_error(listener.get(f"{R}/{rec.pk}/audio?t=forged"), 403, "stream_denied")
    assert_error(listener.get(f"{R}/{rec.pk}/audio"), 403, "stream_denied")
    # The listener leaves the team: the URL already issued stops working.
    personas.sales.listeners.clear()
    assert_error(listener.get(url), 404, "not_found")


def test_stream_needs_audio_sign_in_and_access(personas: Personas) -> None:
    silent = make_recording(personas.users["always"], with_audio=False)
    assert_error(client_for(personas.users["always"]).post(f"{R}/{silent.pk}/stream"), 409, "no_audio")
    assert_error(client_for(personas.outsider).post(f"{R}/{silent.pk}/stream"), 404, "not_found")


# --- labels and comments ----------------------------------------------------------------------


def test_labels_add_list_suggest_remove(personas: Personas) -> None:
    rec = make_recording(personas.users["always"], with_audio=False)
    client = client_for(personas.listener)  # listeners label team members' recordings too
    first = client.post(f"{R}/{rec.pk}/labels", {"name": "  Complaint  "}, format="json")
    assert first.status_code == 201 and first.json()["name"] == "Complaint"
    again = client.post(f"{R}/{rec.pk}/labels", {"name": "complaint"}, format="json")
    assert again.json()["id"] == first.json()["id"]
    assert [label["name"] for label in client.get(f"{R}/{rec.pk}/labels").json()] == ["Complaint"]
    assert client.get("/api/v1/labels", {"prefix": "comp"}).json() == ["Complaint"]
    listed = client_for(personas.users["always"]).get(R, {"label": "complaint"}).json()["results"]
    assert [row["id"] for row in listed] == [str(rec.pk)]
    assert client.delete(f"{R}/{rec.pk}/labels/{first.json()['id']}").status_code == 204
    assert client.get(f"{R}/{rec.pk}/labels").json() == []


def test_label_validation(personas: Personas) -> None:
    rec = make_recording(personas.users["always"], with_audio=False)
    client = client_for(personas.users["always"])
    assert set(
        assert_error(client.post(f"{R}/{rec.pk}/labels", {}, format="json"), 400, "invalid")["fields"]
    ) == {"name"}
    error = assert_error(
        client.post(f"{R}/{rec.pk}/labels", {"name": "x" * 41}, format="json"), 400, "invalid"
    )
    assert "40" in error["message"]
    assert_error(client.post(f"{R}/{rec.pk}/labels", {"name": "   "}, format="json"), 400, "invalid")


def test_comments_add_edit_delete_with_author_rules(personas: Personas) -> None:
    rec = make_recording(personas.users["always"])
    owner, listener = client_for(personas.users["always"]), client_for(personas.listener)
    made = listener.post(f"{R}/{rec.pk}/comments", {"text": "Call back", "position_ms": 1000}, format="json")
    assert made.status_code == 201
    comment = made.json()
    assert comment["author"]["username"] == "lisa" and comment["position_ms"] == 1000
    url = f"{R}/{rec.pk}/comments/{comment['id']}"
    # Only the author edits; the owner may remove.
    assert_error(owner.patch(url, {"text": "mine now"}, format="json"), 403, "permission_denied")
    assert listener.patch(url, {"text": "Called back"}, format="json").json()["text"] == "Called back"
    assert [c["text"] for c in owner.get(f"{R}/{rec.pk}/comments").json()] == ["Called back"]
    assert owner.delete(url).status_code == 204
    assert owner.get(f"{R}/{rec.pk}/comments").json() == []


def test_comment_validation(personas: Personas) -> None:
    rec = make_recording(personas.users["always"])
    client = client_for(personas.users["always"])
    error = assert_error(
        client.post(f"{R}/{rec.pk}/comments", {"position_ms": -1}, format="json"), 400, "invalid"
    )
    assert set(error["fields"]) == {"text", "position_ms"}
    outside = {"text": "x", "position_ms": rec.duration_ms + 1}
    assert_error(client.post(f"{R}/{rec.pk}/comments", outside, format="json"), 400, "invalid")
    assert_error(client.post(f"{R}/{rec.pk}/comments", {"text": "x" * 2001}, format="json"), 400, "invalid")
    # A recording whose length is not known yet: positions up to what the column holds (found by
    # schemathesis on PostgreSQL: a larger one was a 500, integer out of range).
    unknown = make_recording(personas.users["always"], with_audio=False, duration_ms=0)
    far = {"text": "x", "position_ms": 2**31}
    assert_error(client.post(f"{R}/{unknown.pk}/comments", far, format="json"), 400, "invalid")
    last = {"text": "x", "position_ms": 2**31 - 1}
    assert client.post(f"{R}/{unknown.pk}/comments", last, format="json").status_code == 201


# --- shares -----------------------------------------------------------------------------------


def test_share_create_list_open_revoke(personas: Personas) -> None:
    rec = make_recording(personas.playback["days_30"])
    client = client_for(personas.playback["days_30"])
    made = client.post(f"{R}/{rec.pk}/shares", {"expires_in": "1d", "show_party": True}, format="json")
    assert made.status_code == 201, made.content
    url, share = made.json()["url"], made.json()["share"]
    assert share["active"] and share["show_party"] and share["opens"] == 0
    page = APIClient().get(url.replace("http://testserver", ""))
    assert page.status_code == 200
    listed = client.get(f"{R}/{rec.pk}/shares").json()
    assert [(s["id"], s["opens"]) for s in listed] == [(share["id"], 1)]
    assert len(client.get(f"{R}/{rec.pk}/shares/{share['id']}/opens").json()) == 1
    revoked = client.post(f"{R}/{rec.pk}/shares/{share['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert APIClient().get(url.replace("http://testserver", "")).status_code == 404


def test_share_validation_and_owner_only(personas: Personas) -> None:
    rec = make_recording(personas.users["always"], with_audio=False)
    client = client_for(personas.users["always"])
    error = assert_error(
        client.post(f"{R}/{rec.pk}/shares", {"expires_in": "1y", "show_labels": "maybe"}, format="json"),
        400,
        "invalid",
    )
    assert set(error["fields"]) == {"expires_in", "show_labels"}
    assert_error(client.post(f"{R}/{rec.pk}/shares", {"pin": "12"}, format="json"), 400, "invalid")
    assert_error(
        client_for(personas.listener).post(f"{R}/{rec.pk}/shares", {}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(client_for(personas.listener).get(f"{R}/{rec.pk}/shares"), 403, "permission_denied")


# --- devices ----------------------------------------------------------------------------------


def test_devices_register_refresh_remove(personas: Personas) -> None:
    client = client_for(personas.playback["days_30"])
    made = client.post(
        "/api/v1/devices", {"token": "fcm-abc", "platform": "ios", "app_version": "1.0"}, format="json"
    )
    assert made.status_code == 201
    again = client.post(
        "/api/v1/devices", {"token": "fcm-abc", "platform": "ios", "app_version": "1.1"}, format="json"
    )
    assert again.json()["id"] == made.json()["id"] and again.json()["app_version"] == "1.1"
    assert [d["id"] for d in client.get("/api/v1/devices").json()] == [made.json()["id"]]
    assert client.delete(f"/api/v1/devices/{made.json()['id']}").status_code == 204
    assert client.get("/api/v1/devices").json()[0]["active"] is False
    # Someone else signs in on the phone: the token moves to them.
    other = client_for(personas.playback["days_90"])
    assert (
        other.post("/api/v1/devices", {"token": "fcm-abc", "platform": "ios"}, format="json").status_code
        == 201
    )
    assert client.get("/api/v1/devices").json() == []


def test_device_validation_and_isolation(personas: Personas) -> None:
    client = client_for(personas.users["always"])
    error = assert_error(
        client.post("/api/v1/devices", {"platform": "windows"}, format="json"), 400, "invalid"
    )
    assert set(error["fields"]) == {"token", "platform"}
    assert_error(
        client.post("/api/v1/devices", {"token": "a b", "platform": "ios"}, format="json"), 400, "invalid"
    )
    theirs = client_for(personas.charlie).post(
        "/api/v1/devices", {"token": "t", "platform": "android"}, format="json"
    )
    assert_error(client.delete(f"/api/v1/devices/{theirs.json()['id']}"), 404, "not_found")
    with tenant_scope(personas.tenant_b):
        assert Device.objects.get(pk=theirs.json()["id"]).active


# --- contact rules ----------------------------------------------------------------------------


def test_rules_crud_normalises_numbers(personas: Personas) -> None:
    client = client_for(personas.playback["days_30"])
    made = client.post(
        "/api/v1/rules", {"list_type": "whitelist", "number": "06 12345678", "name": "Jan"}, format="json"
    )
    assert made.status_code == 201, made.content
    rule = made.json()
    assert rule["number"] == "+31612345678"
    assert client.get(f"/api/v1/rules/{rule['id']}").json()["name"] == "Jan"
    moved = client.patch(f"/api/v1/rules/{rule['id']}", {"list_type": "blacklist"}, format="json")
    assert moved.json()["list_type"] == "blacklist" and moved.json()["name"] == "Jan"
    assert [r["id"] for r in client.get("/api/v1/rules", {"list_type": "blacklist"}).json()] == [rule["id"]]
    assert client.get("/api/v1/rules", {"list_type": "whitelist"}).json() == []
    assert rules.is_blacklisted(personas.playback["days_30"], "+31612345678")
    assert client.delete(f"/api/v1/rules/{rule['id']}").status_code == 204
    assert_error(client.get(f"/api/v1/rules/{rule['id']}"), 404, "not_found")


def test_rule_validation(personas: Personas) -> None:
    client = client_for(personas.playback["days_30"])
    error = assert_error(
        client.post("/api/v1/rules", {"list_type": "greylist"}, format="json"), 400, "invalid"
    )
    assert set(error["fields"]) == {"list_type", "number"}
    error = assert_error(
        client.post("/api/v1/rules", {"list_type": "blacklist", "number": "12"}, format="json"),
        400,
        "invalid",
    )
    assert set(error["fields"]) == {"number"}
    client.post("/api/v1/rules", {"list_type": "blacklist", "number": "+31612345678"}, format="json")
    error = assert_error(
        client.post("/api/v1/rules", {"list_type": "whitelist", "number": "0612345678"}, format="json"),
        400,
        "invalid",
    )
    assert "blacklist" in error["message"]
    assert_error(client.get("/api/v1/rules", {"list_type": "x"}), 400, "invalid")


def test_rules_are_for_playback_users(personas: Personas) -> None:
    assert_error(client_for(personas.users["always"]).get("/api/v1/rules"), 403, "permission_denied")
    assert_error(
        client_for(personas.listener).post(
            "/api/v1/rules", {"list_type": "blacklist", "number": "0612345678"}, format="json"
        ),
        403,
        "permission_denied",
    )


# --- the matrix: other tenant 404, no token 401, for every endpoint with an object -------------


@pytest.fixture
def objects(personas: Personas) -> dict[str, str]:
    """Objects of tenant A (acme) that Charlie (tenant B) tries to reach."""
    owner = personas.playback["days_30"]
    rec = make_recording(owner)
    label = social.add_label(recording=rec, name="a", acting_user=owner)
    comment = social.add_comment(recording=rec, text="a", acting_user=owner)
    share = social.create_share(recording=rec, acting_user=owner).share
    rule = rules.add_rule(user=owner, list_type=ContactRule.List.BLACKLIST, number="+31612345678")
    from notifications.services import register_device

    device = register_device(user=owner, token="acme-phone", platform="ios")
    return {
        "rec": str(rec.pk),
        "label": str(label.pk),
        "comment": str(comment.pk),
        "share": str(share.pk),
        "rule": str(rule.pk),
        "device": str(device.pk),
    }


OBJECT_ENDPOINTS = [
    ("get", "/api/v1/recordings/{rec}"),
    ("delete", "/api/v1/recordings/{rec}"),
    ("post", "/api/v1/recordings/{rec}/keep"),
    ("post", "/api/v1/recordings/{rec}/stream"),
    ("get", "/api/v1/recordings/{rec}/labels"),
    ("post", "/api/v1/recordings/{rec}/labels"),
    ("delete", "/api/v1/recordings/{rec}/labels/{label}"),
    ("get", "/api/v1/recordings/{rec}/comments"),
    ("post", "/api/v1/recordings/{rec}/comments"),
    ("patch", "/api/v1/recordings/{rec}/comments/{comment}"),
    ("delete", "/api/v1/recordings/{rec}/comments/{comment}"),
    ("get", "/api/v1/recordings/{rec}/shares"),
    ("post", "/api/v1/recordings/{rec}/shares"),
    ("post", "/api/v1/recordings/{rec}/shares/{share}/revoke"),
    ("get", "/api/v1/recordings/{rec}/shares/{share}/opens"),
    ("delete", "/api/v1/devices/{device}"),
    ("delete", "/api/v1/auth/tokens/{device}"),
]
BODIES = {
    "/api/v1/recordings/{rec}/labels": {"name": "b"},
    "/api/v1/recordings/{rec}/comments": {"text": "b"},
    "/api/v1/recordings/{rec}/comments/{comment}": {"text": "b"},
}


@pytest.mark.parametrize(("method", "template"), OBJECT_ENDPOINTS)
def test_another_tenants_objects_are_404_and_no_token_is_401(
    personas: Personas, objects: dict[str, str], method: str, template: str
) -> None:
    path = template.format(**objects)
    body = BODIES.get(template, {})
    response = getattr(client_for(personas.charlie), method)(path, body, format="json")
    assert_error(response, 404, "not_found")
    assert_error(getattr(APIClient(), method)(path, body, format="json"), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("method", "template"),
    [("get", "/api/v1/rules/{rule}"), ("patch", "/api/v1/rules/{rule}"), ("delete", "/api/v1/rules/{rule}")],
)
def test_another_playback_users_rule_is_404(
    personas: Personas, objects: dict[str, str], method: str, template: str
) -> None:
    path = template.format(**objects)
    response = getattr(client_for(personas.playback["days_90"]), method)(path, {"name": "x"}, format="json")
    assert_error(response, 404, "not_found")
    assert_error(getattr(APIClient(), method)(path, {}, format="json"), 401, "not_authenticated")
    with tenant_scope(personas.tenant_a):
        assert ContactRule.objects.filter(pk=objects["rule"]).exists()
    for path in ("/api/v1/rules", "/api/v1/devices", "/api/v1/labels", "/api/v1/me", "/api/v1/recordings"):
        assert_error(APIClient().get(path), 401, "not_authenticated")


def test_a_label_differing_only_in_non_ascii_case_is_the_same_label(personas: Personas) -> None:
    # Found by schemathesis: "aİ" then "Aİ" was a 500 (str.lower() and the database's LOWER() differ).
    rec = make_recording(personas.users["always"], with_audio=False)
    client = client_for(personas.users["always"])
    first = client.post(f"{R}/{rec.pk}/labels", {"name": "a\u0130"}, format="json")
    second = client.post(f"{R}/{rec.pk}/labels", {"name": "A\u0130"}, format="json")
    assert first.status_code == 201 and second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
