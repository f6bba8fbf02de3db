"""Strict input on the telephony interface (issue 13, findings 5 and 6): numbers, call_ids, JSON
depth and size, times out of range. Every refusal is the contract's JSON error and changes nothing."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from recordings import rules
from recordings.models import Call
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, assert_error, wav_bytes


def _calls(personas: Personas) -> list[Call]:
    with tenant_scope(personas.tenant_a):
        return list(Call.objects.all())


# --- phone numbers -----------------------------------------------------------------------------


def test_blacklisted_number_with_a_trailing_newline_is_refused_not_recorded(
    pbx: Pbx, personas: Personas
) -> None:
    user = personas.playback["days_30"]
    rules.add_rule(user=user, list_type="blacklist", number="+31201111111")
    body = assert_error(pbx.start(user.pbx_id, remote_number="+31201111111\n"), 400, "invalid_remote_number")
    assert "E.164" in body["message"]
    assert _calls(personas) == []
    # The number as it should be sent is still blacklisted.
    answer = pbx.start(user.pbx_id, remote_number="+31201111111")
    assert answer.status_code == 201 and answer.json()["record"] is False


@pytest.mark.parametrize("field", ["remote_number", "local_number"])
@pytest.mark.parametrize(
    "bad",
    [
        "+31201111111\n",
        "\n+31201111111",
        "+31201111111 ",
        "+31 20 111 1111",
        "+31(0)201111111",
        "0201111111",
        "+310201111111",  # a national prefix inside E.164: phonenumbers would drop the 0
        "+3120111111111111",  # too long for the Netherlands
        "+1",
        "+٣١٢٠١١١١١١١",  # Arabic-Indic digits
        "+31201111111;ext=5",
        "tel:+31201111111",
    ],
)
def test_numbers_not_in_exact_e164_are_400(pbx: Pbx, personas: Personas, field: str, bad: str) -> None:
    response = pbx.start(personas.users["always"].pbx_id, **{field: bad})
    assert_error(response, 400, f"invalid_{field}")
    assert _calls(personas) == []


def test_anonymous_is_only_for_the_remote_party(pbx: Pbx, personas: Personas) -> None:
    user = personas.users["always"].pbx_id
    assert pbx.start(user, remote_number="anonymous").status_code == 201
    assert_error(pbx.start(user, local_number="anonymous"), 400, "invalid_local_number")
    assert_error(pbx.start(user, remote_number="anonymous\n"), 400, "invalid_remote_number")


# --- call_id -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call_id",
    ["pbx-7f3a-0001", "sim-20261204042000-00042-00001", "A", "a" * 128, "call.1:leg@pbx_2-x"],
)
def test_call_ids_of_the_documented_set_are_accepted_and_addressable(
    pbx: Pbx, personas: Personas, call_id: str
) -> None:
    response = pbx.start(personas.users["always"].pbx_id, call_id=call_id)
    assert response.status_code == 201, response.content
    read = pbx.client.get(f"/rpi/v1/calls/{quote(call_id, safe='')}", **pbx._auth(None))
    assert read.status_code == 200 and read.json()["call_id"] == call_id


@pytest.mark.parametrize(
    "call_id",
    [
        "a/b",
        "../x",
        "a..b",
        ".hidden",
        "-dash",
        "nul\x00byte",
        "new\nline",
        "trailing\n",
        "q?x",
        "h#x",
        "per%cent",
        "spa ce",
        "a" * 129,
        "ünïcode",
    ],
)
def test_call_ids_outside_the_set_are_400(pbx: Pbx, personas: Personas, call_id: str) -> None:
    response = pbx.start(personas.users["always"].pbx_id, call_id=call_id)
    assert_error(response, 400, "invalid_call_id")
    assert _calls(personas) == []


@pytest.mark.parametrize("segment", ["a..b", ".x", "spa%20ce", "new%0Aline", "%00"])
@pytest.mark.parametrize("suffix", ["", "/events", "/end", "/audio"])
def test_a_path_call_id_outside_the_set_is_400_json(pbx: Pbx, segment: str, suffix: str) -> None:
    path = f"/rpi/v1/calls/{segment}{suffix}"
    auth = pbx._auth(None)
    if suffix == "":
        response = pbx.client.get(path, **auth)
    elif suffix == "/audio":
        response = pbx.client.put(path, data=wav_bytes(), content_type="audio/wav", **auth)
    else:
        response = pbx.client.post(path, data="{}", content_type="application/json", **auth)
    assert_error(response, 400, "invalid_call_id")


def test_an_unknown_path_with_a_newline_is_a_json_404(pbx: Pbx) -> None:
    assert_error(pbx.client.get("/rpi/v1/nothing%0Ahere", **pbx._auth(None)), 404, "not_found")


# --- JSON depth and size -----------------------------------------------------------------------


@pytest.mark.parametrize("opener", ["[", '{"":'])
def test_json_nested_50000_deep_is_400_not_a_recursion_error(pbx: Pbx, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    raw = (opener * 50_000 + "1" + closer * 50_000).encode()
    body = assert_error(pbx.post("calls", None, raw=raw), 400, "malformed_json")
    assert "deeper" in body["message"]


def test_json_depth_limit_on_events_and_end(pbx: Pbx, personas: Personas) -> None:
    started = pbx.start(personas.users["on_demand"].pbx_id)
    call_id = started.sent["call_id"]
    raw = b'{"type": "keep", "at": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert_error(pbx.post(f"calls/{call_id}/events", None, raw=raw), 400, "malformed_json")
    assert_error(pbx.post(f"calls/{call_id}/end", None, raw=raw), 400, "malformed_json")


def test_brackets_inside_strings_do_not_count_as_depth(pbx: Pbx, personas: Personas) -> None:
    response = pbx.start(personas.users["always"].pbx_id, direction="[" * 40 + "{" * 40)
    assert_error(response, 400, "invalid_direction")  # judged as a field, not as deep JSON


def test_a_body_over_the_limit_is_413_and_changes_nothing(
    pbx: Pbx, personas: Personas, settings: object
) -> None:
    settings.JSON_MAX_BODY_BYTES = 2048  # type: ignore[attr-defined]
    response = pbx.start(personas.users["always"].pbx_id, padding="x" * 4096)
    assert_error(response, 413, "body_too_large")
    assert _calls(personas) == []
    # Just under the limit is judged as usual (an unknown extra field is ignored).
    assert pbx.start(personas.users["always"].pbx_id, padding="x" * 1024).status_code == 201


@pytest.mark.parametrize("raw", [b"NaN", b'{"call_id": Infinity}', b"\xff\xfe{}"])
def test_non_json_constants_and_bytes_are_malformed(pbx: Pbx, raw: bytes) -> None:
    assert_error(pbx.post("calls", None, raw=raw), 400, "malformed_json")


# --- times out of range ------------------------------------------------------------------------

OUT_OF_RANGE = [
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_started_at_out_of_range_is_400(pbx: Pbx, personas: Personas, value: str) -> None:
    response = pbx.start(personas.users["always"].pbx_id, started_at=value)
    assert_error(response, 400, "invalid_started_at")
    assert _calls(personas) == []


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_event_and_end_times_out_of_range_are_400(pbx: Pbx, personas: Personas, value: str) -> None:
    started = pbx.start(personas.users["on_demand"].pbx_id)
    call_id = started.sent["call_id"]
    assert_error(pbx.post(f"calls/{call_id}/events", {"type": "keep", "at": value}), 400, "invalid_at")
    assert_error(pbx.post(f"calls/{call_id}/end", {"ended_at": value}), 400, "invalid_ended_at")
    with tenant_scope(personas.tenant_a):
        call = Call.objects.get(pbx_call_id=call_id)
        assert call.ended_at is None and not call.events.exists()


@pytest.mark.parametrize("offset", ["2147483648", "9999999999"])
def test_audio_offset_beyond_the_column_is_400(pbx: Pbx, personas: Personas, offset: str) -> None:
    started = pbx.start(personas.users["always"].pbx_id)
    response = pbx.client.put(
        f"/rpi/v1/calls/{started.sent['call_id']}/audio",
        data=wav_bytes(),
        content_type="audio/wav",
        HTTP_X_AUDIO_OFFSET_MS=offset,
        **pbx._auth(None),
    )
    assert_error(response, 400, "invalid_audio_offset_ms")
    with tenant_scope(personas.tenant_a):
        assert Call.objects.get(pbx_call_id=started.sent["call_id"]).upload_key == ""


def test_the_largest_offset_is_accepted(pbx: Pbx, personas: Personas) -> None:
    started = pbx.start(personas.users["always"].pbx_id)
    response = pbx.client.put(
        f"/rpi/v1/calls/{started.sent['call_id']}/audio",
        data=wav_bytes(),
        content_type="audio/wav",
        HTTP_X_AUDIO_OFFSET_MS="2147483647",
        **pbx._auth(None),
    )
    assert response.status_code == 201, json.loads(response.content)
