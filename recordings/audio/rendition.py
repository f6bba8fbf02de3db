"""Processing an upload: place it on the call's timeline, keep the retained spans, downmix,
encode the playback rendition and measure it in the same pass (:func:`process`)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import cast

import av
from av.audio.stream import AudioStream

from recordings.audio.formats import (
    CHUNK_SECONDS,
    ENCODER,
    ENCODER_SAMPLE_FORMAT,
    MIN_RENDITION_MS,
    OUTPUT_BIT_RATE,
    OUTPUT_SAMPLE_RATE,
    NothingRetained,
    PathOrFile,
    ProcessResult,
    Source,
    UnsupportedAudio,
)
from recordings.audio.meter import ChannelMeter, Meter, one_sided

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


def _frame_from_bytes(data: bytes | bytearray | memoryview, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(data) // 2)
    frame.planes[0].update(data)  # type: ignore[arg-type]  # any buffer; a memoryview slice saves a copy
    frame.sample_rate = rate
    return frame


def process(
    src_path: PathOrFile,
    dst_path: str | os.PathLike[str],
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


def _process(
    src_path: PathOrFile, dst: str, offset_ms: int, spans: Sequence[tuple[int, int]]
) -> ProcessResult:
    with Source(src_path) as src:
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
        meter = Meter(rate)
        # Two channels: one party each (the simulator's "wav16s", a phone system's per-leg capture);
        # talk is measured per channel too, for one-sided audio. One channel: not measurable.
        parties = _Parties(rate, ranges) if src.channels == 2 else None
        time_base = Fraction(1, rate)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate, frame_size=rate * CHUNK_SECONDS)
        segments: list[list[int]] = []  # [first_sample, end_sample, rendition_sample, range_no]
        kept = 0
        pos = 0
        ri = 0
        with open(dst, "wb") as out_fh:
            out = av.open(out_fh, mode="w", format="mp3", container_options={"id3v2_version": "0"})
            try:
                ost = cast(AudioStream, out.add_stream(ENCODER, rate=OUTPUT_SAMPLE_RATE, layout="mono"))
                ost.bit_rate = OUTPUT_BIT_RATE
                ost.codec_context.format = ENCODER_SAMPLE_FORMAT
                encode = ost.encode
                mux = out.mux

                def chunks() -> Iterator[av.AudioFrame]:
                    for frame in src.frames():
                        if parties is not None:
                            parties.feed(frame)
                        yield from resampler.resample(frame)
                    if parties is not None:
                        parties.flush()
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
        if parties is not None:
            parties.flush()  # after an early stop: what the channel resampler still holds

    digest = hashlib.sha256()
    size = 0
    with open(dst, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)

    def ms(samples: int) -> int:
        return (samples * 1000 + rate // 2) // rate

    duration_ms = ms(kept)
    channel_talk = parties.meter.talk_ratios() if parties is not None else None
    peaks = meter.bucket_peaks(duration_ms)
    return ProcessResult(
        duration_ms=duration_ms,
        sha256=digest.hexdigest(),
        size_bytes=size,
        peaks=peaks,
        talk_ratio=meter.talk / meter.frames if meter.frames else 0.0,
        segments=[(offset_ms + ms(a), offset_ms + ms(b), ms(r)) for a, b, r, _ in segments],
        peak_bucket_ms=duration_ms / len(peaks) if peaks else 0.0,
        channel_talk=channel_talk,
        one_sided=one_sided(channel_talk),
    )


class _Parties:
    """The two channels of the upload, resampled as the rendition is (same rate, so the same
    sample indexes), metered inside the kept ranges."""

    def __init__(self, rate: int, ranges: Sequence[tuple[int, int]]) -> None:
        self.rate = rate
        self.meter = ChannelMeter(rate, ranges)
        self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=rate)
        self.flushed = False

    def feed(self, frame: av.AudioFrame) -> None:
        if frame.format.name == "s16" and frame.layout.name == "stereo" and frame.sample_rate == self.rate:
            # WAV at the rendition's rate: the decoded frame is what is measured, read in place.
            self.meter.feed(memoryview(frame.planes[0])[: 4 * frame.samples], frame.samples)
            return
        # A copy: the filter graph takes the frame's buffers, and the rendition's resampler needs them.
        copy = av.AudioFrame.from_ndarray(
            frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name
        )
        copy.sample_rate = frame.sample_rate
        copy.pts = frame.pts
        copy.time_base = frame.time_base
        for piece in self.resampler.resample(copy):
            self.meter.feed(memoryview(piece.planes[0])[: 4 * piece.samples], piece.samples)

    def flush(self) -> None:
        if not self.flushed:
            self.flushed = True
            for piece in self.resampler.resample(None):
                self.meter.feed(memoryview(piece.planes[0])[: 4 * piece.samples], piece.samples)
