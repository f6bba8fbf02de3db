"""Call audio for the simulator: Dutch and English speech from espeak-ng when it is installed,
else tones; as WAV at 8 or 16 kHz or as Ogg/Opus."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

from recordings import audio

SENTENCES = {
    "nl": [
        "Goedemiddag, u spreekt met de klantenservice. Waarmee kan ik u helpen?",
        "Ik bel over de factuur van vorige maand, daar klopt iets niet aan.",
        "Dat zoek ik even voor u op. Een ogenblik geduld alstublieft.",
        "Prima, dan stuur ik u vandaag nog een nieuwe offerte per e-mail.",
        "Kunt u mij uw klantnummer geven? Dank u wel.",
    ],
    "en": [
        "Good afternoon, you are speaking with customer service. How can I help?",
        "I am calling about last month's invoice, something is not right.",
        "Let me look that up for you. One moment please.",
        "Fine, I will send you a new quote by email today.",
        "Could you give me your customer number? Thank you.",
    ],
}
ESPEAK = "/usr/bin/espeak-ng"

# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


class AudioBank:
    """Speech clips (espeak-ng) or tones as 16 kHz mono PCM, and calls made from them."""

    RATE = 16000

    def __init__(self, seed: int = 7) -> None:
        self.clips: list[bytes] = []
        self.speech = Path(ESPEAK).exists() or shutil.which("espeak-ng") is not None
        if self.speech:
            for lang, sentences in SENTENCES.items():
                for n, text in enumerate(sentences):
                    voice = "nl" if lang == "nl" else "en-us"
                    self.clips.append(self._speak(text, voice, speed=150 + 10 * n))
        else:
            for freq in (300, 440, 550, 660):
                self.clips.append(self._tone(freq, seconds=2.0))
        self.random = random.Random(seed)

    def _speak(self, text: str, voice: str, speed: int) -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "s.wav"
            exe = ESPEAK if Path(ESPEAK).exists() else str(shutil.which("espeak-ng"))
            subprocess.run(  # noqa: S603 (fixed executable, our own text)
                [exe, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True, capture_output=True
            )
            return _resample_wav(path.read_bytes(), self.RATE)

    def _tone(self, freq: int, seconds: float) -> bytes:
        import math

        n = int(self.RATE * seconds)
        samples = (int(8000 * math.sin(2 * math.pi * freq * i / self.RATE)) for i in range(n))
        return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)

    def pcm(self, seconds: float, rng: random.Random) -> bytes:
        """``seconds`` of conversation: clips separated by short silences, cut to length."""
        out = bytearray()
        need = int(seconds * self.RATE) * 2
        while len(out) < need:
            out += rng.choice(self.clips)
            out += bytes(2 * int(self.RATE * rng.uniform(0.2, 0.8)))
        return bytes(out[:need])


def _resample_wav(data: bytes, rate: int) -> bytes:
    import av

    out = bytearray()
    with av.open(io.BytesIO(data), mode="r") as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                out += bytes(piece.planes[0])[: piece.samples * 2]
        for piece in resampler.resample(None):
            out += bytes(piece.planes[0])[: piece.samples * 2]
    return bytes(out)


def encode(pcm16k: bytes, fmt: str, *, one_sided: bool = False) -> tuple[bytes, str]:
    """The upload body and its content type: ``wav8``, ``wav16``, ``wav16s`` (stereo), ``opus``.
    ``one_sided`` (``wav16s`` only): the second party's channel is silent throughout."""
    if one_sided and fmt != "wav16s":
        raise ValueError(f"one-sided audio needs two channels (wav16s), not {fmt!r}")
    if fmt == "opus":
        return _opus(pcm16k), "audio/ogg"
    rate = 8000 if fmt == "wav8" else 16000
    pcm = _resample_raw(pcm16k, 16000, rate) if rate != 16000 else pcm16k
    channels = 2 if fmt == "wav16s" else 1
    if channels == 2:  # the two parties on two channels: here the same voice, one quieter
        import array

        mono = array.array("h", pcm)
        stereo = array.array("h", bytes(4 * len(mono)))
        stereo[0::2] = mono
        if not one_sided:  # else the second channel stays silent
            stereo[1::2] = array.array("h", (s // 4 for s in mono))
        pcm = stereo.tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buffer.getvalue(), "audio/wav"


def _resample_raw(pcm: bytes, src: int, dst: int) -> bytes:
    import av

    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate = src
    frame.pts = 0
    frame.time_base = Fraction(1, src)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=dst)
    out = bytearray()
    for piece in [*resampler.resample(frame), *resampler.resample(None)]:
        out += bytes(piece.planes[0])[: piece.samples * 2]
    return bytes(out)


def _opus(pcm: bytes, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    audio.encode_opus([pcm], buffer, rate=rate)
    return buffer.getvalue()
