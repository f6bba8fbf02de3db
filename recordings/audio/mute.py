"""Muting spans of a finished rendition (redacted words, ``recordings.transcripts``): decode the
MP3 the processing wrote, set the samples inside the spans to digital silence, and encode it again
with the rendition's settings, measured as the processing measures (peaks, sha256).

The input is our own rendition (MP3, 16 kHz mono), opened with the MP3 demuxer only. Times are
rendition milliseconds; the output has the same number of samples, so every time on the
recording (comments, transcript segments) stays where it was. On any exception ``dst_path`` does
not exist afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
from av.audio.stream import AudioStream

from recordings.audio.formats import (
    ENCODER,
    ENCODER_SAMPLE_FORMAT,
    OUTPUT_BIT_RATE,
    OUTPUT_SAMPLE_RATE,
    UnsupportedAudio,
)
from recordings.audio.meter import Meter


@dataclass(frozen=True)
class MuteResult:
    duration_ms: int
    sha256: str
    size_bytes: int
    peaks: list[int]
    muted: list[tuple[int, int]]  # the spans muted, clipped to the audio, in milliseconds


def mute(
    src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str], spans: Sequence[tuple[int, int]]
) -> MuteResult:
    """Write ``src_path`` (a rendition) to ``dst_path`` with ``spans`` (``(start_ms, end_ms)``,
    any order) silent. Raises UnsupportedAudio for a file that is not such an MP3."""
    dst = os.fspath(dst_path)
    try:
        return _mute(os.fspath(src_path), dst, spans)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)
        raise


def _mute(src: str, dst: str, spans: Sequence[tuple[int, int]]) -> MuteResult:
    rate = OUTPUT_SAMPLE_RATE
    per_ms = rate // 1000
    ranges = sorted((max(0, int(s)) * per_ms, int(e) * per_ms) for s, e in spans if int(e) > max(0, int(s)))
    meter = Meter(rate)
    pos = 0
    time_base = Fraction(1, rate)
    try:
        source = av.open(src, mode="r", format="mp3")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise UnsupportedAudio(message=f"The rendition cannot be read ({exc}).") from None
    muted: list[tuple[int, int]] = []
    with source, open(dst, "wb") as out_fh:
        out = av.open(out_fh, mode="w", format="mp3", container_options={"id3v2_version": "0"})
        try:
            ost = cast(AudioStream, out.add_stream(ENCODER, rate=rate, layout="mono"))
            ost.bit_rate = OUTPUT_BIT_RATE
            ost.codec_context.format = ENCODER_SAMPLE_FORMAT
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

            def pieces() -> Iterator[av.AudioFrame]:
                try:
                    for frame in source.decode(audio=0):
                        yield from resampler.resample(frame)
                except (av.FFmpegError, ValueError) as exc:
                    raise UnsupportedAudio(message=f"The rendition fails to decode ({exc}).") from None
                yield from resampler.resample(None)

            for piece in pieces():
                n = piece.samples
                data = bytearray(memoryview(piece.planes[0])[: 2 * n])
                for first, end in ranges:
                    a, b = max(first, pos), min(end, pos + n)
                    if a < b:
                        data[2 * (a - pos) : 2 * (b - pos)] = bytes(2 * (b - a))
                meter.feed(data)
                frame = av.AudioFrame(format="s16", layout="mono", samples=n)
                frame.planes[0].update(bytes(data))
                frame.sample_rate = rate
                frame.pts = pos
                frame.time_base = time_base
                pos += n
                for packet in ost.encode(frame):
                    out.mux(packet)
            for packet in ost.encode(None):
                out.mux(packet)
        finally:
            out.close()
    meter.finish()
    if pos == 0:
        raise UnsupportedAudio(message="The rendition contains no audio samples.")
    for first, end in ranges:
        a, b = first, min(end, pos)
        if a < b:
            muted.append(((a + per_ms // 2) // per_ms, (b + per_ms // 2) // per_ms))
    digest = hashlib.sha256()
    size = 0
    with open(dst, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    duration_ms = (pos * 1000 + rate // 2) // rate
    return MuteResult(
        duration_ms=duration_ms,
        sha256=digest.hexdigest(),
        size_bytes=size,
        peaks=meter.bucket_peaks(duration_ms),
        muted=muted,
    )
