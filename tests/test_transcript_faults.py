"""Transcription faults on the real stack (issue 17, "Tests and proof"): real ``celery`` worker
processes against the scratch PostgreSQL, Redis and S3 store of ``scripts/services.sh``
(``HIPRECORDER_REAL_SERVICES=1``; skipped on the embedded default like tests/test_faults.py).

- Transcription waiting on its own queue (``transcribe``) does not delay a recording becoming
  playable or its keep-or-delete prompt: a worker consuming only ``celery`` does all of that.
- A failing engine (a corrupt model directory: real CTranslate2 refusing it) is retried through
  the broker with backoff; once the model is repaired, the next attempt stores the transcript.
- A transcription worker killed (SIGKILL) while the engine runs loses nothing: the message comes
  back (``acks_late``) and the transcript is stored once, whole.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from hiprecorder.celery import app
from notifications.models import PushPrompt
from notifications.services import register_device
from recordings.models import Call, Recording
from recordings.simulator import sounds
from recordings.transcripts import engine
from recordings.transcripts.models import Transcript
from tenants import services
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests import test_faults
from tests.api.helpers import client_for
from tests.base import Personas
from tests.recordings.rpi_support import iso
from tests.test_faults import Worker, assert_reconciled, wait_for

# The fault tests' fixtures: a fresh bucket, and real workers against it and the broker.
bucket = test_faults.bucket
worker = test_faults.worker

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]


def _speech(repeat: int) -> bytes:
    """The simulator's English sentences (espeak-ng), ``repeat`` times over, as a 16 kHz WAV."""
    bank = sounds.AudioBank()
    assert bank.speech, "espeak-ng is needed (make sysdeps)"
    first = len(sounds.SENTENCES["nl"])  # the bank's clips: the Dutch sentences, then the English
    english = bank.clips[first : first + len(sounds.SENTENCES["en"])]
    pause = bytes(2 * 16000 // 2)  # half a second of silence between sentences
    pcm = b"".join(clip + pause for clip in english) * repeat
    body, _ = sounds.encode(pcm, "wav16")
    return body


def _call(personas: Personas, body: bytes, call_id: str) -> Call:
    """A Playback user's call from an unknown number (so a keep-or-delete prompt is due), through
    the telephony interface."""
    user = personas.playback["days_30"]
    key = services.create_pbx_key(tenant=personas.tenant_a, name=f"PBX {call_id}").secret
    pbx = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    seconds = max(1, (len(body) - 44) // (2 * 16000))
    start = {
        "call_id": call_id,
        "user": user.pbx_id,
        "direction": "inbound",
        "local_number": "+31201234567",
        "remote_number": "+31612345678",
        "leg": "fixed",
        "started_at": iso(started),
    }
    assert pbx.post("/rpi/v1/calls", start, content_type="application/json").status_code == 201
    ended = {"ended_at": iso(started + timedelta(seconds=seconds))}
    assert pbx.post(f"/rpi/v1/calls/{call_id}/end", ended, content_type="application/json").status_code == 202
    upload = pbx.put(f"/rpi/v1/calls/{call_id}/audio", data=body, content_type="audio/wav")
    assert upload.status_code == 201, upload.content
    with tenant_scope(personas.tenant_a):
        return Call.objects.get(pbx_call_id=call_id)


def _recording(personas: Personas, call: Call) -> Recording | None:
    with tenant_scope(personas.tenant_a):
        return Recording.objects.filter(call=call).first()


def _transcripts(recording: Recording) -> list[Transcript]:
    return list(Transcript.objects.unscoped().filter(recording_id=recording.pk))


def _plays(personas: Personas, recording: Recording) -> bool:
    """The owner's app asks for the stream and gets the first bytes (206)."""
    player = client_for(personas.playback["days_30"])
    body = player.post(f"/api/v1/recordings/{recording.pk}/stream")
    assert body.status_code == 200, body.content
    part = player.get(body.json()["url"].replace("http://testserver", ""), HTTP_RANGE="bytes=0-99")
    return part.status_code == 206 and len(b"".join(part.streaming_content)) == 100  # type: ignore[attr-defined]


def _prompt_sent(personas: Personas, recording: Recording) -> bool:
    with tenant_scope(personas.tenant_a):
        return PushPrompt.objects.filter(recording=recording, status=PushPrompt.Status.SENT).exists()


def _broken_model(folder: Path) -> Path:
    """A model directory with the real model's files but a corrupt ``model.bin``."""
    folder.mkdir()
    for item in engine.model_dir().iterdir():
        if item.is_file() and item.name != "model.bin":
            shutil.copy(item, folder / item.name)
    (folder / "model.bin").write_bytes(b"not a CTranslate2 model" * 100)
    return folder


def _repair(folder: Path) -> None:
    shutil.copy(engine.model_dir() / "model.bin", folder / "model.bin.new")
    os.replace(folder / "model.bin.new", folder / "model.bin")


def test_transcription_waits_on_its_own_queue_and_a_failing_engine_is_retried(
    personas: Personas, worker: Callable[..., Worker], tmp_path: Path
) -> None:
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(transcription_enabled=True)
    register_device(user=personas.playback["days_30"], token="fault-phone", platform="web")
    model = _broken_model(tmp_path / "model")
    worker(queues="celery")  # processing, prompts: not transcription
    call = _call(personas, _speech(1), "transcript-fault-1")

    wait_for(
        lambda: (r := _recording(personas, call)) is not None and _prompt_sent(personas, r),
        "the recording and its prompt",
    )
    recording = _recording(personas, call)
    assert recording is not None
    assert _plays(personas, recording)
    # The transcription was asked for and waits on its own queue, undelivered: nothing of it yet.
    with app.connection_for_write() as conn:
        _name, waiting, _consumers = conn.default_channel.queue_declare("transcribe", passive=True)
    assert waiting == 1
    assert _transcripts(recording) == []

    # A transcriber whose model is corrupt: the engine fails, nothing is stored, Celery retries.
    broken = {"TRANSCRIPTION_MODEL_DIR": str(model), "HF_HUB_OFFLINE": "1"}
    transcriber = worker(queues="transcribe", extra=broken)
    wait_for(lambda: "EngineFailed" in transcriber.tail() and "Retry in" in transcriber.tail(), "a retry")
    assert _transcripts(recording) == []
    assert _plays(personas, recording)  # still playable, as it was all along
    _repair(model)  # the operator puts the model right; the retry (backoff: seconds) finds it
    wait_for(lambda: len(_transcripts(recording)) == 1, "the retried transcription", timeout=300)
    [transcript] = _transcripts(recording)
    assert "customer service" in transcript.text.lower()
    assert transcriber.tail().count("EngineFailed") >= 1
    assert_reconciled()


def test_transcription_worker_killed_while_the_engine_runs_loses_nothing(
    personas: Personas, worker: Callable[..., Worker], tmp_path: Path
) -> None:
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(transcription_enabled=True)
    worker(queues="celery")
    call = _call(personas, _speech(4), "transcript-fault-2")  # a minute and more of speech
    wait_for(lambda: _recording(personas, call) is not None, "the recording")
    recording = _recording(personas, call)
    assert recording is not None

    scratch = tmp_path / "scratch"  # the transcriber's temporary folder: its audio copy shows up here
    scratch.mkdir()

    def engine_running() -> bool:
        # The service copies the audio into a folder of its own, then runs the engine on it.
        copies = list(scratch.glob("transcribe-*/audio"))
        return bool(copies) and copies[0].stat().st_size == recording.size_bytes

    first = worker(queues="transcribe", extra={"TMPDIR": str(scratch), "HF_HUB_OFFLINE": "1"})
    wait_for(engine_running, "the engine to start")
    first.kill()
    assert _transcripts(recording) == []  # cut short: nothing stored, not half a transcript

    second = worker(queues="transcribe", extra={"TMPDIR": str(scratch), "HF_HUB_OFFLINE": "1"})
    wait_for(lambda: len(_transcripts(recording)) == 1, "the transcription after the restart", timeout=300)
    # Delivered again and stored once; a further delivery would find it done.
    assert "recordings.transcribe_recording" in second.tail()
    [transcript] = _transcripts(recording)
    assert transcript.text.lower().count("customer service") >= 3  # the whole minute, not a part
    assert transcript.segments[-1][1] > 50_000
    # The killed attempt's audio copy is gone too (removed by the next attempt).
    wait_for(lambda: not list(scratch.glob("transcribe-*")), "the killed attempt's audio copy to go")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM recordings_transcript WHERE recording_id = %s", [recording.pk])
        assert cursor.fetchone() == (1,)
