"""What the audio pipeline accepts and makes: the formats, the errors and results, and how an
upload is recognised and validated (:func:`probe`, :func:`check_declared_type`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import av
from av.audio.stream import AudioStream
from av.container import InputContainer

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
ENCODER = "libmp3lame"
ENCODER_SAMPLE_FORMAT = "s16p"  # mono s16p has the same bytes as s16: cheapest conversion

FRAME_MS = 20  # meter frame
TALK_RMS_THRESHOLD = 328  # -40 dBFS for 16-bit samples (32768 * 10**(-40/20) = 327.7)
TALK_ENERGY_PER_SAMPLE = TALK_RMS_THRESHOLD * TALK_RMS_THRESHOLD
MAX_PEAKS = 1000
PEAK_BUCKET_MS = 100  # bucket length while under MAX_PEAKS buckets
MIN_RENDITION_MS = 20  # shorter is NothingRetained (FFmpeg's resampler drops a few-sample input)

_WAV_DEMUX_PACKET_BYTES = 65536  # FFmpeg's default of 4096 means 14k Python iterations per hour
CHUNK_SECONDS = 2  # resampler output frame length
_PROBE_MAX_FRAMES = 200  # probe() gives up looking for samples after this many frames
# How much FFmpeg reads ahead to find the stream parameters (its default, 5 MB, is buffered in
# full for a long WAV: +4 MB of peak memory in the web process per upload). The WAV and Ogg/Opus
# headers carry every parameter that is checked; decoding is not limited by it.
_DEMUX_PROBE_BYTES = 65536

CONTENT_TYPES = {
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

PathOrFile = str | os.PathLike[str] | IO[bytes]


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
    # Two-channel uploads (one party per channel): the talk ratio of each channel, (left, right),
    # and whether one party is silent throughout (recordings.audio.meter.one_sided); None for a
    # one-channel upload, where the parties cannot be told apart.
    channel_talk: tuple[float, float] | None = None
    one_sided: bool | None = None


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


class Source:
    """An upload opened with the demuxer its magic bytes call for, through a Python file object."""

    def __init__(self, src: PathOrFile) -> None:
        self._owned: IO[bytes] | None = None
        fh: IO[bytes]
        if isinstance(src, (str, os.PathLike)):
            fh = open(src, "rb")  # noqa: SIM115 - closed in close()
            self._owned = fh
        else:
            fh = src
            if not (hasattr(fh, "read") and hasattr(fh, "seek")):
                raise TypeError("probe()/process() need a path or a seekable binary file object")
        self.fh = fh
        self.start = fh.tell()  # restored by close()
        self._container: InputContainer | None = None
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
                self._container = av.open(fh, mode="r", format=kind, options=options)
            except (av.FFmpegError, ValueError, OSError) as exc:
                raise UnsupportedAudio(
                    message=f"The file starts like {'WAV' if kind == 'wav' else 'Ogg'} but "
                    f"cannot be read as such ({_ffmpeg_reason(exc)}); {_ACCEPTED}."
                ) from None
            self.stream = self._check_stream()
        except BaseException:
            self.close()
            raise

    def _check_stream(self) -> AudioStream:
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

    @property
    def container(self) -> InputContainer:
        if self._container is None:
            raise ValueError("the source is closed")
        return self._container

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                self._container.close()
            self._container = None
        if self._owned is not None:
            self._owned.close()
            self._owned = None
        else:
            with contextlib.suppress(OSError, ValueError):  # the caller may have closed it
                self.fh.seek(self.start)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
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
    with Source(path_or_file) as src:
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
    declared = CONTENT_TYPES.get(main)
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
