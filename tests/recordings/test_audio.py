"""Tests of the audio pipeline (recordings/audio.py): pure, no Django needed.

Run with the project's settings:  python -m pytest tests/recordings/test_audio.py
or without Django at all:          python -m pytest -p no:django --noconftest \
                                       -W ignore::pytest.PytestConfigWarning tests/recordings/test_audio.py
The browser test runs when /usr/bin/chromium and Playwright are present, else it is skipped.
"""

from __future__ import annotations

import array
import hashlib
import http.server
import io
import os
import random
import shutil
import struct
import sys
import threading
import wave
from itertools import pairwise
from pathlib import Path

import av
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recordings import audio
from recordings.audio import (
    AudioInfo,
    NothingRetained,
    UnsupportedAudio,
    check_declared_type,
    make_opus,
    make_wav,
    meter,
    probe,
    process,
    synth,
)
from tests.browser import HAVE_CHROMIUM, chromium

MAX_BYTES_PER_MINUTE = 240_000  # "240 KB per minute", read as the stricter 1000-byte KB


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def decode_rendition(path) -> tuple[str, str, int, int, int]:
    """(container format, codec, sample rate, channels, decoded samples) of a rendition."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(s))
        return c.format.name, s.codec_context.name, s.codec_context.sample_rate, s.channels, n


def write_raw_wav(path, *, rate=8000, channels=1, sampwidth=2, frames=8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        w.writeframes(bytes([0x40]) * (frames * channels * sampwidth))
    return Path(path)


def write_pyav(path, fmt, codec, *, rate=8000, seconds=1, layout="mono", sample_fmt=None):
    """A file written by FFmpeg through PyAV (e.g. an MP3, an a-law WAV, Ogg/FLAC)."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if sample_fmt:
            stream.codec_context.format = sample_fmt
        n = rate * seconds
        frame = av.AudioFrame(format="s16", layout=layout, samples=n)
        frame.planes[0].update(synth._synth("tone", rate, 1, 0)[: 2 * n] * (1 if layout == "mono" else 2))
        frame.sample_rate = rate
        frame.pts = 0
        for p in stream.encode(frame):
            out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return Path(path)


def ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        crc &= 0xFFFFFFFF
    return crc


def corrupt_middle_ogg_page(src: Path, dst: Path) -> None:
    """Replace the packets of a middle Ogg page by invalid Opus data, with a valid page CRC."""
    buf = bytearray(src.read_bytes())
    pages = []
    i = 0
    while i < len(buf):
        assert buf[i : i + 4] == b"OggS"
        nseg = buf[i + 26]
        size = 27 + nseg + sum(buf[i + 27 : i + 27 + nseg])
        pages.append((i, size))
        i += size
    start, size = pages[len(pages) // 2]
    body = start + 27 + buf[start + 26]
    buf[body : start + size] = b"\xff" * (start + size - body)  # Opus TOC code 3, 63 frames
    buf[start + 22 : start + 26] = b"\0\0\0\0"
    struct.pack_into("<I", buf, start + 22, ogg_crc(bytes(buf[start : start + size])))
    dst.write_bytes(bytes(buf))


@pytest.fixture(scope="module")
def tone8k(tmp_path_factory) -> Path:
    return make_wav(tmp_path_factory.mktemp("a") / "tone8k.wav", seconds=3, rate=8000)


# ------------------------------------------------------------------------------------------
# probe: accepted uploads
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("channels", [1, 2])
def test_probe_accepts_pcm16_wav(tmp_path, rate, channels):
    path = make_wav(tmp_path / "a.wav", seconds=1.5, rate=rate, channels=channels, kind="speech-like")
    info = probe(path)
    assert info == AudioInfo(
        container="wav",
        codec="pcm_s16le",
        mime="audio/wav",
        sample_rate=rate,
        channels=channels,
        duration_ms=1500,
    )


@pytest.mark.parametrize("channels", [1, 2])
def test_probe_accepts_ogg_opus(tmp_path, channels):
    path = make_opus(tmp_path / "a.ogg", 2, channels=channels)
    info = probe(path)
    assert (info.container, info.codec, info.mime, info.channels) == ("ogg", "opus", "audio/ogg", channels)
    assert abs(info.duration_ms - 2000) <= 30


def test_probe_accepts_a_file_object_and_leaves_its_position(tmp_path):
    ogg = make_opus(tmp_path / "a.ogg", 3).read_bytes()
    fh = io.BytesIO(ogg)
    fh.seek(100)  # e.g. after a partial read: the whole file is still the upload
    info = probe(fh)
    assert (info.container, abs(info.duration_ms - 3000) <= 30) == ("ogg", True)
    assert fh.tell() == 100
    make_wav(tmp_path / "a.wav", seconds=1)
    with open(tmp_path / "a.wav", "rb") as real:
        real.read(7)
        assert probe(real).sample_rate == 8000
        assert not real.closed and real.tell() == 7


def test_metadata_larger_than_the_demuxer_read_ahead_is_skipped(tmp_path):
    """A 200 KB LIST chunk before the samples (over the 64 KB FFmpeg probes): still a WAV."""
    raw = make_wav(tmp_path / "a.wav", seconds=3, kind="speech-like").read_bytes()
    at = raw.index(b"data")
    meta = b"LIST" + struct.pack("<I", 200_000) + b"INFO" + bytes(200_000 - 4)
    body = raw[12:at] + meta + raw[at:]
    path = tmp_path / "b.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    assert (probe(path).sample_rate, probe(path).duration_ms) == (8000, 3000)
    res = process(path, tmp_path / "b.mp3", offset_ms=0, retained=[(0, 3000)])
    assert res.duration_ms == 3000


def test_probe_does_not_trust_the_file_name(tmp_path):
    ogg = make_opus(tmp_path / "a.ogg", 1)
    disguised = tmp_path / "a.wav"
    shutil.copy(ogg, disguised)
    assert probe(disguised).container == "ogg"


# ------------------------------------------------------------------------------------------
# probe: refused uploads
# ------------------------------------------------------------------------------------------


def refused(path_or_file) -> UnsupportedAudio:
    with pytest.raises(UnsupportedAudio) as exc:
        probe(path_or_file)
    err = exc.value
    assert err.code == "unsupported_audio"
    assert err.message and err.message[0].isupper()
    return err


def test_refuses_garbage(tmp_path):
    p = tmp_path / "g.bin"
    p.write_bytes(random.Random(1).randbytes(50_000))
    assert "unrecognised" in refused(p).message


def test_refuses_empty_file(tmp_path):
    p = tmp_path / "e.wav"
    p.write_bytes(b"")
    assert "empty" in refused(p).message


def test_refuses_mp3_bytes(tmp_path):
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(400))
    assert "MP3" in refused(fake).message
    real = write_pyav(tmp_path / "real.mp3", "mp3", "libmp3lame", rate=16000)
    assert "MP3" in refused(real).message
    data = real.read_bytes()
    assert data.startswith(b"ID3")
    first_frame = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0)
    no_tag = tmp_path / "no-tag.mp3"
    no_tag.write_bytes(data[first_frame:])  # bare MPEG frames, no ID3 tag
    assert "MP3" in refused(no_tag).message


def test_refuses_8bit_wav(tmp_path):
    msg = refused(write_raw_wav(tmp_path / "u8.wav", sampwidth=1)).message
    assert "8-bit" in msg and "16-bit" in msg


def test_refuses_24bit_wav(tmp_path):
    assert "24-bit" in refused(write_raw_wav(tmp_path / "s24.wav", sampwidth=3)).message


@pytest.mark.parametrize("rate", [44100, 48000, 11025, 22050])
def test_refuses_other_wav_rates(tmp_path, rate):
    path = make_wav(tmp_path / "r.wav", seconds=0.5, rate=rate)
    assert f"{rate} Hz" in refused(path).message


def test_refuses_three_channels(tmp_path):
    assert "3 channels" in refused(write_raw_wav(tmp_path / "3.wav", channels=3)).message


@pytest.mark.parametrize(
    "codec,name", [("pcm_alaw", "A-law"), ("pcm_mulaw", "mu-law"), ("pcm_f32le", "float")]
)
def test_refuses_other_wav_codecs(tmp_path, codec, name):
    path = write_pyav(tmp_path / "x.wav", "wav", codec)
    assert name in refused(path).message


def test_refuses_ogg_that_is_not_opus(tmp_path):
    path = write_pyav(tmp_path / "f.ogg", "ogg", "flac", sample_fmt="s16")
    assert "flac" in refused(path).message


def test_refuses_wav_header_without_data(tmp_path):
    path = make_wav(tmp_path / "h.wav", seconds=0)
    assert path.stat().st_size == 44
    assert "no audio samples" in refused(path).message


def test_refuses_broken_wav_header(tmp_path):
    p = tmp_path / "b.wav"
    p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(40))
    assert "WAV" in refused(p).message


def test_refuses_other_containers_by_magic(tmp_path):
    for head, word in [
        (b"fLaC", "FLAC"),
        (b"\x00\x00\x00\x18ftypM4A ", "MP4"),
        (b"\x1aE\xdf\xa3", "WebM"),
        (b"RIFF\0\0\0\0AVI ", "not WAVE"),
        (b"#!AMR\n", "AMR"),
    ]:
        p = tmp_path / "x"
        p.write_bytes(head + bytes(64))
        assert word in refused(p).message


# ------------------------------------------------------------------------------------------
# declared content type
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infos(tmp_path_factory):
    d = tmp_path_factory.mktemp("ct")
    return probe(make_wav(d / "a.wav", seconds=1)), probe(make_opus(d / "a.ogg", 1))


@pytest.mark.parametrize(
    "ct", ["audio/wav", "AUDIO/WAV", "audio/x-wav", "audio/wave", "audio/wav; charset=binary"]
)
def test_declared_wav_matches(infos, ct):
    check_declared_type(infos[0], ct)


@pytest.mark.parametrize(
    "ct", ["audio/ogg", "application/ogg", "audio/ogg; codecs=opus", 'audio/ogg; codecs="opus"']
)
def test_declared_ogg_matches(infos, ct):
    check_declared_type(infos[1], ct)


def test_ogg_bytes_declared_as_wav_are_refused(infos):
    with pytest.raises(UnsupportedAudio) as exc:
        check_declared_type(infos[1], "audio/wav")
    assert exc.value.code == "content_type_mismatch"
    assert "audio/wav" in exc.value.message and "audio/ogg" in exc.value.message


def test_wav_bytes_declared_as_ogg_are_refused(infos):
    with pytest.raises(UnsupportedAudio) as exc:
        check_declared_type(infos[0], "audio/ogg")
    assert exc.value.code == "content_type_mismatch"


def test_ogg_declared_with_another_codec_is_refused(infos):
    with pytest.raises(UnsupportedAudio) as exc:
        check_declared_type(infos[1], "audio/ogg; codecs=vorbis")
    assert exc.value.code == "content_type_mismatch"


@pytest.mark.parametrize("ct", [None, "", "audio/mpeg", "application/octet-stream", "audio/*"])
def test_other_declared_types_are_refused(infos, ct):
    with pytest.raises(UnsupportedAudio) as exc:
        check_declared_type(infos[0], ct)
    assert exc.value.code == "unsupported_content_type"


# ------------------------------------------------------------------------------------------
# process: timeline, spans, segments
# ------------------------------------------------------------------------------------------


def test_offset_places_the_upload_in_the_call(tmp_path):
    src = make_wav(tmp_path / "a.wav", seconds=10, kind="speech-like")
    whole = process(src, tmp_path / "w.mp3", offset_ms=5000, retained=[(0, 15000)])
    assert abs(whole.duration_ms - 10_000) <= 1
    assert whole.segments == [(5000, 15000, 0)]
    head = process(src, tmp_path / "h.mp3", offset_ms=5000, retained=[(0, 7000)])
    assert abs(head.duration_ms - 2000) <= 1
    assert head.segments == [(5000, 7000, 0)]
    assert abs(decode_rendition(tmp_path / "h.mp3")[4] / 16 - 2000) <= 50


def test_paused_span_is_cut_out(tmp_path):
    src = make_wav(tmp_path / "t.wav", seconds=30, rate=16000)
    res = process(
        src, tmp_path / "t.mp3", offset_ms=0, retained=[(0, 10000), (20000, 30000)], call_duration_ms=30000
    )
    assert res.duration_ms == 20000
    assert res.segments == [(0, 10000, 0), (20000, 30000, 10000)]
    assert abs(decode_rendition(tmp_path / "t.mp3")[4] / 16 - 20000) <= 50


def test_only_real_audio_is_kept_when_it_covers_part_of_a_span(tmp_path):
    src = make_wav(tmp_path / "a.wav", seconds=5)  # call time 3000..8000
    res = process(
        src, tmp_path / "a.mp3", offset_ms=3000, retained=[(0, 4000), (5000, 20000), (30000, 40000)]
    )
    assert res.duration_ms == 4000
    assert res.segments == [(3000, 4000, 0), (5000, 8000, 1000)]


def test_audio_after_the_call_end_is_dropped(tmp_path):
    src = make_wav(tmp_path / "a.wav", seconds=5)
    res = process(src, tmp_path / "a.mp3", offset_ms=1000, retained=[(0, 10000)], call_duration_ms=4500)
    assert res.duration_ms == 3500
    assert res.segments == [(1000, 4500, 0)]


@pytest.mark.parametrize(
    "retained,call_duration",
    [
        ([], None),
        ([(0, 4000)], None),  # the upload starts at 5000
        ([(9000, 12000)], None),  # after the upload's end (5000 + 3000)
        ([(0, 10000)], 5000),  # the call ended when the upload starts
    ],
)
def test_nothing_retained(tmp_path, tone8k, retained, call_duration):
    dst = tmp_path / "x.mp3"
    with pytest.raises(NothingRetained) as exc:
        process(tone8k, dst, offset_ms=5000, retained=retained, call_duration_ms=call_duration)
    assert exc.value.code == "nothing_retained"
    assert not dst.exists()


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_rendition_shorter_than_20_ms_is_nothing(tmp_path, rate):
    src = make_wav(tmp_path / "a.wav", seconds=1, rate=rate)
    dst = tmp_path / "x.mp3"
    for ms in (1, 2, 19):
        with pytest.raises(NothingRetained) as exc:
            process(src, dst, offset_ms=0, retained=[(0, ms)])
        assert "at least 20 ms" in exc.value.message
        assert not dst.exists()
    res = process(src, dst, offset_ms=0, retained=[(0, 20)])
    assert res.duration_ms == 20
    assert decode_rendition(dst)[4] == 320
    assert len(res.peaks) == 1


@pytest.mark.parametrize("retained", [[(10, 5)], [(-5, 10)], [(0, 10), (5, 20)], [(20, 30), (0, 10)]])
def test_bad_spans_are_a_programming_error(tmp_path, tone8k, retained):
    with pytest.raises(ValueError):
        process(tone8k, tmp_path / "x.mp3", offset_ms=0, retained=retained)
    assert not (tmp_path / "x.mp3").exists()


def test_touching_and_empty_spans(tmp_path, tone8k):
    res = process(tone8k, tmp_path / "x.mp3", offset_ms=0, retained=[(0, 1000), (1000, 1000), (1000, 2000)])
    assert res.duration_ms == 2000
    assert res.segments == [(0, 1000, 0), (1000, 2000, 1000)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset=st.integers(0, 4000),
    bounds=st.lists(st.integers(0, 8000), min_size=0, max_size=8, unique=True),
    call_duration=st.one_of(st.none(), st.integers(1, 8000)),
)
def test_span_mapping_property(tmp_path, tone8k, offset, bounds, call_duration):
    """Kept audio = the overlaps of the spans (clipped to the call) with [offset, offset+3s)."""
    bounds = sorted(bounds)
    spans = list(zip(bounds[0::2], bounds[1::2], strict=False))
    expected, cursor = [], 0
    for s, e in spans:
        if call_duration is not None:
            e = min(e, call_duration)
        a, b = max(s, offset), min(e, offset + 3000)
        if a < b:
            expected.append((a, b, cursor))
            cursor += b - a
    dst = tmp_path / "p.mp3"
    if cursor < audio.MIN_RENDITION_MS:
        with pytest.raises(NothingRetained):
            process(tone8k, dst, offset_ms=offset, retained=spans, call_duration_ms=call_duration)
        assert not dst.exists()
        return
    res = process(tone8k, dst, offset_ms=offset, retained=spans, call_duration_ms=call_duration)
    assert res.segments == expected
    assert res.duration_ms == cursor
    assert abs(decode_rendition(dst)[4] / 16 - cursor) <= 50


# ------------------------------------------------------------------------------------------
# process: rendition, hash, peaks, talk ratio
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate,channels", [(8000, 1), (16000, 2)])
def test_rendition_is_mp3_16k_mono_of_the_expected_length(tmp_path, rate, channels):
    src = make_wav(tmp_path / "a.wav", seconds=7.3, rate=rate, channels=channels, kind="speech-like")
    res = process(src, tmp_path / "a.mp3", offset_ms=0, retained=[(0, 60000)])
    fmt, codec, out_rate, out_channels, samples = decode_rendition(tmp_path / "a.mp3")
    assert (fmt, out_rate, out_channels) == ("mp3", 16000, 1)
    assert codec.startswith("mp3")
    assert (res.codec, res.mime, res.sample_rate, res.channels) == ("mp3", "audio/mpeg", 16000, 1)
    assert res.duration_ms == 7300
    assert abs(samples / 16 - 7300) <= 50
    with av.open(str(tmp_path / "a.mp3")) as c:  # the container's own idea of the duration
        assert abs(c.duration / 1000 - 7300) <= 50


def test_sha256_and_size_are_of_the_stored_file(tmp_path, tone8k):
    dst = tmp_path / "a.mp3"
    res = process(tone8k, dst, offset_ms=0, retained=[(0, 3000)])
    data = dst.read_bytes()
    assert res.sha256 == hashlib.sha256(data).hexdigest()
    assert res.size_bytes == len(data)
    again = process(tone8k, tmp_path / "b.mp3", offset_ms=0, retained=[(0, 3000)])
    assert again.sha256 == res.sha256  # deterministic: reprocessing gives the same object


@pytest.mark.parametrize("rate", [8000, 16000])
def test_size_per_minute_of_speech(tmp_path, rate):
    src = make_wav(tmp_path / "s.wav", seconds=60, rate=rate, kind="speech-like")
    res = process(src, tmp_path / "s.mp3", offset_ms=0, retained=[(0, 60000)])
    assert res.duration_ms == 60000
    assert res.size_bytes <= MAX_BYTES_PER_MINUTE
    assert res.size_bytes == (tmp_path / "s.mp3").stat().st_size


def test_short_rendition_stays_under_the_rate_limit(tmp_path):
    src = make_wav(tmp_path / "s.wav", seconds=2, kind="speech-like")
    res = process(src, tmp_path / "s.mp3", offset_ms=0, retained=[(0, 2000)])
    assert res.size_bytes / (res.duration_ms / 60000) <= MAX_BYTES_PER_MINUTE


@pytest.mark.parametrize("seconds,expected", [(0.05, 1), (0.25, 3), (10, 100), (100, 1000), (200, 1000)])
def test_peaks_count(tmp_path, seconds, expected):
    src = make_wav(tmp_path / "a.wav", seconds=seconds, kind="speech-like")
    res = process(src, tmp_path / "a.mp3", offset_ms=0, retained=[(0, 10**9)])
    assert len(res.peaks) == expected
    assert all(isinstance(p, int) and 0 <= p <= 255 for p in res.peaks)
    assert res.peak_bucket_ms == pytest.approx(res.duration_ms / expected)


def test_peak_values(tmp_path):
    tone = make_wav(tmp_path / "t.wav", seconds=2)
    res = process(tone, tmp_path / "t.mp3", offset_ms=0, retained=[(0, 2000)])
    assert set(res.peaks) == {10000 >> 7}  # the tone's amplitude, linear, 255 = full scale
    silence = make_wav(tmp_path / "s.wav", seconds=2, kind="silence")
    res = process(silence, tmp_path / "s.mp3", offset_ms=0, retained=[(0, 2000)])
    assert set(res.peaks) == {0}
    speech = make_wav(tmp_path / "p.wav", seconds=10, kind="speech-like")
    res = process(speech, tmp_path / "p.mp3", offset_ms=0, retained=[(0, 10000)])
    assert min(res.peaks) < 10 and max(res.peaks) > 40  # pauses and bursts are visible


def test_talk_ratio(tmp_path):
    silence = make_wav(tmp_path / "s.wav", seconds=5, kind="silence", rate=16000)
    assert process(silence, tmp_path / "s.mp3", offset_ms=0, retained=[(0, 5000)]).talk_ratio == 0.0
    tone = make_wav(tmp_path / "t.wav", seconds=5)
    assert process(tone, tmp_path / "t.mp3", offset_ms=0, retained=[(0, 5000)]).talk_ratio == 1.0
    speech = make_wav(tmp_path / "p.wav", seconds=20, kind="speech-like")
    ratio = process(speech, tmp_path / "p.mp3", offset_ms=0, retained=[(0, 20000)]).talk_ratio
    assert 0.2 < ratio < 0.9


def test_opus_upload_is_processed(tmp_path):
    src = make_opus(tmp_path / "a.ogg", 6, channels=2)
    res = process(src, tmp_path / "a.mp3", offset_ms=1000, retained=[(0, 3000), (4000, 6000)])
    assert res.segments == [(1000, 3000, 0), (4000, 6000, 2000)]
    assert res.duration_ms == 4000
    assert abs(decode_rendition(tmp_path / "a.mp3")[4] / 16 - 4000) <= 50
    assert 0 < res.talk_ratio < 1


def test_process_accepts_a_file_object(tmp_path, tone8k):
    with open(tone8k, "rb") as fh:
        res = process(fh, tmp_path / "a.mp3", offset_ms=0, retained=[(0, 1000)])
    assert res.duration_ms == 1000


@pytest.mark.parametrize("seconds,rate", [(1, 44100), (0, 8000)])
def test_process_refuses_what_probe_refuses(tmp_path, seconds, rate):
    src = make_wav(tmp_path / "a.wav", seconds=seconds, rate=rate)
    with pytest.raises(UnsupportedAudio) as exc:
        process(src, tmp_path / "a.mp3", offset_ms=0, retained=[(0, 1000)])
    assert exc.value.code == "unsupported_audio"
    assert not (tmp_path / "a.mp3").exists()


def test_decoding_failure_mid_stream(tmp_path):
    good = make_opus(tmp_path / "good.ogg", 20)
    bad = tmp_path / "bad.ogg"
    corrupt_middle_ogg_page(good, bad)
    assert probe(bad).codec == "opus"  # the start is fine
    dst = tmp_path / "bad.mp3"
    with pytest.raises(UnsupportedAudio) as exc:
        process(bad, dst, offset_ms=0, retained=[(0, 60000)])
    assert exc.value.code == "unsupported_audio"
    assert "fails to decode after" in exc.value.message
    assert not dst.exists()
    # the same file is fine when only its intact start is retained
    assert process(bad, dst, offset_ms=0, retained=[(0, 2000)]).duration_ms == 2000


def test_truncated_wav_keeps_the_audio_that_is_there(tmp_path):
    src = make_wav(tmp_path / "a.wav", seconds=4)
    data = src.read_bytes()
    src.write_bytes(data[: 44 + 2 * 8000 * 3])  # header still says 4 s
    res = process(src, tmp_path / "a.mp3", offset_ms=0, retained=[(0, 10000)])
    assert res.duration_ms == 3000


# ------------------------------------------------------------------------------------------
# level meter: numpy and standard-library paths agree exactly
# ------------------------------------------------------------------------------------------

needs_numpy = pytest.mark.skipif(meter._numpy() is None, reason="numpy is not installed")


def run_meter(samples: list[int], cuts: list[int], rate: int, use_numpy: bool):
    m = meter.Meter(rate, use_numpy=use_numpy)
    data = array.array("h", samples)
    if sys.byteorder != "little":
        data.byteswap()
    raw = data.tobytes()
    prev = 0
    for cut in [*sorted({c * 2 for c in cuts if 0 < c < len(samples)}), len(raw)]:
        m.feed(memoryview(raw)[prev:cut])
        prev = cut
    m.finish()
    return bytes(m.peaks), m.talk


def test_meter_definition():
    n = 160
    loud = [400] * n  # RMS 400 > 328
    quiet = [300] * n  # RMS 300 < 328
    extreme = [-32768] + [0] * (n - 1)
    tail = [1000] * 10  # a partial frame counts as a frame of its own length
    peaks, talk = run_meter(loud + quiet + extreme + tail, [], 8000, use_numpy=False)
    assert peaks == bytes([400 >> 7, 300 >> 7, 255, 1000 >> 7])
    assert talk == 3  # loud, extreme (RMS 2590), tail


@needs_numpy
@settings(max_examples=200, deadline=None)
@given(
    samples=st.one_of(
        st.lists(st.integers(-32768, 32767), max_size=1200),
        st.lists(st.integers(-600, 600), max_size=1200),
        st.lists(st.sampled_from([-32768, -329, -328, 0, 327, 328, 329, 32767]), max_size=1200),
    ),
    cuts=st.lists(st.integers(0, 1200), max_size=6),
    rate=st.sampled_from([8000, 16000]),
)
def test_meter_numpy_and_stdlib_agree(samples, cuts, rate):
    assert run_meter(samples, cuts, rate, True) == run_meter(samples, cuts, rate, False)


@needs_numpy
def test_process_without_numpy_gives_the_same_result(tmp_path, monkeypatch):
    src = make_wav(tmp_path / "a.wav", seconds=12, kind="speech-like")
    spans = [(0, 4000), (6000, 11000)]
    fast = process(src, tmp_path / "f.mp3", offset_ms=500, retained=spans)
    monkeypatch.setattr(meter, "_numpy", lambda: None)
    slow = process(src, tmp_path / "s.mp3", offset_ms=500, retained=spans)
    assert slow == fast


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def test_make_wav_writes_what_it_says(tmp_path):
    p = make_wav(tmp_path / "a.wav", seconds=2.5, rate=16000, channels=2, kind="speech-like")
    with wave.open(str(p)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 16000, 40000)
    with pytest.raises(ValueError):
        make_wav(tmp_path / "b.wav", seconds=1, kind="music")


def test_make_opus_writes_ogg_opus(tmp_path):
    p = make_opus(tmp_path / "a.ogg", 1.5)
    with av.open(str(p)) as c:
        assert c.format.name == "ogg"
        assert c.streams.audio[0].codec_context.name == "opus"
        n = sum(f.samples for f in c.decode(audio=0))
    assert abs(n / 48 - 1500) <= 30


def test_encode_opus_keeps_the_audio_of_uneven_pieces(tmp_path):
    """2.5 s of a 440 Hz tone in pieces of odd sizes: 2.5 s of Opus with the tone's level."""
    tone = synth._tone_block(16000, seconds=3).tobytes()[: 2 * 40000]
    cuts = [0, 2, 16002, 50000, len(tone)]
    out = io.BytesIO()
    audio.encode_opus((tone[a:b] for a, b in pairwise(cuts)), out, rate=16000)
    out.seek(0)
    info = probe(out)
    assert (info.container, info.codec, info.channels) == ("ogg", "opus", 1)
    assert abs(info.duration_ms - 2500) <= 30
    res = process(out, tmp_path / "t.mp3", offset_ms=0, retained=[(0, 2500)])
    assert abs(res.duration_ms - 2500) <= 30 and res.talk_ratio > 0.9


def test_encode_opus_refuses_what_it_cannot_encode():
    with pytest.raises(ValueError, match="whole 4-byte frames"):
        audio.encode_opus([bytes(6)], io.BytesIO(), channels=2)
    with pytest.raises(ValueError, match="44100"):
        audio.encode_opus([bytes(4)], io.BytesIO(), rate=44100)
    with pytest.raises(ValueError, match="channels"):
        audio.encode_opus([bytes(6)], io.BytesIO(), channels=3)


# ------------------------------------------------------------------------------------------
# a real browser plays and seeks the rendition (skipped without Chromium and Playwright)
# ------------------------------------------------------------------------------------------


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with single byte ranges, as the object store does."""

    ranges_seen: list[str] = []

    def log_message(self, *args):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        rng = self.headers.get("Range")
        if not rng or not os.path.isfile(path):
            return super().send_head()
        type(self).ranges_seen.append(rng)
        size = os.path.getsize(path)
        first, _, last = rng.removeprefix("bytes=").partition("-")
        start = int(first) if first else size - int(last)
        end = int(last) if (first and last) else size - 1
        end = min(end, size - 1)
        if start >= size:
            self.send_error(416)
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return io.BytesIO(body)

    def end_headers(self):
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()


@pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed")
def test_chromium_plays_and_seeks_the_rendition(tmp_path):
    pytest.importorskip("playwright.sync_api")
    src = make_wav(tmp_path / "a.wav", seconds=40, kind="speech-like")
    res = process(src, tmp_path / "rec.mp3", offset_ms=0, retained=[(0, 10000), (15000, 40000)])
    (tmp_path / "index.html").write_text("<!doctype html><audio src='rec.mp3' preload='metadata'></audio>")
    handler = type("H", (_RangeHandler,), {"ranges_seen": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(tmp_path), **k)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/index.html")
            result = page.evaluate(
                """async () => {
                  const a = document.querySelector('audio');
                  const once = (ev) => new Promise((ok, ko) => {
                    a.addEventListener(ev, ok, {once: true});
                    a.addEventListener('error', () => ko(new Error('media error ' +
                      (a.error && a.error.code))), {once: true});
                  });
                  if (a.readyState < 1) await once('loadedmetadata');
                  const duration = a.duration;
                  a.currentTime = 30;
                  await once('seeked');
                  a.muted = true;
                  await a.play();
                  const t0 = a.currentTime;
                  await new Promise(ok => setTimeout(ok, 700));
                  return {canPlay: a.canPlayType('audio/mpeg'), duration, t0,
                          t1: a.currentTime, error: a.error && a.error.code};
                }"""
            )
    finally:
        server.shutdown()
        server.server_close()
    assert result["canPlay"] in ("probably", "maybe")
    assert result["error"] is None
    assert abs(result["duration"] * 1000 - res.duration_ms) <= 100
    assert abs(result["t0"] - 30) < 0.1
    assert result["t1"] > result["t0"] + 0.2  # it decodes and plays after the seek
    assert handler.ranges_seen  # the browser fetched by byte range
