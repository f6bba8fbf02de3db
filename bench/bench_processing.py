"""Benchmark of the audio pipeline (recordings/audio/).

    python bench/bench_processing.py [--minutes 60] [--repeat 3] [--rate 8000] [--channels 1]
                                     [--no-numpy] [--keep-dir DIR]

Generates an N-minute speech-like WAV (8 kHz mono unless told), then measures, best of
--repeat runs each:

  (a) baseline: bare PyAV decode + encode of the same WAV to the same rendition settings
      (same demuxer options, libmp3lame, 16 kHz mono s16p, CBR 24 kbit/s, MP3 muxer without ID3);
  (b) recordings.audio.process(): decode, place at an offset, cut a paused span, downmix,
      encode, sha256, peaks, talk ratio.

CPU time is time.process_time() (this process, all threads): real-time factor per core =
audio seconds / CPU seconds. Targets: (b) >= 300x real time per core, and (b)'s CPU per audio
second at most 1.2x (a)'s. --no-numpy forces the standard-library level meter. The peak RSS of
the whole run is printed too (everything streams: it does not grow with --minutes).
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import av  # noqa: E402

from recordings import audio  # noqa: E402
from recordings.audio import formats, meter  # noqa: E402

RT_TARGET = 300.0
OVERHEAD_TARGET = 1.2


def baseline(src: str, dst: str) -> None:
    """Bare decode + encode with the rendition's codec settings: no cutting, no measuring."""
    with open(src, "rb") as fh, open(dst, "wb") as ofh:
        inp = av.open(fh, format="wav", options={"max_size": str(formats._WAV_DEMUX_PACKET_BYTES)})
        out = av.open(ofh, mode="w", format="mp3", container_options={"id3v2_version": "0"})
        st = out.add_stream(audio.formats.ENCODER, rate=audio.OUTPUT_SAMPLE_RATE, layout="mono")
        st.bit_rate = audio.OUTPUT_BIT_RATE
        st.codec_context.format = audio.formats.ENCODER_SAMPLE_FORMAT
        for frame in inp.decode(inp.streams.audio[0]):
            for packet in st.encode(frame):
                out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
        out.close()
        inp.close()


def timed(fn, repeat: int):
    best = None
    result = None
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn()
        cpu = time.process_time() - t0
        best = cpu if best is None else min(best, cpu)
    return best, result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rate", type=int, default=8000, choices=[8000, 16000])
    ap.add_argument("--channels", type=int, default=1, choices=[1, 2])
    ap.add_argument("--no-numpy", action="store_true", help="use the stdlib level meter")
    ap.add_argument("--keep-dir", help="write the files here instead of a temporary directory")
    args = ap.parse_args(argv)
    if args.no_numpy:
        meter._numpy = lambda: None  # the meter imports numpy through this function

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        src = work / "bench-input.wav"
        seconds = args.minutes * 60
        t0 = time.perf_counter()
        audio.make_wav(src, seconds=seconds, rate=args.rate, channels=args.channels, kind="speech-like")
        gen = time.perf_counter() - t0
        np = meter._numpy()
        meter_kind = f"numpy {np.__version__}" if np else "standard library"
        print(f"python {sys.version.split()[0]}, PyAV {av.__version__}, level meter: {meter_kind}")
        print(
            f"input: {args.minutes:g} min speech-like {args.rate} Hz "
            f"{'mono' if args.channels == 1 else 'stereo'} WAV, "
            f"{src.stat().st_size / 1e6:.1f} MB, generated in {gen:.1f} s"
        )

        # (b): the upload starts 2 s into the call; a 60 s pause in the middle is cut out
        offset_ms = 2000
        total_ms = round(seconds * 1000) + offset_ms
        mid = total_ms // 2
        if total_ms > 120_000:
            retained = [(0, mid - 30_000), (mid + 30_000, total_ms)]
            kept_s = seconds - 60
        else:
            retained = [(0, total_ms)]
            kept_s = seconds

        a_cpu, _ = timed(lambda: baseline(str(src), str(work / "baseline.mp3")), args.repeat)
        b_cpu, res = timed(
            lambda: audio.process(
                src,
                work / "rendition.mp3",
                offset_ms=offset_ms,
                retained=retained,
                call_duration_ms=total_ms,
            ),
            args.repeat,
        )
        a_rt = seconds / a_cpu
        b_rt = kept_s / b_cpu
        # on equal work: (b)'s CPU per kept audio second over (a)'s CPU per audio second
        overhead = (b_cpu / kept_s) / (a_cpu / seconds)
        size_per_min = res.size_bytes / (res.duration_ms / 60000)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"(a) baseline decode+encode: best of {args.repeat}: {a_cpu:.2f} s CPU "
            f"-> {a_rt:.0f}x real time per core"
        )
        print(
            f"(b) process():              best of {args.repeat}: {b_cpu:.2f} s CPU "
            f"-> {b_rt:.0f}x real time per core ({kept_s:.0f} s kept)"
        )
        print(f"overhead (b)/(a) per audio second: {overhead:.3f}x")
        print(
            f"rendition: {res.duration_ms} ms, {res.size_bytes} bytes "
            f"({size_per_min / 1000:.1f} KB per minute), {len(res.peaks)} peaks, "
            f"talk ratio {res.talk_ratio:.3f}, segments {res.segments}"
        )
        print(f"peak RSS of this run: {rss_mb:.0f} MB")
        rt_ok = b_rt >= RT_TARGET
        ov_ok = overhead <= OVERHEAD_TARGET
        print(
            f"targets: >= {RT_TARGET:.0f}x real time per core: {'met' if rt_ok else 'MISSED'}; "
            f"overhead <= {OVERHEAD_TARGET}x: {'met' if ov_ok else 'MISSED'}"
        )
        return 0 if rt_ok and ov_ok else 1


if __name__ == "__main__":
    sys.exit(main())
