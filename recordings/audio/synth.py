"""Synthetic audio (tones, speech-like bursts, silence) as WAV or Ogg/Opus, for the tests, the
phone-system simulator and the benchmarks."""

from __future__ import annotations

import array
import math
import os
import random
import sys
import wave
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

from recordings.audio.formats import MAX_CHANNELS

# --------------------------------------------------------------------------------------------
# Synthetic audio for tests, the simulator and the benchmark
# --------------------------------------------------------------------------------------------

_BLOCK_SECONDS = 10  # speech-like audio repeats with this period


def _tone_block(rate: int, seconds: int = 1, freq: int = 440, amp: int = 10000) -> array.array[int]:
    n = rate * seconds  # whole number of cycles per second: the block repeats seamlessly
    w = 2 * math.pi * freq / rate
    return array.array("h", (int(amp * math.sin(w * i)) for i in range(n)))


def _speech_block(rate: int, seed: int, voice: int) -> array.array[int]:
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
    path: str | os.PathLike[str],
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
    path: str | os.PathLike[str],
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
