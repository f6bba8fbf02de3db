"""The processing task: idempotent, safe after a crash between steps, failing cleanly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recordings import capture, tasks
from recordings.capture import calls as capture_calls
from recordings.capture import processing as capture_processing
from recordings.capture import uploads as capture_uploads
from recordings.models import Call, Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, stored_keys, wav_bytes

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


@pytest.fixture
def ready(pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch) -> Call:
    """A call with end and audio arrived, whose processing task has not run yet."""
    sent: list[tuple] = []

    def enqueue(call: Call) -> None:
        sent.append((call.tenant_id, call.id))

    for module in (capture_calls, capture_uploads):  # the end or the audio, whichever comes last
        monkeypatch.setattr(module, "_enqueue_processing", enqueue)
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + 3 * S)
    assert pbx.audio(call_id, wav_bytes(3.0)).status_code == 201
    assert pbx.get(call_id).json()["state"] == "processing"
    assert len(sent) == 1
    with tenant_scope(personas.tenant_a):
        return Call.objects.get(pbx_call_id=call_id)


def run(call: Call) -> str:
    """Run the task as a worker would: eager retries run in turn (the result raises on failure)."""
    from hiprecorder.celery import app

    app.conf.task_eager_propagates = False
    try:
        return tasks.process_call.apply(args=[str(call.tenant_id), str(call.id)]).get(
            disable_sync_subtasks=False
        )
    finally:
        app.conf.task_eager_propagates = True


def recordings_of(personas: Personas) -> list[Recording]:
    with tenant_scope(personas.tenant_a):
        return list(Recording.objects.all())


def test_running_twice_makes_one_recording(ready: Call, personas: Personas) -> None:
    assert run(ready) == "recorded"
    assert run(ready) == "recorded"
    [recording] = recordings_of(personas)
    assert stored_keys() == [recording.storage_key]
    with tenant_scope(personas.tenant_a):
        call = Call.objects.get(pk=ready.pk)
    assert call.processing_attempts == 1
    assert call.upload_key == ""


def test_crash_after_storing_the_rendition_before_the_row(
    ready: Call, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    def die(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(type(Recording.objects), "create", lambda self, **kw: die(**kw), raising=False)
    with pytest.raises(SystemExit):
        capture.process_call(tenant_id=ready.tenant_id, call_id=ready.id)
    monkeypatch.undo()
    # the dead attempt left its rendition and the raw upload behind; the call is still processing
    assert len(stored_keys()) == 2
    with tenant_scope(personas.tenant_a):
        assert Call.objects.get(pk=ready.pk).state == "processing"
    assert run(ready) == "recorded"
    [recording] = recordings_of(personas)
    assert stored_keys() == [recording.storage_key]  # the orphan rendition and the raw are gone


def test_crash_after_the_row_before_deleting_the_raw(
    ready: Call, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        capture_processing, "_finish_cleanup", lambda call: (_ for _ in ()).throw(SystemExit("killed"))
    )
    with pytest.raises(SystemExit):
        capture.process_call(tenant_id=ready.tenant_id, call_id=ready.id)
    monkeypatch.undo()
    [recording] = recordings_of(personas)
    assert len(stored_keys()) == 2
    assert recording.expiry_rule == ""  # the lifecycle has not taken over yet
    assert run(ready) == "recorded"  # the redelivered task finishes the cleanup and the hand-over
    assert recordings_of(personas) == [recording]
    assert stored_keys() == [recording.storage_key]
    [handed] = recordings_of(personas)
    assert handed.expiry_rule != ""
    assert handed.expires_at == handed.ended_at + timedelta(days=personas.tenant_a.retention_days)


def test_transient_errors_are_retried_then_the_call_fails(
    ready: Call, personas: Personas, monkeypatch: pytest.MonkeyPatch, pbx: Pbx
) -> None:
    attempts: list[int] = []

    def flaky(**kwargs):
        attempts.append(1)
        raise OSError("storage unreachable")

    monkeypatch.setattr(capture, "process_call", flaky)
    run(ready)
    assert len(attempts) == tasks.MAX_RETRIES + 1
    read = pbx.get(ready.pbx_call_id).json()
    assert read["state"] == "failed"
    assert read["error_code"] == "processing_failed"
    assert "recording" not in read
    assert stored_keys() == []  # no audio left behind


def test_a_transient_error_then_success(
    ready: Call, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = capture.process_call
    calls: list[int] = []

    def once_flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("blip")
        return real(**kwargs)

    monkeypatch.setattr(capture, "process_call", once_flaky)
    assert run(ready) == "recorded"
    assert len(recordings_of(personas)) == 1


def test_audio_that_breaks_while_decoding_fails_the_call(
    ready: Call, personas: Personas, monkeypatch: pytest.MonkeyPatch, pbx: Pbx
) -> None:
    from recordings import audio

    def broken(*args, **kwargs):
        raise audio.UnsupportedAudio(message="decoding failed at 1.2 s")

    monkeypatch.setattr(audio, "process", broken)
    assert run(ready) == "failed"
    read = pbx.get(ready.pbx_call_id).json()
    assert read["state"] == "failed"
    assert read["error_code"] == "unsupported_audio"
    assert stored_keys() == []
    assert recordings_of(personas) == []


def test_nothing_retained_in_the_audio_discards_the_call(pbx: Pbx, personas: Personas) -> None:
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + 3 * S)
    # the audio's first sample lies after the end of the call
    assert pbx.audio(call_id, wav_bytes(1.0), offset_ms=5000).status_code == 201
    assert pbx.get(call_id).json()["state"] == "discarded"
    assert stored_keys() == []
