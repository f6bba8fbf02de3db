"""Every row of the recording-mode table, end to end through HTTP: start → events → end → audio
→ processing (eager task) → read-back, with what is left in storage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import storages

from recordings.models import Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, opus_bytes, stored_keys, wav_bytes

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


def run_call(
    pbx: Pbx,
    user: str,
    events: list[tuple[str, int]],
    *,
    seconds: int = 4,
    audio_first: bool = False,
    body: bytes | None = None,
    content_type: str = "audio/wav",
    offset_ms: int = 0,
) -> dict:
    started = pbx.start(user, seconds_ago=30)
    assert started.status_code == 201, started.content
    call_id, t0 = started.sent["call_id"], started.started
    body = wav_bytes(float(seconds)) if body is None else body
    if audio_first:
        assert pbx.audio(call_id, body, content_type=content_type, offset_ms=offset_ms).status_code == 201
    for type_, at_ms in events:
        response = pbx.event(call_id, type_, t0 + timedelta(milliseconds=at_ms))
        assert response.status_code == 202, (type_, at_ms, response.content)
    ended = pbx.end(call_id, t0 + seconds * S)
    assert ended.status_code == 202, ended.content
    if not audio_first:
        response = pbx.audio(call_id, body, content_type=content_type, offset_ms=offset_ms)
        assert response.status_code in (201, 409), response.content
    read = pbx.get(call_id)
    assert read.status_code == 200
    return {"call_id": call_id, "started": started, **read.json()}


def recording_of(personas: Personas, call_id: str) -> Recording:
    with tenant_scope(personas.tenant_a):
        return Recording.objects.select_related("call").get(call__pbx_call_id=call_id)


def only_rendition_left(personas: Personas, recording: Recording) -> None:
    assert stored_keys() == [recording.storage_key]
    assert recording.storage_key.startswith(f"tenants/{personas.tenant_a.id}/recordings/")


def test_always_records_everything(pbx: Pbx, personas: Personas) -> None:
    result = run_call(pbx, personas.users["always"].pbx_id, [])
    assert result["state"] == "recorded"
    recording = recording_of(personas, result["call_id"])
    assert result["recording"] == {
        "id": str(recording.id),
        "duration_ms": recording.duration_ms,
        "sha256": recording.sha256,
    }
    assert 3900 <= recording.duration_ms <= 4100
    assert recording.kind == "standard"
    assert recording.owner == personas.users["always"]
    assert recording.remote_number == "+31612345678"
    assert recording.paused_spans == []
    assert recording.peaks
    assert recording.talk_ratio is not None
    assert recording.expires_at == recording.ended_at + timedelta(days=personas.tenant_a.retention_days)
    with storages["recordings"].open(recording.storage_key) as handle:
        import hashlib

        assert hashlib.sha256(handle.read()).hexdigest() == recording.sha256
    only_rendition_left(personas, recording)


def test_always_refuses_pause(pbx: Pbx, personas: Personas) -> None:
    started = pbx.start(personas.users["always"].pbx_id)
    response = pbx.event(started.sent["call_id"], "pause", started.started + S)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "event_not_allowed"


def test_always_pause_removes_paused_spans(pbx: Pbx, personas: Personas) -> None:
    result = run_call(
        pbx, personas.users["always_pause"].pbx_id, [("pause", 1000), ("resume", 2500)], seconds=6
    )
    assert result["state"] == "recorded"
    recording = recording_of(personas, result["call_id"])
    assert recording.paused_spans == [[1000, 2500]]
    assert 4400 <= recording.duration_ms <= 4600
    only_rendition_left(personas, recording)


def test_always_pause_without_resume_lasts_to_the_end(pbx: Pbx, personas: Personas) -> None:
    result = run_call(pbx, personas.users["always_pause"].pbx_id, [("pause", 3000)], seconds=5)
    recording = recording_of(personas, result["call_id"])
    assert recording.paused_spans == [[3000, 5000]]
    assert 2900 <= recording.duration_ms <= 3100


def test_on_demand_without_keep_leaves_nothing(pbx: Pbx, personas: Personas) -> None:
    result = run_call(pbx, personas.users["on_demand"].pbx_id, [], audio_first=True)
    assert result["state"] == "discarded"
    assert "recording" not in result
    assert stored_keys() == []
    # audio after a discarding end is taken but not stored either
    late = run_call(pbx, personas.users["on_demand"].pbx_id, [])
    assert late["state"] == "discarded"
    assert stored_keys() == []


def test_on_demand_keep_keeps_the_call_from_its_start(pbx: Pbx, personas: Personas) -> None:
    user = personas.users["on_demand"].pbx_id
    started = pbx.start(user)
    call_id, t0 = started.sent["call_id"], started.started
    assert pbx.event(call_id, "pause", t0 + S).json()["error"]["code"] == "event_not_allowed"
    assert pbx.event(call_id, "keep", t0 + 3 * S).status_code == 202
    assert pbx.event(call_id, "keep", t0 + 3 * S).status_code == 200  # a repeat
    assert pbx.event(call_id, "pause", t0 + 3 * S).status_code == 202  # allowed after keep
    assert pbx.event(call_id, "resume", t0 + 4 * S).status_code == 202
    assert pbx.end(call_id, t0 + 6 * S).status_code == 202
    assert pbx.audio(call_id, wav_bytes(6.0)).status_code == 201
    read = pbx.get(call_id).json()
    assert read["state"] == "recorded"
    recording = recording_of(personas, call_id)
    assert recording.paused_spans == [[3000, 4000]]
    assert 4900 <= recording.duration_ms <= 5100


def test_user_start_without_start_leaves_nothing(pbx: Pbx, personas: Personas) -> None:
    result = run_call(pbx, personas.users["on_demand_user_start"].pbx_id, [])
    assert result["state"] == "discarded"
    assert stored_keys() == []


def test_user_start_keeps_from_start(pbx: Pbx, personas: Personas) -> None:
    user = personas.users["on_demand_user_start"].pbx_id
    started = pbx.start(user)
    call_id, t0 = started.sent["call_id"], started.started
    assert pbx.event(call_id, "keep", t0 + S).json()["error"]["code"] == "event_not_allowed"
    assert pbx.event(call_id, "pause", t0 + S).status_code == 409
    assert pbx.event(call_id, "start", t0 + 2 * S).status_code == 202
    assert pbx.event(call_id, "start", t0 + 3 * S).status_code == 200  # a second start is a no-op
    assert pbx.end(call_id, t0 + 6 * S).status_code == 202
    # the phone system sends audio from start: its first sample lies 2 s into the call
    assert pbx.audio(call_id, wav_bytes(4.0), offset_ms=2000).status_code == 201
    assert pbx.get(call_id).json()["state"] == "recorded"
    recording = recording_of(personas, call_id)
    assert 3900 <= recording.duration_ms <= 4100


def test_never_records_nothing_and_refuses_audio(pbx: Pbx, personas: Personas) -> None:
    started = pbx.start(personas.users["never"].pbx_id)
    call_id, t0 = started.sent["call_id"], started.started
    assert started.json()["record"] is False
    for type_ in ("keep", "start", "pause", "resume"):
        assert pbx.event(call_id, type_, t0 + S).json()["error"]["code"] == "event_not_allowed"
    refused = pbx.audio(call_id, wav_bytes())
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_recorded"
    assert pbx.end(call_id, t0 + 2 * S).status_code == 202
    assert pbx.audio(call_id, wav_bytes()).status_code == 409
    assert pbx.get(call_id).json()["state"] == "not_recorded"
    assert stored_keys() == []


def test_no_product_is_not_recorded(pbx: Pbx, personas: Personas) -> None:
    started = pbx.start(personas.no_product.pbx_id)
    pbx.end(started.sent["call_id"], started.started + S)
    assert pbx.get(started.sent["call_id"]).json() == {
        "call_id": started.sent["call_id"],
        "state": "not_recorded",
        "kind": None,
        "mode": None,
        "record": False,
    }


def test_playback_records_whole_and_unsaved_for_three_days(pbx: Pbx, personas: Personas) -> None:
    user = personas.playback["days_90"].pbx_id
    started = pbx.start(user)
    call_id, t0 = started.sent["call_id"], started.started
    for type_ in ("keep", "pause"):
        assert pbx.event(call_id, type_, t0 + S).json()["error"]["code"] == "event_not_allowed"
    assert pbx.audio(call_id, opus_bytes(3.0), content_type="audio/ogg").status_code == 201
    assert pbx.get(call_id).json()["state"] == "in_progress"
    assert pbx.end(call_id, t0 + 3 * S).status_code == 202
    read = pbx.get(call_id).json()
    assert read["state"] == "recorded"
    assert read["kind"] == "playback"
    recording = recording_of(personas, call_id)
    assert recording.kind == "playback"
    assert recording.saved is False
    assert recording.expires_at == recording.ended_at + timedelta(days=3)
    assert 2900 <= recording.duration_ms <= 3100
    only_rendition_left(personas, recording)


def test_blacklisted_playback_call_is_not_recorded(
    pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recordings import rules

    monkeypatch.setattr(rules, "is_blacklisted", lambda user, number: number == "+31201111111")
    started = pbx.start(personas.playback["days_30"].pbx_id, remote_number="+31201111111")
    assert started.json()["record"] is False
    assert started.json()["announce"] is False
    call_id = started.sent["call_id"]
    assert pbx.audio(call_id, wav_bytes()).status_code == 409
    pbx.end(call_id, started.started + S)
    assert pbx.get(call_id).json()["state"] == "discarded"


def test_blacklisted_during_the_call_deletes_the_audio(
    pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recordings import rules

    started = pbx.start(personas.playback["days_30"].pbx_id, remote_number="+31201111111")
    call_id = started.sent["call_id"]
    assert pbx.audio(call_id, wav_bytes()).status_code == 201
    assert len(stored_keys()) == 1
    monkeypatch.setattr(rules, "is_blacklisted", lambda user, number: True)
    pbx.end(call_id, started.started + 2 * S)
    assert pbx.get(call_id).json()["state"] == "discarded"
    assert stored_keys() == []


def test_audio_before_or_after_end_gives_the_same_recording(pbx: Pbx, personas: Personas) -> None:
    before = run_call(pbx, personas.users["always"].pbx_id, [], audio_first=True)
    after = run_call(pbx, personas.users["always"].pbx_id, [])
    assert before["state"] == after["state"] == "recorded"
    assert before["recording"]["sha256"] == after["recording"]["sha256"]


def test_offset_places_the_audio_in_the_call(pbx: Pbx, personas: Personas) -> None:
    result = run_call(
        pbx,
        personas.users["always_pause"].pbx_id,
        [("pause", 0), ("resume", 2000)],
        seconds=6,
        body=wav_bytes(4.0),
        offset_ms=1000,
    )
    recording = recording_of(personas, result["call_id"])
    assert recording.segments == [[2000, 5000, 0]]
    # 4 s of audio from 1 s to 5 s; 1 s of it lies in the paused [0, 2 s)
    assert 2900 <= recording.duration_ms <= 3100
