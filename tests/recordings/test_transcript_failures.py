"""A failing transcription (issue 17, "Tests and proof"): the recording stays playable with its
prompt sent, no half transcript is stored, and the task is retried through Celery's own retry
machinery (``Task.apply`` runs the retries it asks for). After the last retry the recording simply
has no transcript (the API answers status ``none``) and the worker logs an ERROR naming it.
The same through real workers and the broker: tests/test_transcript_faults.py."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from notifications.models import PushPrompt
from notifications.services import register_device
from recordings import alerts
from recordings.models import Call, Recording
from recordings.simulator import sounds
from recordings.transcripts import engine
from recordings.transcripts.models import Transcript
from recordings.transcripts.search import FTS_TABLE
from recordings.transcripts.tasks import transcribe_recording
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for
from tests.base import Personas
from tests.recordings.rpi_support import Pbx

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub


@pytest.fixture(autouse=True)
def _retries_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests propagate eager tasks' exceptions (CELERY_TASK_EAGER_PROPAGATES), which makes a
    retry raise instead of run. Here the failures stay in the result, as on a worker, so Celery's
    ``apply`` runs each retry the task asks for."""
    monkeypatch.setitem(transcribe_recording.app.conf, "task_eager_propagates", False)


@pytest.fixture(scope="module")
def english_speech() -> bytes:
    bank = sounds.AudioBank()
    assert bank.speech, "espeak-ng is needed (make sysdeps)"
    body, _ = sounds.encode(bank.clips[len(sounds.SENTENCES["nl"])], "wav16")
    return body


@pytest.fixture
def recorded(pbx: Pbx, personas: Personas, english_speech: bytes) -> Recording:
    """A Playback user's call from an unknown number through the telephony interface, processed
    (the tasks run eagerly in tests) before the tenant opted in; then the tenant opts in."""
    user = personas.playback["days_30"]
    register_device(user=user, token="failing-phone", platform="web")
    started = pbx.start(user.pbx_id)
    call_id = started.sent["call_id"]
    assert pbx.end(call_id, started.started + 6 * S).status_code == 202
    assert pbx.audio(call_id, english_speech).status_code == 201
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(transcription_enabled=True)
    with tenant_scope(personas.tenant_a):
        return Recording.objects.get(call=Call.objects.get(pbx_call_id=call_id))


def _args(recording: Recording) -> list[str]:
    return [str(recording.tenant_id), str(recording.pk)]


def _raw_transcript_rows() -> list[tuple[Any, ...]]:
    """Every transcript row and (SQLite) every row of its FTS5 index, read with plain SQL."""
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, text FROM {Transcript._meta.db_table}")  # noqa: S608 (model metadata)
        rows += cursor.fetchall()
        if connection.vendor == "sqlite":
            cursor.execute(f"SELECT transcript_id, text FROM {FTS_TABLE}")  # noqa: S608 (constant)
            rows += cursor.fetchall()
    return rows


def _playable_with_prompt(personas: Personas, recording: Recording) -> None:
    owner = personas.playback["days_30"]
    player = client_for(owner)
    stream = player.post(f"/api/v1/recordings/{recording.pk}/stream")
    assert stream.status_code == 200, stream.content
    part = player.get(stream.json()["url"].replace("http://testserver", ""), HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206
    assert len(b"".join(part.streaming_content)) == 100
    with tenant_scope(personas.tenant_a):
        prompt = PushPrompt.objects.get(recording=recording)
    assert prompt.status == PushPrompt.Status.SENT


def test_an_engine_failure_is_retried_and_the_next_attempt_stores_the_transcript(
    personas: Personas, recorded: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine._transcribe
    attempts: list[int] = []

    def fails_once(path: Any, *, language: str, words: bool) -> engine.Result:
        attempts.append(1)
        if len(attempts) == 1:  # as CTranslate2 does when the machine is short of memory
            raise RuntimeError("std::bad_alloc")
        return real(path, language=language, words=words)

    monkeypatch.setattr(engine, "_transcribe", fails_once)
    # Celery's apply runs the retry the task asks for (autoretry_for, with its backoff).
    assert transcribe_recording.apply(args=_args(recorded)).get() == "transcribed"
    assert len(attempts) == 2
    with tenant_scope(personas.tenant_a):
        [transcript] = Transcript.objects.filter(recording=recorded)
    assert "customer service" in transcript.text.lower()
    _playable_with_prompt(personas, recorded)


def test_a_corrupt_model_stores_nothing_and_says_so_after_the_last_retry(
    personas: Personas,
    recorded: Recording,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(engine.model_dir(), broken)
    (broken / "model.bin").write_bytes(b"not a CTranslate2 model" * 100)
    settings.TRANSCRIPTION_MODEL_DIR = str(broken)
    real = engine._transcribe
    attempts: list[int] = []

    def counted(path: Any, *, language: str, words: bool) -> engine.Result:
        attempts.append(1)
        return real(path, language=language, words=words)  # the real engine, refusing the model

    monkeypatch.setattr(engine, "_transcribe", counted)
    with caplog.at_level(logging.ERROR, logger="recordings.transcripts.tasks"):
        result = transcribe_recording.apply(args=_args(recorded))
    assert result.failed() and isinstance(result.result, engine.EngineFailed)
    assert len(attempts) == transcribe_recording.max_retries + 1  # every retry ran
    assert _raw_transcript_rows() == []  # not half a transcript, not an empty one
    [error] = [r for r in caplog.records if r.name == "recordings.transcripts.tasks"]
    assert str(recorded.pk) in error.getMessage()
    assert f"after {len(attempts)} attempts" in error.getMessage()
    # What the product shows: the recording plays and was prompted for; it has no transcript.
    _playable_with_prompt(personas, recorded)
    url = reverse("api:recording_transcript", args=[recorded.pk])
    assert client_for(personas.playback["days_30"]).get(url).json()["status"] == "none"
    # Once the model is right again, asking again (the repair of the operator) works.
    settings.TRANSCRIPTION_MODEL_DIR = ""
    assert transcribe_recording.apply(args=_args(recorded)).get() == "transcribed"


def test_a_failure_while_storing_leaves_no_half_transcript(
    personas: Personas, recorded: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = alerts.apply_alerts

    def breaks(**kwargs: Any) -> Any:  # after the transcript row was written, in its transaction
        raise ValueError("a fault after the row was written")

    monkeypatch.setattr(alerts, "apply_alerts", breaks)
    result = transcribe_recording.apply(args=_args(recorded))
    assert result.failed() and "after the row" in str(result.result)
    assert _raw_transcript_rows() == []  # rolled back: no row, no index entry
    monkeypatch.setattr(alerts, "apply_alerts", real)
    assert transcribe_recording.apply(args=_args(recorded)).get() == "transcribed"
    rows = _raw_transcript_rows()
    assert len(rows) == (2 if connection.vendor == "sqlite" else 1)  # the row (and its index entry)
    assert all("customer service" in text.lower() for _id, text in rows)
