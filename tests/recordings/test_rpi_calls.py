"""POST /rpi/v1/calls and GET /rpi/v1/calls/{id}: the start answer, replays, keys and bad input."""

from __future__ import annotations

import json

import pytest

from recordings.models import Call
from tenants import services
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("mode", "record"),
    [
        ("always", True),
        ("always_pause", True),
        ("on_demand", True),
        ("on_demand_user_start", True),
        ("never", False),
    ],
)
def test_start_answers_per_licence_mode(pbx: Pbx, personas: Personas, mode: str, record: bool) -> None:
    response = pbx.start(personas.users[mode].pbx_id)
    assert response.status_code == 201
    assert response.json() == {
        "call_id": response.sent["call_id"],
        "record": record,
        "kind": "standard",
        "mode": mode,
        "announce": record,
    }
    read = pbx.get(response.sent["call_id"])
    assert read.status_code == 200
    assert read.json()["state"] == "in_progress"
    assert read.json()["kind"] == "standard"


def test_start_answers_for_playback_and_no_product(pbx: Pbx, personas: Personas) -> None:
    playback = pbx.start(personas.playback["days_30"].pbx_id)
    assert playback.status_code == 201
    assert playback.json() == {
        "call_id": playback.sent["call_id"],
        "record": True,
        "kind": "playback",
        "mode": None,
        "announce": True,
    }
    nothing = pbx.start(personas.no_product.pbx_id)
    assert nothing.status_code == 201
    assert nothing.json()["record"] is False
    assert nothing.json()["kind"] is None
    assert nothing.json()["announce"] is False


def test_announce_follows_the_tenant_setting(pbx: Pbx, personas: Personas) -> None:
    services.update_tenant_settings(tenant=personas.tenant_a, announce_recording=False)
    response = pbx.start(personas.users["always"].pbx_id, remote_number="anonymous")
    assert response.status_code == 201
    assert response.json()["record"] is True
    assert response.json()["announce"] is False


def test_kind_and_mode_are_frozen_at_call_start(pbx: Pbx, personas: Personas) -> None:
    user = personas.users["on_demand"]
    response = pbx.start(user.pbx_id)
    services.set_licence(user=user, mode="never")
    again = pbx.post("calls", response.sent)
    assert again.status_code == 200
    assert again.json() == response.json()
    assert pbx.get(response.sent["call_id"]).json()["mode"] == "on_demand"


def test_replay_answers_200_with_the_same_body_and_changes_nothing(pbx: Pbx, personas: Personas) -> None:
    first = pbx.start(personas.users["always"].pbx_id)
    again = pbx.post("calls", first.sent)
    assert again.status_code == 200
    assert again.json() == first.json()
    # the same instant written differently is the same call
    offset = first.sent["started_at"].replace("Z", "+00:00")
    assert pbx.post("calls", {**first.sent, "started_at": offset}).status_code == 200
    with tenant_scope(personas.tenant_a):
        assert Call.objects.filter(pbx_call_id=first.sent["call_id"]).count() == 1


def test_same_call_id_with_other_details_is_a_conflict(pbx: Pbx, personas: Personas) -> None:
    first = pbx.start(personas.users["always"].pbx_id)
    other = pbx.post("calls", {**first.sent, "remote_number": "+31699999999"})
    assert_error(other, 409, "call_id_conflict")
    with tenant_scope(personas.tenant_a):
        assert Call.objects.get(pbx_call_id=first.sent["call_id"]).remote_number == "+31612345678"


def test_unknown_user_is_404(pbx: Pbx, personas: Personas) -> None:
    assert_error(pbx.start("9999"), 404, "unknown_user")
    assert_error(pbx.start(""), 400, "invalid_user")
    with tenant_scope(personas.tenant_a):
        assert not Call.objects.exists()


def test_user_of_another_tenant_is_unknown(pbx_b: Pbx, personas: Personas) -> None:
    # pbx_id 201 is acme's always-mode user; globex has no such user
    assert_error(pbx_b.start(personas.users["always"].pbx_id), 404, "unknown_user")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"call_id": None}, "invalid_call_id"),
        ({"call_id": 17}, "invalid_call_id"),
        ({"call_id": ""}, "invalid_call_id"),
        ({"call_id": "x" * 129}, "invalid_call_id"),
        ({"user": None}, "invalid_user"),
        ({"user": 201}, "invalid_user"),
        ({"direction": "sideways"}, "invalid_direction"),
        ({"direction": None}, "invalid_direction"),
        ({"leg": "satellite"}, "invalid_leg"),
        ({"leg": ["mobile"]}, "invalid_leg"),
        ({"remote_number": "0612345678"}, "invalid_remote_number"),
        ({"remote_number": "06 12345678"}, "invalid_remote_number"),
        ({"remote_number": "+31 6 12345678"}, "invalid_remote_number"),
        ({"remote_number": 31612345678}, "invalid_remote_number"),
        ({"remote_number": None}, "invalid_remote_number"),
        ({"local_number": "020 1234567"}, "invalid_local_number"),
        ({"local_number": "anonymous"}, "invalid_local_number"),
        ({"started_at": "yesterday"}, "invalid_started_at"),
        ({"started_at": "2026-11-29T10:00:00"}, "invalid_started_at"),  # no offset
        ({"started_at": 1764410400}, "invalid_started_at"),
        ({"started_at": "2999-01-01T00:00:00Z"}, "invalid_started_at"),  # in the future
        ({"started_at": None}, "invalid_started_at"),
    ],
)
def test_bad_fields_are_400_and_change_nothing(pbx: Pbx, personas: Personas, fields: dict, code: str) -> None:
    body = {
        "call_id": "pbx-bad",
        "user": personas.users["always"].pbx_id,
        "direction": "inbound",
        "local_number": "+31201234567",
        "remote_number": "+31612345678",
        "leg": "fixed",
        "started_at": "2026-01-01T10:00:00Z",
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(pbx.post("calls", body), 400, code)
    with tenant_scope(personas.tenant_a):
        assert not Call.objects.exists()


@pytest.mark.parametrize("raw", [b"{", b"not json", b"[1, 2]", b'"call"', b"", b"\xff\xfe"])
def test_malformed_json_is_400(pbx: Pbx, personas: Personas, raw: bytes) -> None:
    assert_error(pbx.post("calls", None, raw=raw), 400, "malformed_json")


@pytest.mark.parametrize(
    "header", [None, "Bearer ", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer hip_0000_x"]
)
def test_no_or_bad_key_is_401(pbx: Pbx, personas: Personas, header: str | None) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = pbx.client.post("/rpi/v1/calls", data=json.dumps({}), content_type="application/json", **extra)
    assert_error(response, 401, "unauthorized")
    for path in ["calls/x", "calls/x/events", "calls/x/end", "calls/x/audio"]:
        method = {"calls/x": "get", "calls/x/audio": "put"}.get(path, "post")
        assert_error(getattr(pbx.client, method)(f"/rpi/v1/{path}", **extra), 401)


def test_revoked_key_is_401(pbx: Pbx, personas: Personas) -> None:
    issued = services.create_pbx_key(tenant=personas.tenant_a, name="old")
    services.revoke_pbx_key(key=issued.key)
    assert_error(pbx.start(personas.users["always"].pbx_id, key=issued.secret), 401)


def test_other_tenants_key_never_reaches_this_tenants_calls(pbx: Pbx, pbx_b: Pbx, personas: Personas) -> None:
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    assert_error(pbx_b.get(call_id), 404, "unknown_call")
    assert_error(pbx_b.event(call_id, "pause", started.started), 404, "unknown_call")
    assert_error(pbx_b.end(call_id, started.started), 404, "unknown_call")
    assert_error(pbx_b.audio(call_id, b"RIFF"), 404, "unknown_call")
    assert pbx.get(call_id).json()["state"] == "in_progress"


def test_same_call_id_in_two_tenants_is_two_calls(pbx: Pbx, pbx_b: Pbx, personas: Personas) -> None:
    a = pbx.start(personas.users["never"].pbx_id, call_id="shared-1")
    b = pbx_b.start(personas.charlie.pbx_id, call_id="shared-1")
    assert a.status_code == 201
    assert b.status_code == 201
    assert a.json()["mode"] == "never"
    assert b.json()["kind"] is None
    pbx_b.end("shared-1", b.started)
    assert pbx_b.get("shared-1").json()["state"] == "not_recorded"
    assert pbx.get("shared-1").json()["state"] == "in_progress"


def test_wrong_method_is_405_json(pbx: Pbx) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pbx.key}"}
    for method, path in [
        ("get", "calls"),
        ("delete", "calls/x"),
        ("get", "calls/x/events"),
        ("get", "calls/x/end"),
        ("post", "calls/x/audio"),
    ]:
        response = getattr(pbx.client, method)(f"/rpi/v1/{path}", **auth)
        assert_error(response, 405, "method_not_allowed")
        assert response["Allow"]


def test_unknown_path_and_call_are_404_json(pbx: Pbx) -> None:
    assert_error(pbx.client.get("/rpi/v1/nothing/here"), 404, "not_found")
    assert_error(pbx.get("no-such-call"), 404, "unknown_call")
