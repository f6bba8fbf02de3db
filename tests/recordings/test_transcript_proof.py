"""Issue 17, "Tests and proof": a rare spoken word, sent through the telephony interface, becomes
a transcript that search finds (SQLite FTS5 here; PostgreSQL's vectors and GIN index with
DATABASE_URL on PostgreSQL); erasure and the end-of-service purge leave no transcript text
behind, checked on raw rows: the table, PostgreSQL's ``search_vector`` column and every shadow
table of SQLite's FTS5 index (whose segment blobs keep a deleted row's words until a merge)."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from recordings import privacy
from recordings.models import Call, Recording
from recordings.simulator import sounds
from recordings.transcripts.models import Transcript
from recordings.transcripts.search import FTS_TABLE
from tenants.models import DeletionReport, Tenant
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for
from tests.base import Personas
from tests.factories import make_recording
from tests.recordings.rpi_support import Pbx

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)
RARE = "kaleidoscope"  # said once, in no other test's text; tiny.en writes it as spoken
SENTENCE = f"My order number is wrong and the {RARE} never arrived."
FTS_SHADOW = [f"{FTS_TABLE}_{part}" for part in ("data", "idx", "content", "docsize", "config")]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub


@pytest.fixture(scope="module")
def spoken() -> bytes:
    """``SENTENCE`` spoken by espeak-ng (American English), as a 16 kHz WAV upload."""
    assert sounds.AudioBank().speech, "espeak-ng is needed (make sysdeps)"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "said.wav"
        subprocess.run([sounds.ESPEAK, "-v", "en-us", "-s", "150", "-w", str(path), SENTENCE], check=True)
        body, _ = sounds.encode(sounds._resample_wav(path.read_bytes(), 16000), "wav16")
    return body


def _call(pbx: Pbx, user: Any, body: bytes, remote: str = "+31612345678") -> Recording:
    """A call through the telephony interface; processed and transcribed by the tasks it sends
    (eager in tests)."""
    started = pbx.start(user.pbx_id, remote_number=remote)
    call_id = started.sent["call_id"]
    assert pbx.end(call_id, started.started + 5 * S).status_code == 202
    assert pbx.audio(call_id, body).status_code == 201
    with tenant_scope(user.tenant_id):
        return Recording.objects.get(call=Call.objects.get(pbx_call_id=call_id))


def _found(user: Any, q: str) -> list[str]:
    response = client_for(user).get(reverse("api:recordings"), {"q": q})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _text_left(word: str) -> list[str]:
    """Where ``word`` is still stored, read with plain SQL: the transcript table's text, and the
    search index (PostgreSQL: the ``search_vector`` column; SQLite: every FTS5 shadow table,
    blobs included)."""
    places = []
    word = word.lower()
    table = Transcript._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT text, search_vector::text FROM {table}")  # noqa: S608 (model metadata)
            for text, vector in cursor.fetchall():
                if word in text.lower():
                    places.append(f"{table}.text")
                if word[:8] in (vector or ""):  # a stem ("kaleidoscop") is a prefix of the word
                    places.append(f"{table}.search_vector")
        else:
            cursor.execute(f"SELECT text FROM {table}")  # noqa: S608 (model metadata)
            places += [f"{table}.text" for (text,) in cursor.fetchall() if word in text.lower()]
            for shadow in [FTS_TABLE, *FTS_SHADOW]:
                cursor.execute(f"SELECT * FROM {shadow}")  # noqa: S608 (constant names)
                for row in cursor.fetchall():
                    for value in row:
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        if word.encode() in raw.lower():
                            places.append(shadow)
    return places


def test_a_spoken_rare_word_becomes_a_transcript_that_search_finds(
    pbx: Pbx, personas: Personas, spoken: bytes
) -> None:
    owner, colleague = personas.users["always"], personas.users["on_demand"]
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(transcription_enabled=True)
    recording = _call(pbx, owner, spoken)
    with tenant_scope(personas.tenant_a):
        assert RARE in Transcript.objects.get(recording=recording).text.lower()
    assert _found(owner, RARE) == [str(recording.pk)]
    assert _found(owner, RARE.upper()[:7]) == [str(recording.pk)]  # any case, a word's beginning
    assert _found(owner, f"{RARE} arrived") == [str(recording.pk)]
    assert _found(owner, f"{RARE} invoice") == []  # every word must be there
    assert _found(colleague, RARE) == []  # not theirs to hear
    home = Client()
    home.force_login(owner)
    assert str(recording.pk) in home.get("/", {"q": RARE}).content.decode()


def test_erasure_leaves_no_transcript_text_behind(pbx: Pbx, personas: Personas, spoken: bytes) -> None:
    owner = personas.users["always"]
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(transcription_enabled=True)
    subject = _call(pbx, owner, spoken, remote="+31611111111")
    other = _call(pbx, owner, spoken, remote="+31622222222")
    assert sorted(_found(owner, RARE)) == sorted([str(subject.pk), str(other.pk)])

    number, found = privacy.search_subject(
        tenant=personas.tenant_a, number="+31611111111", acting_user=personas.admin
    )
    assert [r.pk for r in found] == [subject.pk]
    privacy.erase_subject(
        tenant=personas.tenant_a, number=number, confirmed_count=1, acting_user=personas.admin
    )

    assert _found(owner, RARE) == [str(other.pk)]  # the other caller's transcript stays, found
    assert Transcript.objects.unscoped().filter(recording_id=subject.pk).count() == 0
    # Now erase the other one too: then the word may be nowhere, not in any index structure.
    privacy.erase_subject(
        tenant=personas.tenant_a, number="+31622222222", confirmed_count=1, acting_user=personas.admin
    )
    assert _found(owner, RARE) == []
    assert _text_left(RARE) == []
    assert _text_left("arrived") == []


def test_the_end_of_service_purge_leaves_no_transcript_text_and_counts_them(
    pbx: Pbx, personas: Personas, spoken: bytes, django_capture_on_commit_callbacks: Any
) -> None:
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(transcription_enabled=True)
    for remote in ("+31611111111", "+31622222222"):
        _call(pbx, personas.users["always"], spoken, remote=remote)
    # Another customer's transcript, which stays.
    kept_text = "Globex keeps its gramophone."
    globex = make_recording(personas.charlie, seconds=5)
    with tenant_scope(personas.tenant_b):
        Transcript.objects.create(
            tenant_id=globex.tenant_id, recording=globex, language="en", model_name="m",
            text=kept_text, segments=[[0, 5000, kept_text]],
        )  # fmt: skip
    assert Transcript.objects.unscoped().filter(tenant=personas.tenant_a).count() == 2

    with django_capture_on_commit_callbacks(execute=True):  # the purge task, sent on commit
        privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    report = DeletionReport.objects.get(tenant=personas.tenant_a)
    assert report.status == DeletionReport.Status.DONE and report.verified
    assert report.counts["recordings"] == 2
    assert report.counts["rows:recordings.Transcript"] == 2  # the transcripts, counted
    assert Transcript.objects.unscoped().filter(tenant=personas.tenant_a).count() == 0
    assert _text_left(RARE) == []
    assert _text_left("arrived") == []
    assert _text_left("gramophone") != []  # the other customer's text is still there
    assert _found(personas.charlie, "gramophone") == [str(globex.pk)]
