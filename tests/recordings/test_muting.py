"""Muting redacted audio (per tenant, optional): a card number spoken (espeak-ng) in a call sent
through the telephony interface is redacted in the transcript and muted in the stored rendition
(the shipped Whisper model's word times); the unmuted rendition is deleted; the player marks the
muted span. Off by default."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.test import Client, TestCase
from django.urls import reverse

from recordings import tasks
from recordings.audio.mute import mute
from recordings.capture import calls as capture_calls
from recordings.capture import uploads as capture_uploads
from recordings.capture.inputs import recordings_storage
from recordings.models import Call, Recording
from recordings.simulator import sounds
from recordings.transcripts import engine, redaction, service
from recordings.transcripts.engine import decode
from recordings.transcripts.models import Transcript
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)
SENTENCE = "Hello, I would like to pay. My card number is 4242 4242 4242 4242. Thank you very much."
SPEED = "140"
SILENT = 1e-4  # -80 dBFS: what the MP3 encoder leaves of silence next to speech


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def card_call() -> bytes:
    """The sentence with a (test) card number, spoken by espeak-ng, as a 16 kHz WAV upload."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.wav"
        subprocess.run([sounds.ESPEAK, "-v", "en-us", "-s", SPEED, "-w", str(path), SENTENCE], check=True)
        pcm = sounds._resample_wav(path.read_bytes(), 16000)
    body, _ = sounds.encode(pcm, "wav16")
    return body


def _reading_the_number_right(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped tiny.en model reads espeak-ng's digit groups unreliably (it drops or repeats
    groups, differently from one run to the next), so a valid card number would only sometimes
    reach the redaction. Everything else is real: the transcription runs on the stored rendition
    and its word times are kept; only the words after "is" in the sentence with "card" are read
    as the digits that were spoken, over the same times."""
    real = engine.transcribe

    def transcribe(path: str, *, language: str, words: bool = False) -> engine.Result:
        result = real(path, language=language, words=words)
        segments = []
        for seg in result.segments:
            said = [w.text.strip().lower().strip(".,") for w in seg.words]
            if "card" in seg.text.lower() and "is" in said and said.index("is") + 1 < len(said):
                at = end = said.index("is") + 1
                while end < len(said) and any(ch.isdigit() for ch in said[end]):
                    end += 1
                if end > at:
                    spoken = seg.words[at:end]
                    number = engine.Word(spoken[0].start_ms, spoken[-1].end_ms, " 4242 4242 4242 4242.")
                    kept = (*seg.words[:at], number, *seg.words[end:])
                    seg = engine.Segment(
                        seg.start_ms, seg.end_ms, "".join(w.text for w in kept).strip(), kept
                    )
            segments.append(seg)
        return engine.Result(result.language, segments, result.audio_ms, result.elapsed_ms)

    monkeypatch.setattr(service.engine, "transcribe", transcribe)


def _recorded(pbx: Pbx, personas: Personas, body: bytes, monkeypatch: pytest.MonkeyPatch) -> Recording:
    for module in (capture_calls, capture_uploads):
        monkeypatch.setattr(module, "_enqueue_processing", lambda call: None)
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + 15 * S)
    assert pbx.audio(call_id, body).status_code == 201
    with tenant_scope(personas.tenant_a):
        call = Call.objects.get(pbx_call_id=call_id)
    with TestCase.captureOnCommitCallbacks(execute=True):  # processing, then the transcription
        assert tasks.process_call.apply(args=[str(call.tenant_id), str(call.id)]).get() == "recorded"
    with tenant_scope(personas.tenant_a):
        return Recording.objects.get(call=call)


def _rms(samples: np.ndarray, start_ms: int, end_ms: int) -> float:
    part = samples[start_ms * 16 : end_ms * 16]
    return float(np.sqrt((part**2).mean())) if len(part) else 0.0


def test_a_spoken_card_number_is_muted_in_the_stored_audio(
    pbx: Pbx, personas: Personas, card_call: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = personas
    _reading_the_number_right(monkeypatch)
    Tenant.objects.filter(pk=p.tenant_a.pk).update(transcription_enabled=True, mute_redacted_audio=True)
    storage = recordings_storage()
    keys: list[str] = []
    original_save = storage.save

    def noting_save(name: str, content: object, *args: object, **kwargs: object) -> str:
        saved = original_save(name, content, *args, **kwargs)  # type: ignore[arg-type]
        keys.append(saved)
        return saved

    monkeypatch.setattr(storage, "save", noting_save)
    recording = _recorded(pbx, p, card_call, monkeypatch)
    with tenant_scope(p.tenant_a):
        transcript = Transcript.objects.get(recording=recording)
    assert "[CARD]" in transcript.text and "4242" not in transcript.text
    assert len(recording.muted_spans) == 1
    start, end = recording.muted_spans[0]
    # After "My card number is", before the end of "Thank you very much" (tiny.en's word times vary
    # by half a second from run to run; the checks below hear the words on both sides).
    assert 2500 < start < end < recording.duration_ms - 1500 and end - start > 3000
    # The rendition in the store is the muted one; the unmuted one is gone, no key left pointing at it.
    renditions = [key for key in keys if "/recordings/" in key]  # (the raw upload is the other)
    unmuted = renditions[0]
    assert renditions == [unmuted, recording.storage_key] and recording.unmuted_key == ""
    assert not storage.exists(unmuted)
    with storage.open(recording.storage_key, "rb") as fh:
        body = fh.read()
    assert hashlib.sha256(body).hexdigest() == recording.sha256 and len(body) == recording.size_bytes
    with tempfile.NamedTemporaryFile(suffix=".mp3") as copy:
        copy.write(body)
        copy.flush()
        samples = decode(copy.name)
    assert abs(len(samples) / 16 - recording.duration_ms) < 5  # every time stays where it was
    assert _rms(samples, start + 100, end - 100) < SILENT
    assert _rms(samples, 0, max(start - 300, 100)) > 0.01  # the words before it are heard
    assert _rms(samples, end + 200, recording.duration_ms) > 0.01  # and after it
    # A second run changes nothing.
    assert service.transcribe(tenant_id=p.tenant_a.pk, recording_id=recording.pk) == "done"
    # The player marks the muted span (Dutch for this person) and offers to seek there.
    owner = Client()
    owner.force_login(p.users["always"])
    page = owner.get(reverse("player", args=[recording.pk])).content.decode()
    assert 'class="muted-span"' in page
    assert f'data-seek="{start}"' in page
    assert "Eén keer gedempt" in page


def test_off_by_default_the_audio_is_left_as_it_was(
    pbx: Pbx, personas: Personas, card_call: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reading_the_number_right(monkeypatch)
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(transcription_enabled=True)
    recording = _recorded(pbx, personas, card_call, monkeypatch)
    with tenant_scope(personas.tenant_a):
        assert Transcript.objects.filter(recording=recording).exists()
    assert recording.muted_spans == [] and recording.unmuted_key == ""
    assert recordings_storage().exists(recording.storage_key)
    assert 'class="muted-span"' not in render_player(personas, recording)


def render_player(personas: Personas, recording: Recording) -> str:
    owner = Client()
    owner.force_login(personas.users["always"])
    return owner.get(reverse("player", args=[recording.pk])).content.decode()


def test_an_unmuted_rendition_left_by_an_attempt_cut_short_is_deleted_by_the_next(
    personas: Personas,
) -> None:
    from tests.factories import make_recording

    recording = make_recording(personas.users["always"])
    storage = recordings_storage()
    left = storage.save(f"tenants/{recording.tenant_id}/recordings/left-over.mp3", _file(b"unmuted"))
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk=recording.pk).update(unmuted_key=left)
    assert service.transcribe(tenant_id=recording.tenant_id, recording_id=recording.pk) == "off"
    assert not storage.exists(left)
    with tenant_scope(personas.tenant_a):
        assert Recording.objects.get(pk=recording.pk).unmuted_key == ""


def _file(data: bytes) -> object:
    from django.core.files.base import ContentFile

    return ContentFile(data)


def test_redacted_times_cover_every_word_of_a_number_split_over_segments() -> None:
    first = [
        (0, 300, " My"),
        (300, 600, " card"),
        (600, 800, " is"),
        (800, 1500, " 4111"),
        (1500, 2200, " 1111"),
    ]
    second = [(2400, 3000, " 1111"), (3000, 3600, " 1111."), (3700, 4000, " Thanks")]
    segments = [("My card is 4111 1111", first), ("1111 1111. Thanks", second)]
    assert redaction.redacted_times(segments) == [(800, 3600)]
    assert (
        redaction.redacted_times(
            [("nothing to hide", [(0, 500, " nothing"), (500, 900, " to"), (900, 1200, " hide")])]
        )
        == []
    )


def test_mute_keeps_the_length_and_silences_only_the_spans(tmp_path: Path, card_call: bytes) -> None:
    from recordings import audio

    src = tmp_path / "upload.wav"
    src.write_bytes(card_call)
    rendition = tmp_path / "r.mp3"
    made = audio.process(src, rendition, offset_ms=0, retained=[(0, 60_000)])
    result = mute(rendition, tmp_path / "m.mp3", [(1000, 2000), (5000, 99_000)])
    assert result.duration_ms == made.duration_ms
    assert result.muted == [(1000, 2000), (5000, made.duration_ms)]
    samples = decode(tmp_path / "m.mp3")
    assert _rms(samples, 1100, 1900) < SILENT and _rms(samples, 5100, made.duration_ms) < SILENT
    assert _rms(samples, 2100, 4900) > 0.01
    with pytest.raises(audio.UnsupportedAudio):
        mute(src, tmp_path / "x.mp3", [(0, 100)])  # not a rendition
    assert not (tmp_path / "x.mp3").exists()
