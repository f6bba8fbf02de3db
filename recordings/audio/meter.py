"""The level meter: a peak byte and a talk flag per 20 ms frame of the kept audio, with numpy
when it is importable and a slower standard-library path that gives the same figures."""

from __future__ import annotations

import array
import math
import sys
from collections.abc import Sequence
from types import ModuleType

from recordings.audio.formats import FRAME_MS, MAX_PEAKS, PEAK_BUCKET_MS, TALK_ENERGY_PER_SAMPLE

# --------------------------------------------------------------------------------------------
# Level meter: 20 ms frame peaks and talk frames
# --------------------------------------------------------------------------------------------


def _numpy() -> ModuleType | None:
    """numpy, or None when it is not installed (the meter's results are identical without it).

    Imported on first use, not with this module: only the Celery worker meters audio, and the web
    process, which imports this module to probe uploads, stays ~9 MB smaller without numpy.
    """
    try:
        import numpy
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return numpy


class Meter:
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

    def feed(self, data: bytes | bytearray | memoryview) -> None:
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
        limit = n * TALK_ENERGY_PER_SAMPLE
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
# One-sided audio: one party silent throughout (two-channel uploads, one party per channel)
# --------------------------------------------------------------------------------------------

# A channel with talk in fewer than this share of its 20 ms frames is a silent party: a click, a
# beep or line noise on a dead leg stays under it, and a party who says only "ja" (~0.3 s) in a
# 30 s call stays over it.
SILENT_PARTY_MAX_TALK = 0.005


def one_sided(channel_talk: tuple[float, float] | None) -> bool | None:
    """Whether exactly one of the two channels is silent throughout (the other party talks).
    None when the parties cannot be told apart (one channel); a recording silent on both channels
    is not one-sided (its talk ratio says it is silent)."""
    if channel_talk is None:
        return None
    silent = [ratio < SILENT_PARTY_MAX_TALK for ratio in channel_talk]
    return silent.count(True) == 1


class ChannelMeter:
    """Talk per channel of two-channel s16 audio (interleaved), counted only inside ``ranges``
    (``[first, end)`` sample indexes of the decoded stream: the kept spans), in frames fed in
    order and of any length."""

    def __init__(self, rate: int, ranges: Sequence[tuple[int, int]]) -> None:
        self.ranges = list(ranges)
        self.left = Meter(rate)
        self.right = Meter(rate)
        self.pos = 0
        self._ri = 0

    def feed(self, data: bytes | bytearray | memoryview, samples: int) -> None:
        """``samples`` interleaved stereo samples (``4 * samples`` bytes of ``data``)."""
        end = self.pos + samples
        j = self._ri
        while j < len(self.ranges) and self.ranges[j][0] < end:
            a = max(self.ranges[j][0], self.pos)
            b = min(self.ranges[j][1], end)
            if a < b:
                both = array.array("h", bytes(memoryview(data)[4 * (a - self.pos) : 4 * (b - self.pos)]))
                self.left.feed(both[0::2].tobytes())
                self.right.feed(both[1::2].tobytes())
            j += 1
        self.pos = end
        while self._ri < len(self.ranges) and self.ranges[self._ri][1] <= self.pos:
            self._ri += 1

    def talk_ratios(self) -> tuple[float, float]:
        self.left.finish()
        self.right.finish()
        return _ratio(self.left), _ratio(self.right)


def _ratio(meter: Meter) -> float:
    return meter.talk / meter.frames if meter.frames else 0.0
