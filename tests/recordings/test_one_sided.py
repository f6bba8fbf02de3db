"""One-sided audio: a two-channel upload (one party per channel) whose one channel is silent
throughout is flagged when processed (real espeak-ng speech through the telephony interface),
counted in the admin's overview with a link to the calls, and told in the player."""

from __future__ import annotations

import array
import io
import random
import wave
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from recordings import audio, tasks
from recordings.audio import rendition
from recordings.audio.meter import SILENT_PARTY_MAX_TALK, one_sided
from recordings.capture import calls as capture_calls
from recordings.capture import uploads as capture_uploads
from recordings.models import Call, Recording
from recordings.overview import overview
from recordings.simulator import sounds
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


@pytest.fixture(scope="module")
def speech() -> bytes:
    """Eight seconds of the simulator's conversation (espeak-ng), 16 kHz mono PCM."""
    bank = sounds.AudioBank()
    assert bank.speech, "espeak-ng is needed (make sysdeps)"
    return bank.pcm(8, random.Random(3))


def _stereo_wav(left: bytes, right: bytes) -> bytes:
    a, b = array.array("h", left), array.array("h", right)
    both = array.array("h", bytes(4 * len(a)))
    both[0::2], both[1::2] = a, b
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(both.tobytes())
    return out.getvalue()


def _stereo_opus(left: bytes, right: bytes) -> bytes:
    a, b = array.array("h", left), array.array("h", right)
    both = array.array("h", bytes(4 * len(a)))
    both[0::2], both[1::2] = a, b
    out = io.BytesIO()
    audio.encode_opus([both.tobytes()], out, channels=2)
    return out.getvalue()


def _process(
    tmp_path: Path, body: bytes, retained: list[tuple[int, int]] | None = None
) -> audio.ProcessResult:
    src = tmp_path / "upload"
    src.write_bytes(body)
    return audio.process(src, tmp_path / "rendition", offset_ms=0, retained=retained or [(0, 8000)])


def test_one_sided_is_measured_per_channel(tmp_path: Path, speech: bytes) -> None:
    silence = bytes(len(speech))
    quieter = array.array("h", (s // 4 for s in array.array("h", speech))).tobytes()
    both = _process(tmp_path, _stereo_wav(speech, quieter))
    assert both.one_sided is False
    assert both.channel_talk is not None and min(both.channel_talk) > 0.2
    assert _process(tmp_path, _stereo_wav(speech, silence)).one_sided is True
    right_only = _process(tmp_path, _stereo_wav(silence, speech))
    assert right_only.one_sided is True and right_only.channel_talk == (
        0.0,
        pytest.approx(right_only.talk_ratio, abs=0.1),
    )
    assert _process(tmp_path, _stereo_wav(silence, silence)).one_sided is False  # silent, not one-sided
    assert _process(tmp_path, _stereo_opus(speech, silence)).one_sided is True
    assert _process(tmp_path, _stereo_opus(speech, speech)).one_sided is False
    mono = _process(tmp_path, sounds.encode(speech, "wav16")[0])
    assert mono.one_sided is None and mono.channel_talk is None  # the parties cannot be told apart


def test_only_the_kept_spans_count(tmp_path: Path, speech: bytes) -> None:
    """The right party talks only in the last 4 s; with the first 4 s kept, it is silent there."""
    half = len(speech) // 2
    right = bytes(half) + speech[half:]
    assert _process(tmp_path, _stereo_wav(speech, right)).one_sided is False
    assert _process(tmp_path, _stereo_wav(speech, right), retained=[(0, 3900)]).one_sided is True


def test_the_rendition_is_the_same_with_the_channels_metered(
    tmp_path: Path, speech: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metering the channels leaves the rendition bit for bit as it was without it."""
    body = _stereo_wav(speech, bytes(len(speech)))
    metered = _process(tmp_path, body)
    monkeypatch.setattr(rendition, "_Parties", lambda rate, ranges: None)
    plain = _process(tmp_path, body)
    assert plain.one_sided is None and metered.one_sided is True
    assert (metered.sha256, metered.peaks, metered.talk_ratio) == (
        plain.sha256,
        plain.peaks,
        plain.talk_ratio,
    )


@pytest.mark.parametrize(
    ("ratios", "expected"),
    [
        (None, None),
        ((0.4, 0.3), False),
        ((0.4, 0.0), True),
        ((0.0, 0.4), True),
        ((0.0, 0.0), False),
        ((0.4, SILENT_PARTY_MAX_TALK / 2), True),  # a click on a dead leg
        ((0.4, SILENT_PARTY_MAX_TALK * 2), False),  # one short "ja"
    ],
)
def test_the_rule(ratios: tuple[float, float] | None, expected: bool | None) -> None:
    assert one_sided(ratios) is expected


def _recorded(pbx: Pbx, personas: Personas, body: bytes, monkeypatch: pytest.MonkeyPatch) -> Recording:
    for module in (capture_calls, capture_uploads):
        monkeypatch.setattr(module, "_enqueue_processing", lambda call: None)
    started = pbx.start(personas.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + 8 * S)
    assert pbx.audio(call_id, body).status_code == 201
    with tenant_scope(personas.tenant_a):
        call = Call.objects.get(pbx_call_id=call_id)
    assert tasks.process_call.apply(args=[str(call.tenant_id), str(call.id)]).get() == "recorded"
    with tenant_scope(personas.tenant_a):
        return Recording.objects.get(call=call)


def test_processing_flags_it_and_the_overview_calls_and_player_show_it(
    pbx: Pbx, personas: Personas, speech: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = personas
    flagged = _recorded(pbx, p, _stereo_wav(speech, bytes(len(speech))), monkeypatch)
    fine = _recorded(pbx, p, _stereo_wav(speech, speech), monkeypatch)
    mono = _recorded(pbx, p, sounds.encode(speech, "wav16")[0], monkeypatch)
    assert (flagged.one_sided, fine.one_sided, mono.one_sided) == (True, False, None)
    with tenant_scope(p.tenant_a):
        assert overview(p.tenant_a).one_sided == 1
        assert overview(p.tenant_b).one_sided == 0

    admin = Client()
    admin.force_login(p.admin)
    page = admin.get(reverse("manage_overview")).content.decode()
    assert "In 1 opname is één partij de hele tijd stil." in page
    assert f"{reverse('manage_calls')}?one_sided=on&amp;since=" in page
    calls = admin.get(reverse("manage_calls"), {"one_sided": "on"}).content.decode()
    assert calls.count('data-state="recorded"') == 1
    assert admin.get(reverse("manage_calls")).content.decode().count('data-state="recorded"') == 3
    charlie = Client()
    charlie.force_login(p.charlie)
    assert (
        "No recording with one party silent throughout."  # tenant B works in English
        in charlie.get(reverse("manage_overview")).content.decode()
    )

    owner = Client()
    owner.force_login(p.users["always"])
    assert (
        "Er is maar één partij te horen." in owner.get(reverse("player", args=[flagged.pk])).content.decode()
    )
    for other in (fine, mono):
        assert (
            "Er is maar één partij te horen."
            not in owner.get(reverse("player", args=[other.pk])).content.decode()
        )


def test_a_simulated_one_sided_call_is_flagged_when_processed(
    pbx: Pbx, personas: Personas, speech: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator's one-sided upload (``make run``'s calls) through the telephony interface."""
    one_sided_body, content_type = sounds.encode(speech, "wav16s", one_sided=True)
    both_body, _ = sounds.encode(speech, "wav16s")
    assert content_type == "audio/wav"
    flagged = _recorded(pbx, personas, one_sided_body, monkeypatch)
    both = _recorded(pbx, personas, both_body, monkeypatch)
    assert (flagged.one_sided, both.one_sided) == (True, False)
