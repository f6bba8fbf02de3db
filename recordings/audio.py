"""Audio pipeline: validate an upload, cut it to the retained spans, encode the playback rendition.

Pure module: PyAV (FFmpeg bindings, ``av`` on PyPI) and the standard library; no Django, no
system ffmpeg. numpy is used for the level meter when it is importable (see "Speed and memory"
below), imported only when audio is metered, so processes that just probe uploads never load
it; without it the same figures are computed, bit for bit, by a slower stdlib path.

Public API
==========

``probe(path_or_file) -> AudioInfo``
    Decode-based detection of a supported upload: WAV (PCM 16-bit signed little-endian, 8 or
    16 kHz, mono or stereo) or Ogg/Opus (mono or stereo). Anything else raises
    ``UnsupportedAudio`` (code ``unsupported_audio``).
``check_declared_type(info, content_type) -> None``
    Raises ``UnsupportedAudio`` (code ``content_type_mismatch`` or ``unsupported_content_type``)
    when the declared ``Content-Type`` does not name the container that ``probe`` found.
``process(src_path, dst_path, *, offset_ms, retained, call_duration_ms=None) -> ProcessResult``
    Decode, place at ``offset_ms`` in the call, keep only the retained spans, downmix to mono,
    encode one playback rendition to ``dst_path`` and measure it (peaks, talk ratio, sha256).
``make_wav(...)``, ``make_opus(...)``
    Test and simulator helpers that synthesise uploads (tones, speech-like bursts, silence).
``encode_opus(pcm_pieces, file, *, rate, channels, bit_rate)``
    Ogg/Opus of given 16-bit PCM (``make_opus`` and the phone-system simulator use it).

Exceptions: ``AudioError(code, message)`` is the base; ``UnsupportedAudio`` (HTTP 415 material:
the bytes are not a supported upload, or fail to decode part-way) and ``NothingRetained`` (code
``nothing_retained``: no sample of the upload lies inside a retained span, or less than
``MIN_RENDITION_MS`` = 20 ms does, which is no recording (and FFmpeg's resampler would drop a
few-sample input); no rendition is written, and the caller should treat the call as having no
recording, e.g. state ``discarded``). ``process`` never leaves a partial
``dst_path`` behind when it raises. Programming errors in the arguments (unsorted or overlapping
spans, negative span bounds) raise ``ValueError``.

Detection
=========

The declared content type is not trusted. The first bytes choose among the two allowed
demuxers only (``RIFF....WAVE`` -> FFmpeg ``wav``, ``OggS`` -> FFmpeg ``ogg``); FFmpeg is never
asked to guess a format, so crafted uploads cannot reach playlist or concat demuxers (which open
other files or URLs), and the upload is always read through a Python file object, never handed
to FFmpeg as a URL. The chosen demuxer then has to accept the file, the stream has to be the
expected codec, rate and channel count, and at least one frame has to decode to samples: an
empty file, a header without data, MP3, FLAC, 8-/24-bit or float WAV, a-law/mu-law WAV, 44.1 kHz
WAV and Ogg/Vorbis are all refused with a message that says what was found and what is accepted.

Rendition: MP3, CBR 24 kbit/s, 16 kHz, mono (``audio/mpeg``)
===========================================================

Requirement: one file that every current browser plays and seeks, Safari on iPhone included,
at most 240 KB per minute. Candidates measured on this machine (PyAV 19.0.2 / its FFmpeg,
Python 3.13, one core, 60 minutes of speech-like 8 kHz mono WAV; "x RT" = audio seconds per CPU
second for bare decode + encode, size including container overhead):

=============================================  ========  ============
encoder / settings                             speed     size per min
=============================================  ========  ============
AAC-LC (FFmpeg ``aac``), 16 kHz, 24 kbit/s       159x RT  257 KB  (over)
AAC-LC, 16 kHz, 24 kbit/s, ``aac_coder=fast``    232x RT  336 KB  (over)
AAC-LC, 16 kHz, 20 kbit/s, ``aac_coder=fast``    283x RT  378 KB  (over)
AAC-LC, 8 kHz, 24 kbit/s                          43x RT  200 KB
MP3 (LAME), 16 kHz, CBR 24 kbit/s                605x RT  180 KB
MP3 (LAME), 16 kHz, CBR 32 kbit/s                649x RT  240.01 KB (at the limit)
=============================================  ========  ============

FFmpeg's native AAC encoder does not hold low bit rates at 16 kHz (it overshoots the requested
rate by 40-150 %), so it breaks the size limit, and it is 2-4x slower than LAME, below the 300x
real-time target on its own (at 8 kHz it holds the rate but runs at 43x). There is no
HE-AAC/fdk-aac in the PyAV wheels. MP3 is played and seeked by every current browser, Safari on
iOS included, and constant bit rate makes byte offset proportional to time, so HTTP Range
seeking is exact even without the Xing table of contents. 16 kHz is MPEG-2 Layer III (576
samples per frame), supported by all browser MP3 decoders; 8 kHz narrowband calls lose nothing,
wideband (HD voice) calls keep their band up to LAME's low-pass at this rate, about 5.5 kHz. 24
kbit/s gives 180,000 bytes per minute of audio plus ~420-470 bytes in all (the Xing/LAME header
frame and the encoder's delay/padding; no ID3 tag is written): 180.4 KB per minute for 60 s,
182.5 for 10 s, 205 for 1 s, 25 % under the limit whichever way "KB" is read; only renditions
shorter than ~0.45 s pass 240 KB per minute, by that fixed overhead (under 1.4 KB in all). 32
kbit/s would be 240,000 bytes per minute plus that overhead, over a 240,000-byte limit, so it is
not used; on espeak-ng speech it gains little (SNR after decoding 17.8 vs 16.1 dB for a 16 kHz
source, 21.5 vs 17.7 dB for 8 kHz). The LAME header carries the encoder delay and padding: PyAV
decodes exactly ``duration_ms`` of samples, and Chromium reports that duration and seeks by HTTP
Range (checked by the browser test); a player that ignores the header plays ~70 ms of extra
silence at the start. Safari could not be tried on this machine; MP3 in ``<audio>`` is long
supported there.

Timeline, cutting and segments
==============================

The upload is decoded frame by frame and resampled (one ``av.AudioResampler``) to signed 16-bit
mono at the processing rate P (8000 Hz for 8 kHz WAV, else 16000 Hz; FFmpeg's downmix of stereo
is 0.5 L + 0.5 R, which never clips). Sample k of that stream lies at call time
``offset_ms + k * 1000 / P``; container timestamps are ignored (the header ``X-Audio-Offset-Ms``
defines the timeline). A retained span ``[s, e)`` (call ms) keeps samples
``(s - offset_ms) * P/1000 <= k < (e - offset_ms) * P/1000``; spans are clipped to
``[0, call_duration_ms]`` when that is given. Only real audio is kept: if the upload starts
after a span starts or ends before it ends, no silence is padded in (padding would inflate the
file and the listening time, and the segment list already says where the audio lies in the
call). Kept pieces are concatenated, so rendition time != call time; ``segments`` lists, for each
retained span that kept at least one sample, ``(call_start_ms, call_end_ms, rendition_start_ms)``
with the call bounds clipped to the real audio. Times are rounded to whole milliseconds.

Measurements (same pass as the encoding, on the kept samples at P)
==================================================================

* ``peaks``: the kept audio is cut into 20 ms frames (the last may be shorter); a frame's peak is
  ``min(255, max|x| >> 7)`` for its 16-bit samples x (linear, 255 = full scale). The frames are
  grouped into ``min(1000, ceil(duration_ms / 100))`` buckets of (almost) equal frame count, and
  a bucket's value is its largest frame peak: 10 buckets per second up to 100 s of audio, then
  always 1000 buckets of ``duration / 1000`` each. Memory: one byte per 20 ms frame (360 KB for
  two hours), nothing else grows with the call.
* ``talk_ratio``: the fraction of those 20 ms frames whose RMS exceeds ``TALK_RMS_THRESHOLD``
  (328, i.e. -40 dBFS), compared exactly in integers as ``sum(x*x) > n * 328**2``.
  Digital silence gives 0.0, a steady tone 1.0; espeak-ng sentences (short pauses) give
  about 0.8, the synthetic "speech-like" signal of ``make_wav`` about 0.4.
* ``sha256``: of the finished rendition file, read once after the muxer closed it (the MP3
  muxer rewrites its header at the end, so the bytes are only final then).

Speed and memory (bench/bench_processing.py; command and output in bench/README.md)
===================================================================================

Everything is streamed: PCM packets of up to 64 KB from the demuxer, the resampler re-chunked
to 2-second frames, whole frames handed to the encoder unchanged when they lie inside a span,
decoding stopped once the last span is passed (a broken tail after it goes unnoticed, which
is harmless). Peak RSS stays at ~70 MB for a 2-hour call.
Measured on one core of this machine, 60 minutes of 8 kHz mono speech-like WAV, best of 3:
bare decode + encode about 6 s CPU (~590-620x real time); ``process()`` with the numpy meter
about the same (overhead 0.9-1.06x, 580-620x real time); with the standard-library meter
8.3-8.5 s (overhead 1.38-1.49x, 415-428x). Ogg/Opus uploads cost more to decode: ~340x.
The only per-sample work outside FFmpeg is the level meter: with numpy a few nanoseconds per
sample; the standard-library fallback (memoryview ``max``/``min`` and ``math.sumprod`` per
20 ms frame; ``audioop`` is gone in Python 3.13) about 80 ns per sample, which misses the
1.2x overhead target. So numpy is a (soft) requirement of the worker that runs ``process``:
list ``numpy`` in requirements.txt; without it results are identical, only slower.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import math
import os
import random
import sys
import wave
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

__all__ = [
    "MAX_PEAKS",
    "MIN_RENDITION_MS",
    "OUTPUT_BIT_RATE",
    "OUTPUT_CODEC",
    "OUTPUT_EXTENSION",
    "OUTPUT_MIME",
    "OUTPUT_SAMPLE_RATE",
    "TALK_RMS_THRESHOLD",
    "AudioError",
    "AudioInfo",
    "NothingRetained",
    "ProcessResult",
    "UnsupportedAudio",
    "check_declared_type",
    "encode_opus",
    "make_opus",
    "make_wav",
    "probe",
    "process",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

WAV_SAMPLE_RATES = (8000, 16000)
MAX_CHANNELS = 2

OUTPUT_CODEC = "mp3"
OUTPUT_MIME = "audio/mpeg"
OUTPUT_EXTENSION = ".mp3"
OUTPUT_SAMPLE_RATE = 16000
OUTPUT_BIT_RATE = 24000
_ENCODER = "libmp3lame"
_ENCODER_SAMPLE_FORMAT = "s16p"  # mono s16p has the same bytes as s16: cheapest conversion

FRAME_MS = 20  # meter frame
TALK_RMS_THRESHOLD = 328  # -40 dBFS for 16-bit samples (32768 * 10**(-40/20) = 327.7)
_TALK_ENERGY_PER_SAMPLE = TALK_RMS_THRESHOLD * TALK_RMS_THRESHOLD
MAX_PEAKS = 1000
PEAK_BUCKET_MS = 100  # bucket length while under MAX_PEAKS buckets
MIN_RENDITION_MS = 20  # shorter is NothingRetained (FFmpeg's resampler drops a few-sample input)

_WAV_DEMUX_PACKET_BYTES = 65536  # FFmpeg's default of 4096 means 14k Python iterations per hour
_CHUNK_SECONDS = 2  # resampler output frame length
_PROBE_MAX_FRAMES = 200  # probe() gives up looking for samples after this many frames
# How much FFmpeg reads ahead to find the stream parameters (its default, 5 MB, is buffered in
# full for a long WAV: +4 MB of peak memory in the web process per upload). The WAV and Ogg/Opus
# headers carry every parameter that is checked; decoding is not limited by it.
_DEMUX_PROBE_BYTES = 65536

_CONTENT_TYPES = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
}
_CONTAINER_MIME = {"wav": "audio/wav", "ogg": "audio/ogg"}
_ACCEPTED = (
    "send WAV (PCM 16-bit signed little-endian, 8000 or 16000 Hz, mono or stereo) "
    "or Ogg/Opus (mono or stereo)"
)

PathOrFile = str | os.PathLike | BinaryIO


# --------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------


class AudioError(Exception):
    """Base class: ``code`` is a snake_case error code, ``message`` human text."""

    default_code = "audio_error"

    def __init__(self, code: str | None = None, message: str = "") -> None:
        self.code = code or self.default_code
        self.message = message
        super().__init__(f"{self.code}: {message}")


class UnsupportedAudio(AudioError):
    """The upload is not a supported audio file (or its declared type is wrong): HTTP 415."""

    default_code = "unsupported_audio"


class NothingRetained(AudioError):
    """No sample of the upload lies inside a retained span; no rendition was written."""

    default_code = "nothing_retained"


@dataclass(frozen=True)
class AudioInfo:
    container: str  # "wav" | "ogg"
    codec: str  # "pcm_s16le" | "opus"
    mime: str  # "audio/wav" | "audio/ogg"
    sample_rate: int  # of the stream (Opus: the rate FFmpeg decodes at, 48000)
    channels: int  # 1 | 2
    duration_ms: int | None  # from the container; None when it does not say


@dataclass(frozen=True)
class ProcessResult:
    duration_ms: int
    sha256: str
    size_bytes: int
    peaks: list[int]
    talk_ratio: float
    segments: list[tuple[int, int, int]]  # (call_start_ms, call_end_ms, rendition_start_ms)
    codec: str = OUTPUT_CODEC
    mime: str = OUTPUT_MIME
    sample_rate: int = OUTPUT_SAMPLE_RATE
    bit_rate: int = OUTPUT_BIT_RATE
    channels: int = 1
    peak_bucket_ms: float = field(default=0.0)  # audio time covered by one peaks entry


# --------------------------------------------------------------------------------------------
# Opening and validating an upload
# --------------------------------------------------------------------------------------------


def _sniff(head: bytes) -> str:
    """The container the first bytes announce: 'wav', 'ogg', or a description for the error."""
    if len(head) == 0:
        return "an empty file"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3/MPEG audio"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] in (b"RF64", b"BW64"):
        return "RF64/BW64 (64-bit WAV)"
    if head[:4] == b"RIFX":
        return "big-endian WAV (RIFX)"
    if head[:4] == b"RIFF":
        return "a RIFF file that is not WAVE"
    if head[4:8] == b"ftyp":
        return "MP4/M4A/3GP"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "WebM/Matroska"
    if head[:5] == b"#!AMR":
        return "AMR"
    return "an unrecognised format"


class _Source:
    """An upload opened with the demuxer its magic bytes call for, through a Python file object."""

    def __init__(self, src: PathOrFile) -> None:
        self._owned = None
        if isinstance(src, (str, os.PathLike)):
            fh = open(src, "rb")  # noqa: SIM115 - closed in close()
            self._owned = fh
        else:
            fh = src
            if not (hasattr(fh, "read") and hasattr(fh, "seek")):
                raise TypeError("probe()/process() need a path or a seekable binary file object")
        self.fh = fh
        self.start = fh.tell()  # restored by close()
        self.container = None
        try:
            fh.seek(0)  # the whole file is the upload, wherever the caller left it
            head = fh.read(12)
            fh.seek(0)
            kind = _sniff(head if isinstance(head, bytes) else bytes(head))
            if kind not in ("wav", "ogg"):
                raise UnsupportedAudio(message=f"The audio is {kind}; {_ACCEPTED}.")
            self.kind = kind
            options = {"probesize": str(_DEMUX_PROBE_BYTES)}
            if kind == "wav":
                options["max_size"] = str(_WAV_DEMUX_PACKET_BYTES)
            try:
                self.container = av.open(fh, mode="r", format=kind, options=options)
            except (av.FFmpegError, ValueError, OSError) as exc:
                raise UnsupportedAudio(
                    message=f"The file starts like {'WAV' if kind == 'wav' else 'Ogg'} but "
                    f"cannot be read as such ({_ffmpeg_reason(exc)}); {_ACCEPTED}."
                ) from None
            self.stream = self._check_stream()
        except BaseException:
            self.close()
            raise

    def _check_stream(self):
        audio = list(self.container.streams.audio)
        if len(audio) != 1:
            raise UnsupportedAudio(
                message=f"Expected exactly one audio stream, found {len(audio)}; {_ACCEPTED}."
            )
        stream = audio[0]
        cc = stream.codec_context
        codec = cc.name
        rate = cc.sample_rate
        channels = cc.channels
        if self.kind == "wav":
            if codec != "pcm_s16le":
                raise UnsupportedAudio(
                    message=f"WAV sample format {_describe_pcm(codec)} is not supported; {_ACCEPTED}."
                )
            if rate not in WAV_SAMPLE_RATES:
                raise UnsupportedAudio(message=f"WAV sample rate {rate} Hz is not supported; {_ACCEPTED}.")
        else:
            if codec != "opus":
                raise UnsupportedAudio(
                    message=f"Ogg with {codec or 'an unknown'} audio is not supported; {_ACCEPTED}."
                )
        if not 1 <= channels <= MAX_CHANNELS:
            raise UnsupportedAudio(message=f"Audio with {channels} channels is not supported; {_ACCEPTED}.")
        self.codec = codec
        self.rate = rate
        self.channels = channels
        return stream

    def duration_ms(self) -> int | None:
        st = self.stream
        if st.duration is not None and st.time_base is not None and st.duration > 0:
            return round(st.duration * st.time_base * 1000)
        if self.container.duration is not None and self.container.duration > 0:
            return round(self.container.duration / 1000)  # AV_TIME_BASE is microseconds
        return None

    def frames(self) -> Iterator[av.AudioFrame]:
        """Decoded frames; FFmpeg errors become UnsupportedAudio naming the position."""
        decoded = 0
        try:
            for packet in self.container.demux(self.stream):
                for frame in packet.decode():
                    decoded += frame.samples
                    yield frame
        except (av.FFmpegError, ValueError) as exc:
            at = decoded / self.rate if self.rate else 0.0
            raise UnsupportedAudio(
                message=f"The audio fails to decode after {at:.1f} s ({_ffmpeg_reason(exc)})."
            ) from None

    def close(self) -> None:
        if self.container is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                self.container.close()
            self.container = None
        if self._owned is not None:
            self._owned.close()
            self._owned = None
        else:
            with contextlib.suppress(OSError, ValueError):  # the caller may have closed it
                self.fh.seek(self.start)

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ffmpeg_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip().rstrip(".")


def _describe_pcm(codec: str) -> str:
    names = {
        "pcm_u8": "8-bit unsigned PCM",
        "pcm_s24le": "24-bit PCM",
        "pcm_s32le": "32-bit PCM",
        "pcm_f32le": "32-bit float",
        "pcm_f64le": "64-bit float",
        "pcm_alaw": "A-law",
        "pcm_mulaw": "mu-law",
        "adpcm_ms": "MS ADPCM",
        "adpcm_ima_wav": "IMA ADPCM",
        "gsm_ms": "GSM",
    }
    return names.get(codec, codec or "unknown")


def probe(path_or_file: PathOrFile) -> AudioInfo:
    """Detect a supported upload by opening and decoding it; raise UnsupportedAudio otherwise.

    ``path_or_file`` is a path or a seekable binary file object; the whole file is read from
    its beginning and the object is left at the position it had.
    Only the beginning is decoded (up to a few seconds); ``process`` decodes the rest and
    raises ``UnsupportedAudio`` as well if the file breaks later on.
    """
    with _Source(path_or_file) as src:
        got = False
        for n, frame in enumerate(src.frames()):
            if frame.samples > 0:
                got = True
                break
            if n >= _PROBE_MAX_FRAMES:  # pragma: no cover - pathological stream
                break
        if not got:
            raise UnsupportedAudio(message="The file contains no audio samples.")
        return AudioInfo(
            container=src.kind,
            codec=src.codec,
            mime=_CONTAINER_MIME[src.kind],
            sample_rate=src.rate,
            channels=src.channels,
            duration_ms=src.duration_ms(),
        )


def check_declared_type(info: AudioInfo, content_type: str | None) -> None:
    """Raise UnsupportedAudio unless ``content_type`` names the container ``probe`` found.

    ``audio/wav`` (also ``audio/x-wav``, ``audio/wave``, ``audio/vnd.wave``) for WAV and
    ``audio/ogg`` (also ``application/ogg``) for Ogg/Opus; parameters are allowed, and a
    ``codecs`` parameter on Ogg must say ``opus``. Codes: ``unsupported_content_type`` for a
    missing or other type, ``content_type_mismatch`` when it names the other container.
    """
    raw = (content_type or "").strip()
    main, _, params = raw.partition(";")
    main = main.strip().lower()
    declared = _CONTENT_TYPES.get(main)
    if declared is None:
        raise UnsupportedAudio(
            "unsupported_content_type",
            f"Content-Type {raw or '(none)'!r} is not supported; use audio/wav or audio/ogg.",
        )
    if declared != info.container:
        raise UnsupportedAudio(
            "content_type_mismatch",
            f"Content-Type says {main} but the body is {info.mime} ({info.codec}).",
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "codecs":
            codecs = {c.strip().strip('"').lower() for c in value.strip().strip('"').split(",")}
            if declared == "ogg" and codecs - {"opus"}:
                raise UnsupportedAudio(
                    "content_type_mismatch",
                    f"Content-Type names codecs {value.strip()!r} but the body is Ogg/Opus.",
                )


# --------------------------------------------------------------------------------------------
# Level meter: 20 ms frame peaks and talk frames
# --------------------------------------------------------------------------------------------


def _numpy():
    """numpy, or None when it is not installed (the meter's results are identical without it).

    Imported on first use, not with this module: only the Celery worker meters audio, and the web
    process, which imports this module to probe uploads, stays ~9 MB smaller without numpy.
    """
    try:
        import numpy
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return numpy


class _Meter:
    """Peak byte and talk flag per 20 ms frame of s16 mono audio fed in arbitrary pieces."""

    def __init__(self, rate: int, use_numpy: bool | None = None) -> None:
        self.n = rate * FRAME_MS // 1000
        self.peaks = bytearray()
        self.talk = 0
        self._rem = b""
        self._np = _numpy() if (use_numpy is None or use_numpy) else None
        if use_numpy and self._np is None:
            raise RuntimeError("numpy is not installed")
        self._swap = sys.byteorder != "little"

    @property
    def frames(self) -> int:
        return len(self.peaks)

    def feed(self, data) -> None:
        step = 2 * self.n
        if self._rem:
            data = self._rem + bytes(data)
        size = len(data)
        usable = size - size % step
        if usable:
            self._measure(memoryview(data)[:usable], self.n)
        self._rem = bytes(data[usable:]) if usable < size else b""

    def finish(self) -> None:
        if self._rem:
            rem, self._rem = self._rem, b""
            self._measure(memoryview(rem)[: len(rem) - len(rem) % 2], len(rem) // 2)

    def _measure(self, data: memoryview, n: int) -> None:
        if n == 0 or not len(data):
            return
        limit = n * _TALK_ENERGY_PER_SAMPLE
        np = self._np
        if np is not None:
            a = np.frombuffer(data, dtype="<i2").reshape(-1, n).astype(np.int32)
            peak = np.abs(a).max(axis=1)
            np.right_shift(peak, 7, out=peak)
            np.minimum(peak, 255, out=peak)
            self.peaks += peak.astype(np.uint8).tobytes()
            np.multiply(a, a, out=a)
            energy = a.sum(axis=1, dtype=np.int64)
            self.talk += int(np.count_nonzero(energy > limit))
            return
        if self._swap:  # pragma: no cover - big-endian hosts
            samples = array.array("h", bytes(data))
            samples.byteswap()
            mv = memoryview(samples)
        else:
            mv = data.cast("h")
        peaks = self.peaks
        sumprod = math.sumprod
        talk = 0
        for i in range(0, len(mv), n):
            f = mv[i : i + n]
            hi = max(f)
            lo = -min(f)
            p = (hi if hi > lo else lo) >> 7
            peaks.append(p if p < 256 else 255)
            if sumprod(f, f) > limit:
                talk += 1
        self.talk += talk

    def bucket_peaks(self, duration_ms: int) -> list[int]:
        frames = len(self.peaks)
        if frames == 0:
            return []
        count = min(MAX_PEAKS, max(1, -(-duration_ms // PEAK_BUCKET_MS)), frames)
        p = self.peaks
        return [max(p[i * frames // count : (i + 1) * frames // count]) for i in range(count)]


# --------------------------------------------------------------------------------------------
# Processing
# --------------------------------------------------------------------------------------------


def _normalise_spans(
    retained: Sequence[tuple[int, int]], call_duration_ms: int | None
) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    prev_end = None
    for span in retained:
        s, e = int(span[0]), int(span[1])
        if s < 0 or e < s:
            raise ValueError(f"retained span {span!r} is not 0 <= start <= end")
        if prev_end is not None and s < prev_end:
            raise ValueError("retained spans must be sorted and must not overlap")
        prev_end = e
        if call_duration_ms is not None:
            e = min(e, int(call_duration_ms))
        if s < e:
            spans.append((s, e))
    return spans


def _frame_from_bytes(data, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(data) // 2)
    frame.planes[0].update(data)
    frame.sample_rate = rate
    return frame


def process(
    src_path: PathOrFile,
    dst_path: str | os.PathLike,
    *,
    offset_ms: int,
    retained: Sequence[tuple[int, int]],
    call_duration_ms: int | None = None,
) -> ProcessResult:
    """Cut the upload to the retained spans and write the playback rendition to ``dst_path``.

    ``offset_ms``: call time of the upload's first sample. ``retained``: sorted, disjoint
    ``(start_ms, end_ms)`` spans in call time (end exclusive). ``call_duration_ms``: when given,
    audio after the end of the call is dropped. Raises UnsupportedAudio (bad or broken upload),
    NothingRetained (no sample inside a span) or ValueError (bad spans); on any exception
    ``dst_path`` does not exist afterwards.
    """
    spans = _normalise_spans(retained, call_duration_ms)
    dst = os.fspath(dst_path)
    try:
        return _process(src_path, dst, int(offset_ms), spans)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)
        raise


def _process(src_path, dst: str, offset_ms: int, spans) -> ProcessResult:
    with _Source(src_path) as src:
        rate = 8000 if (src.kind == "wav" and src.rate == 8000) else 16000
        per_ms = rate // 1000
        # span -> [first, end) sample index of the decoded stream; only spans that can hold audio
        ranges = []
        for s, e in spans:
            first, end = (s - offset_ms) * per_ms, (e - offset_ms) * per_ms
            if end > 0:
                ranges.append((max(first, 0), end))
        if not ranges:
            raise NothingRetained(message="No retained span overlaps the uploaded audio.")
        meter = _Meter(rate)
        time_base = Fraction(1, rate)
        resampler = av.AudioResampler(
            format="s16", layout="mono", rate=rate, frame_size=rate * _CHUNK_SECONDS
        )
        segments: list[list[int]] = []  # [first_sample, end_sample, rendition_sample, range_no]
        kept = 0
        pos = 0
        ri = 0
        with open(dst, "wb") as out_fh:
            out = av.open(out_fh, mode="w", format="mp3", container_options={"id3v2_version": "0"})
            try:
                ost = out.add_stream(_ENCODER, rate=OUTPUT_SAMPLE_RATE, layout="mono")
                ost.bit_rate = OUTPUT_BIT_RATE
                ost.codec_context.format = _ENCODER_SAMPLE_FORMAT
                encode = ost.encode
                mux = out.mux

                def chunks():
                    for frame in src.frames():
                        yield from resampler.resample(frame)
                    yield from resampler.resample(None)

                for frame in chunks():
                    n = frame.samples
                    end = pos + n
                    j = ri
                    while j < len(ranges) and ranges[j][0] < end:
                        a = max(ranges[j][0], pos)
                        b = min(ranges[j][1], end)
                        if a < b:
                            if segments and segments[-1][3] == j:
                                segments[-1][1] = b
                            else:
                                segments.append([a, b, kept, j])
                            plane = memoryview(frame.planes[0])[: 2 * n]
                            if a == pos and b == end:
                                piece = frame
                                data = plane
                            else:
                                data = plane[2 * (a - pos) : 2 * (b - pos)]
                                piece = _frame_from_bytes(data, rate)
                            meter.feed(data)
                            piece.pts = kept
                            piece.time_base = time_base
                            kept += b - a
                            for packet in encode(piece):
                                mux(packet)
                        j += 1
                    pos = end
                    while ri < len(ranges) and ranges[ri][1] <= pos:
                        ri += 1
                    if ri == len(ranges):
                        break  # past the last span: the rest of the upload is not needed
                if pos == 0:
                    raise UnsupportedAudio(message="The file contains no audio samples.")
                if kept == 0:
                    raise NothingRetained(message="The uploaded audio lies outside every retained span.")
                if kept * 1000 < MIN_RENDITION_MS * rate:
                    raise NothingRetained(
                        message=f"Only {kept * 1000 / rate:g} ms of the upload lies inside the "
                        f"retained spans; a recording needs at least {MIN_RENDITION_MS} ms."
                    )
                for packet in encode(None):
                    mux(packet)
            finally:
                out.close()
        meter.finish()

    digest = hashlib.sha256()
    size = 0
    with open(dst, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)

    def ms(samples: int) -> int:
        return (samples * 1000 + rate // 2) // rate

    duration_ms = ms(kept)
    peaks = meter.bucket_peaks(duration_ms)
    return ProcessResult(
        duration_ms=duration_ms,
        sha256=digest.hexdigest(),
        size_bytes=size,
        peaks=peaks,
        talk_ratio=meter.talk / meter.frames if meter.frames else 0.0,
        segments=[(offset_ms + ms(a), offset_ms + ms(b), ms(r)) for a, b, r, _ in segments],
        peak_bucket_ms=duration_ms / len(peaks) if peaks else 0.0,
    )


# --------------------------------------------------------------------------------------------
# Synthetic audio for tests, the simulator and the benchmark
# --------------------------------------------------------------------------------------------

_BLOCK_SECONDS = 10  # speech-like audio repeats with this period


def _tone_block(rate: int, seconds: int = 1, freq: int = 440, amp: int = 10000) -> array.array:
    n = rate * seconds  # whole number of cycles per second: the block repeats seamlessly
    w = 2 * math.pi * freq / rate
    return array.array("h", (int(amp * math.sin(w * i)) for i in range(n)))


def _speech_block(rate: int, seed: int, voice: int) -> array.array:
    """10 s of syllable-like bursts (harmonics of a gliding pitch plus noise) and pauses."""
    rnd = random.Random(seed * 7919 + voice)  # noqa: S311 - test signal, not a secret
    n = rate * _BLOCK_SECONDS
    out = array.array("h", bytes(2 * n))
    t = int(rnd.uniform(0.05, 0.3) * rate)
    while t < n:
        length = int(rnd.uniform(0.12, 0.35) * rate)
        f0 = rnd.uniform(95, 230) * (1.4 if voice else 1.0)
        glide = rnd.uniform(-0.25, 0.25)
        amp = rnd.uniform(3000, 9000)
        noise = rnd.uniform(0.05, 0.35)
        harmonics = [k for k in range(1, 9) if k * f0 * 1.3 < rate / 2]
        phase = 0.0
        for i in range(min(length, n - t)):
            x = i / length
            env = math.sin(math.pi * x) ** 2
            f = f0 * (1 + glide * x)
            phase += 2 * math.pi * f / rate
            v = 0.0
            for k in harmonics:
                v += math.sin(k * phase) / k
            v = 0.55 * v + noise * (rnd.random() * 2 - 1)
            out[t + i] = max(-32767, min(32767, int(amp * env * v)))
        t += length
        r = rnd.random()
        gap = rnd.uniform(0.4, 1.2) if r < 0.15 else rnd.uniform(0.03, 0.12)
        t += int(gap * rate)
    return out


def _synth(kind: str, rate: int, channels: int, seed: int) -> bytes:
    """One block of interleaved s16le audio that repeats seamlessly."""
    if kind == "tone":
        mono = _tone_block(rate)
        chans = [mono] * channels
    elif kind == "silence":
        chans = [array.array("h", bytes(2 * rate))] * channels
    elif kind == "speech-like":
        if channels == 1:
            chans = [_speech_block(rate, seed, 0)]
        else:  # two parties taking turns: left talks in the first half of the block, right after
            left, right = _speech_block(rate, seed, 0), _speech_block(rate, seed, 1)
            half = len(left) // 2
            left[half:] = array.array("h", bytes(2 * (len(left) - half)))
            right[:half] = array.array("h", bytes(2 * half))
            chans = [left, right]
    else:
        raise ValueError(f"kind must be 'tone', 'speech-like' or 'silence', not {kind!r}")
    if channels == 1:
        block = chans[0]
    else:
        block = array.array("h", bytes(2 * len(chans[0]) * channels))
        for c, samples in enumerate(chans):
            block[c::channels] = samples
    if sys.byteorder != "little":  # pragma: no cover
        block.byteswap()
    return block.tobytes()


def _pcm_blocks(kind: str, rate: int, channels: int, seconds: float, seed: int) -> Iterator[bytes]:
    if rate <= 0 or channels not in (1, 2):
        raise ValueError("rate must be positive and channels 1 or 2")
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    block = _synth(kind, rate, channels, seed)
    remaining = round(seconds * rate) * 2 * channels
    while remaining > 0:
        piece = block[:remaining]
        remaining -= len(piece)
        yield piece


def make_wav(
    path: str | os.PathLike,
    *,
    seconds: float,
    rate: int = 8000,
    channels: int = 1,
    kind: str = "tone",
    seed: int = 0,
) -> Path:
    """Write a PCM 16-bit WAV of ``seconds`` seconds with the stdlib ``wave`` module.

    ``kind``: ``"tone"`` (440 Hz sine, -10 dBFS, on every channel), ``"speech-like"``
    (syllable-like harmonic/noise bursts with pauses, a 10 s pattern repeated; in stereo the
    two channels take turns, like two parties of a call) or ``"silence"`` (digital zero).
    Any ``rate`` can be written (tests use 44100 to check refusals).
    """
    path = Path(path)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        for piece in _pcm_blocks(kind, rate, channels, seconds, seed):
            w.writeframes(piece)
    return path


def encode_opus(
    pcm: Iterable[bytes],
    out: BinaryIO,
    *,
    rate: int = 16000,
    channels: int = 1,
    bit_rate: int = 24000,
) -> None:
    """Encode interleaved signed 16-bit PCM, given in pieces of any length, to Ogg/Opus on ``out``.

    libopus through PyAV, fed one second at a time; ``out`` is a writable binary file object.
    A piece that is not a whole number of sample frames raises ``ValueError``.
    """
    if rate not in (8000, 12000, 16000, 24000, 48000):
        raise ValueError(f"Opus takes 8000, 12000, 16000, 24000 or 48000 Hz, not {rate}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"channels must be 1 or 2, not {channels}")
    layout = "mono" if channels == 1 else "stereo"
    width = 2 * channels
    container = av.open(out, mode="w", format="ogg")
    try:
        st = container.add_stream("libopus", rate=rate, layout=layout)
        st.bit_rate = bit_rate
        st.codec_context.format = "s16"
        pts = 0
        step = rate * width  # one second
        for piece in pcm:
            if len(piece) % width:
                raise ValueError(f"a PCM piece of {len(piece)} bytes is not whole {width}-byte frames")
            for i in range(0, len(piece), step):
                data = piece[i : i + step]
                frame = av.AudioFrame(format="s16", layout=layout, samples=len(data) // width)
                frame.planes[0].update(data)
                frame.sample_rate = rate
                frame.pts = pts
                frame.time_base = Fraction(1, rate)
                pts += frame.samples
                for packet in st.encode(frame):
                    container.mux(packet)
        for packet in st.encode(None):
            container.mux(packet)
    finally:
        container.close()


def make_opus(
    path: str | os.PathLike,
    seconds: float,
    *,
    rate: int = 16000,
    channels: int = 1,
    kind: str = "speech-like",
    bit_rate: int = 24000,
    seed: int = 0,
) -> Path:
    """Write an Ogg/Opus file (libopus through PyAV) of the same synthetic audio as make_wav."""
    path = Path(path)
    with open(path, "wb") as fh:
        encode_opus(
            _pcm_blocks(kind, rate, channels, seconds, seed),
            fh,
            rate=rate,
            channels=channels,
            bit_rate=bit_rate,
        )
    return path
