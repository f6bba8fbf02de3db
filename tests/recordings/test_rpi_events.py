"""Events and end: accepted, repeated, refused, and times outside the call."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recordings.models import Call, CallEvent
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, assert_error, iso

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


@pytest.fixture
def call(pbx: Pbx, personas: Personas):
    started = pbx.start(personas.users["always_pause"].pbx_id, seconds_ago=60)
    return started.sent["call_id"], started.started


def events_of(personas: Personas, call_id: str) -> list[tuple[str, int]]:
    with tenant_scope(personas.tenant_a):
        return list(
            CallEvent.objects.filter(call__pbx_call_id=call_id)
            .order_by("id")
            .values_list("type", "offset_ms")
        )


def test_event_accepted_then_repeated(pbx: Pbx, personas: Personas, call) -> None:
    call_id, t0 = call
    first = pbx.event(call_id, "pause", t0 + 5 * S)
    assert first.status_code == 202
    assert first.json()["type"] == "pause"
    again = pbx.event(call_id, "pause", (t0 + 5 * S).isoformat())  # same instant, other spelling
    assert again.status_code == 200
    assert events_of(personas, call_id) == [("pause", 5000)]


def test_event_refused_by_the_mode_changes_nothing(pbx: Pbx, personas: Personas, call) -> None:
    call_id, t0 = call
    assert_error(pbx.event(call_id, "resume", t0 + S), 409, "event_not_allowed")  # not paused
    assert_error(pbx.event(call_id, "start", t0 + S), 409, "event_not_allowed")
    assert pbx.event(call_id, "pause", t0 + 5 * S).status_code == 202
    assert_error(pbx.event(call_id, "pause", t0 + 6 * S), 409, "event_not_allowed")  # paused already
    assert_error(pbx.event(call_id, "resume", t0 + 4 * S), 409, "event_not_allowed")  # before the last
    assert events_of(personas, call_id) == [("pause", 5000)]


@pytest.mark.parametrize("delta", [-S, timedelta(hours=1)])
def test_at_outside_the_call_is_400(pbx: Pbx, personas: Personas, call, delta: timedelta) -> None:
    call_id, t0 = call
    at = t0 + delta if delta < timedelta(0) else t0 + timedelta(seconds=60) + delta
    assert_error(pbx.event(call_id, "pause", at), 400, "invalid_at")
    assert events_of(personas, call_id) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "hold", "at": "2026-01-01T00:00:00Z"}, "invalid_type"),
        ({"at": "2026-01-01T00:00:00Z"}, "invalid_type"),
        ({"type": 1, "at": "2026-01-01T00:00:00Z"}, "invalid_type"),
        ({"type": "pause"}, "invalid_at"),
        ({"type": "pause", "at": 12}, "invalid_at"),
        ({"type": "pause", "at": "12:00"}, "invalid_at"),
        ({"type": "pause", "at": "2026-01-01T00:00:00"}, "invalid_at"),
    ],
)
def test_bad_event_fields_are_400(pbx: Pbx, personas: Personas, call, body: dict, code: str) -> None:
    call_id, _ = call
    assert_error(pbx.post(f"calls/{call_id}/events", body), 400, code)
    assert_error(pbx.post(f"calls/{call_id}/events", None, raw=b"{oops"), 400, "malformed_json")
    assert events_of(personas, call_id) == []


def test_events_after_the_end(pbx: Pbx, personas: Personas, call) -> None:
    call_id, t0 = call
    assert pbx.event(call_id, "pause", t0 + 5 * S).status_code == 202
    assert pbx.end(call_id, t0 + 30 * S).status_code == 202
    assert_error(pbx.event(call_id, "resume", t0 + 10 * S), 409, "call_ended")
    assert_error(pbx.event(call_id, "resume", t0 + 50 * S), 409, "call_ended")
    assert pbx.event(call_id, "pause", t0 + 5 * S).status_code == 200  # a retried accepted event
    assert events_of(personas, call_id) == [("pause", 5000)]


def test_unknown_call_is_404(pbx: Pbx) -> None:
    assert_error(pbx.event("nope", "pause", "2026-01-01T00:00:00Z"), 404, "unknown_call")
    assert_error(pbx.end("nope", "2026-01-01T00:00:00Z"), 404, "unknown_call")


def test_end_is_idempotent_and_a_different_end_is_refused(pbx: Pbx, personas: Personas, call) -> None:
    call_id, t0 = call
    first = pbx.end(call_id, t0 + 20 * S)
    assert first.status_code == 202
    assert first.json()["state"] == "in_progress"  # kept, waiting for the audio
    again = pbx.end(call_id, iso(t0 + 20 * S).replace("Z", "+00:00"))
    assert again.status_code == 200
    assert_error(pbx.end(call_id, t0 + 25 * S), 409, "call_ended")
    with tenant_scope(personas.tenant_a):
        assert Call.objects.get(pbx_call_id=call_id).ended_at == t0 + 20 * S


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "invalid_ended_at"),
        ("soon", "invalid_ended_at"),
        (5, "invalid_ended_at"),
        ("before", "invalid_ended_at"),
        ("future", "invalid_ended_at"),
    ],
)
def test_bad_end_is_400_and_changes_nothing(pbx: Pbx, personas: Personas, call, value, code: str) -> None:
    call_id, t0 = call
    if value == "before":
        value = iso(t0 - S)
    elif value == "future":
        value = iso(t0 + timedelta(hours=2))
    body = {} if value is None else {"ended_at": value}
    assert_error(pbx.post(f"calls/{call_id}/end", body), 400, code)
    with tenant_scope(personas.tenant_a):
        call_row = Call.objects.get(pbx_call_id=call_id)
    assert call_row.ended_at is None
    assert call_row.state == "in_progress"


def test_rfc3339_spellings_of_the_same_instant(pbx: Pbx, personas: Personas, call) -> None:
    call_id, t0 = call
    at = t0 + 5 * S
    z = iso(at)
    assert pbx.event(call_id, "pause", z.replace("T", "t").replace("Z", "z")).status_code == 202
    assert pbx.event(call_id, "pause", z.replace("Z", ".000000000Z")).status_code == 200
    local = at.astimezone(__import__("datetime").timezone(timedelta(hours=1))).isoformat()
    assert pbx.event(call_id, "pause", local).status_code == 200
    for bad in [z.replace(":00Z", "Z")[:-4] + "Z", z + "\n", z.replace("-", "/")]:
        assert_error(pbx.event(call_id, "resume", bad), 400, "invalid_at")
    assert events_of(personas, call_id) == [("pause", 5000)]
