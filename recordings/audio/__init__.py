"""Audio pipeline: validate an upload, cut it to the retained spans, encode the playback rendition.

Pure package: PyAV (FFmpeg bindings) and the standard library; no Django, no system ffmpeg.
numpy speeds up the level meter when it is importable (imported only when audio is metered, so
the web process, which only probes uploads, never loads it); without it the figures are the
same, bit for bit, only slower, so the worker that runs :func:`process` lists it.

Rooms: :mod:`~recordings.audio.formats` (what is accepted and made, errors, :func:`probe`,
:func:`check_declared_type`), :mod:`~recordings.audio.rendition` (:func:`process`),
:mod:`~recordings.audio.meter` (peaks and talk ratio), :mod:`~recordings.audio.synth` (synthetic
uploads for tests, the simulator and the benchmarks).

Contract
========

- Detection does not trust the declared content type: the first bytes choose between the two
  allowed demuxers only (``RIFF....WAVE`` -> ``wav``, ``OggS`` -> ``ogg``), so a crafted upload
  never reaches a demuxer that opens other files or URLs; the upload is read through a Python
  file object. Accepted: WAV PCM 16-bit signed little-endian, 8 or 16 kHz, mono or stereo; and
  Ogg/Opus, mono or stereo. Anything else is :class:`UnsupportedAudio` with a message saying what
  was found and what is accepted.
- Rendition: MP3, CBR 24 kbit/s, 16 kHz, mono (``audio/mpeg``). Why: every current browser plays
  and seeks it (Safari on iPhone too), constant bit rate makes HTTP Range seeking exact, it stays
  well under the 240 KB-per-minute limit (about 180 KB), and LAME is several times faster than
  FFmpeg's AAC encoder, which also overshoots low bit rates. The measurements behind the choice
  are in docs/audio-rendition.md.
- Timeline: sample k of the upload lies at call time ``offset_ms + k * 1000 / P`` (P = 8000 Hz
  for 8 kHz WAV, else 16000 Hz); container timestamps are ignored. Only the retained spans
  (clipped to the call) are kept and concatenated, without padding silence; ``segments`` lists
  ``(call_start_ms, call_end_ms, rendition_start_ms)`` per span that kept audio. Less than
  ``MIN_RENDITION_MS`` kept is :class:`NothingRetained` (the call has no recording).
- Measurements, in the same pass: ``peaks`` (max of ``min(255, |x| >> 7)`` per 20 ms frame,
  grouped into ``min(1000, ceil(duration_ms / 100))`` buckets), ``talk_ratio`` (share of 20 ms
  frames with RMS over ``TALK_RMS_THRESHOLD``, -40 dBFS, compared exactly in integers) and the
  ``sha256`` of the finished file.
- Everything is streamed (peak memory does not grow with the call); :func:`process` never
  leaves a partial output file behind when it raises. Bad arguments (unsorted or overlapping
  spans) raise ``ValueError``.
"""

from __future__ import annotations

from recordings.audio.formats import (
    CONTENT_TYPES,
    MAX_PEAKS,
    MIN_RENDITION_MS,
    OUTPUT_BIT_RATE,
    OUTPUT_CODEC,
    OUTPUT_EXTENSION,
    OUTPUT_MIME,
    OUTPUT_SAMPLE_RATE,
    TALK_RMS_THRESHOLD,
    AudioError,
    AudioInfo,
    NothingRetained,
    ProcessResult,
    UnsupportedAudio,
    check_declared_type,
    probe,
)
from recordings.audio.rendition import process
from recordings.audio.synth import encode_opus, make_opus, make_wav

__all__ = [
    "CONTENT_TYPES",
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
