"""A failing transcription (issue 17, "Tests and proof"): the recording stays playable with its
prompt sent, no half transcript is stored, and the task is retried through Celery's own retry
machinery (``Task.apply`` runs the retries it asks for). After the last retry the recording simply
has no transcript (the API answers status ``none``) and the worker logs an ERROR naming it.
The same through real workers and the broker: tests/test_transcript_faults.py."""

from __future__ import annotations

import logging
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications.models import PushPrompt
from notifications.services import register_device
from recordings import alerts, privacy
from recordings.lifecycle.deletion import delete_recording_objects
from recordings.models import Call, Recording
from recordings.overview import overview
from recordings.simulator import sounds
from recordings.transcripts import engine, service
from recordings.transcripts.models import Transcript, TranscriptFailure
from recordings.transcripts.search import FTS_TABLE
from recordings.transcripts.tasks import transcribe_recording
from tenants.models import DeletionReport, Tenant
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for
from tests.base import Personas
from tests.factories import make_recording
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


# --- a failure that needs the admin's attention --------------------------------------------------


def _failure_rows() -> list[tuple[Any, ...]]:
    """Every noted failure (recording, tenant, attempts, error), read with plain SQL whatever the
    tenant."""
    with connection.cursor() as cursor:
        table = TranscriptFailure._meta.db_table
        cursor.execute(f"SELECT recording_id, tenant_id, attempts, error FROM {table}")  # noqa: S608 (model metadata)
        rows = cursor.fetchall()
    return [
        (uuid.UUID(str(rec)), uuid.UUID(str(tenant)), attempts, error)
        for rec, tenant, attempts, error in rows
    ]


def test_the_last_failed_attempt_notes_it_and_a_later_success_clears_it(
    personas: Personas, recorded: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine._transcribe
    noted_before: list[int] = []

    def always_fails(path: Any, *, language: str, words: bool) -> engine.Result:
        noted_before.append(len(_failure_rows()))  # what an attempt finds noted
        raise RuntimeError("std::bad_alloc")

    monkeypatch.setattr(engine, "_transcribe", always_fails)
    result = transcribe_recording.apply(args=_args(recorded))
    assert result.failed()
    attempts = transcribe_recording.max_retries + 1
    assert noted_before == [0] * attempts  # the attempts before the last one note nothing
    with tenant_scope(personas.tenant_a):
        [failure] = TranscriptFailure.objects.all()
    assert (failure.recording_id, failure.attempts, failure.error) == (recorded.pk, attempts, "EngineFailed")
    assert failure.tenant_id == personas.tenant_a.pk
    # Asked again (the operator's repair) with the engine working: the transcript, and no failure.
    monkeypatch.setattr(engine, "_transcribe", real)
    assert transcribe_recording.apply(args=_args(recorded)).get() == "transcribed"
    assert _failure_rows() == []
    with tenant_scope(personas.tenant_a):
        assert Transcript.objects.filter(recording=recorded).exists()
        assert overview(personas.tenant_a).transcript_failures == 0


def test_a_failure_that_is_not_retried_is_noted_at_once(
    personas: Personas, recorded: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    def breaks(**kwargs: Any) -> Any:
        raise ValueError("a bug while storing")

    monkeypatch.setattr(alerts, "apply_alerts", breaks)
    assert transcribe_recording.apply(args=_args(recorded)).failed()
    assert _failure_rows() == [(recorded.pk, personas.tenant_a.pk, 1, "ValueError")]


def test_nothing_is_noted_for_a_deleted_or_transcribed_recording(personas: Personas) -> None:
    owner = personas.users["always"]
    gone = make_recording(owner, deleted_at=timezone.now())
    done = make_recording(owner)
    with tenant_scope(personas.tenant_a):
        Transcript.objects.create(
            tenant_id=done.tenant_id, recording=done, language="en", model_name="m", text="hi"
        )
    for recording in (gone, done):
        noted = service.record_failure(
            tenant_id=recording.tenant_id,
            recording_id=recording.pk,
            attempts=7,
            error=engine.EngineFailed("x"),
        )
        assert noted is False
    assert _failure_rows() == []


def _fail(recording: Recording, attempts: int = 7) -> None:
    assert service.record_failure(
        tenant_id=recording.tenant_id,
        recording_id=recording.pk,
        attempts=attempts,
        error=engine.EngineFailed("x"),
    )


def test_the_overview_counts_the_tenants_own_failures_and_links_to_the_calls(
    personas: Personas, recorded: Recording
) -> None:
    p = personas
    _fail(recorded)
    _fail(make_recording(p.users["on_demand"]))  # a second one of tenant A (no call row)
    _fail(make_recording(p.charlie))  # tenant B's own
    _fail(recorded, attempts=3)  # noted again: still one failure for that recording
    with tenant_scope(p.tenant_a):
        assert overview(p.tenant_a).transcript_failures == 2
    with tenant_scope(p.tenant_b):
        assert overview(p.tenant_b).transcript_failures == 1

    admin = Client()
    admin.force_login(p.admin)
    page = admin.get(reverse("manage_overview")).content.decode()
    assert "Het uitschrijven van 2 opnamen is ook na elke nieuwe poging mislukt" in page
    assert f'href="{reverse("manage_calls")}?transcript_failed=on"' in page
    calls = admin.get(reverse("manage_calls"), {"transcript_failed": "on"})
    assert calls.status_code == 200
    assert [row.call.pk for row in calls.context["rows"]] == [recorded.call_id]
    charlie = Client()
    charlie.force_login(p.charlie)  # tenant B works in English
    assert (
        "The transcription of 1 recording failed after every retry: it has no transcript."
        in charlie.get(reverse("manage_overview")).content.decode()
    )
    charlie_calls = charlie.get(reverse("manage_calls"), {"transcript_failed": "on"})
    assert charlie_calls.status_code == 200 and list(charlie_calls.context["rows"]) == []


def test_no_sentence_without_failures(personas: Personas) -> None:
    admin = Client()
    admin.force_login(personas.admin)
    assert 'id="transcript-failures"' not in admin.get(reverse("manage_overview")).content.decode()


def test_deletion_erasure_and_the_purge_leave_no_failure_behind(
    personas: Personas, django_capture_on_commit_callbacks: Any
) -> None:
    p = personas
    owner = p.users["always"]
    deleted = make_recording(owner, remote_number="+31611111111")
    erased = make_recording(owner, remote_number="+31622222222")
    purged = make_recording(owner, remote_number="+31633333333")
    other = make_recording(p.charlie)
    for recording in (deleted, erased, purged, other):
        _fail(recording)
    delete_recording_objects(recordings=[deleted], reason="user_deleted")
    assert {row[0] for row in _failure_rows()} == {erased.pk, purged.pk, other.pk}
    privacy.erase_subject(tenant=p.tenant_a, number="+31622222222", confirmed_count=1, acting_user=p.admin)
    with tenant_scope(p.tenant_a):
        assert overview(p.tenant_a).transcript_failures == 1
    with django_capture_on_commit_callbacks(execute=True):  # the purge task, sent on commit
        privacy.end_service(tenant=p.tenant_a, acting_user=p.support)
    report = DeletionReport.objects.get(tenant=p.tenant_a)
    assert report.status == DeletionReport.Status.DONE and report.verified
    assert report.counts["rows:recordings.TranscriptFailure"] == 1  # counted in the deletion report
    assert not TranscriptFailure.objects.unscoped().filter(tenant=p.tenant_a).exists()
    assert [row[0] for row in _failure_rows()] == [other.pk]  # the other customer's stays
