"""Calls per second through the telephony interface on the real stack.

Starts PostgreSQL, Redis and SeaweedFS (``scripts/services.sh``, scratch directory) unless
``DATABASE_URL`` is already set, migrates, creates the demo tenant, then runs gunicorn
(``--workers`` sync workers × ``--threads``) and one Celery worker (``--celery-concurrency``), and
drives them with ``manage.py simulate_calls`` (every mode; WAV and Opus uploads; replays):

1. baseline: the same simulator at concurrency 1 (``--baseline-calls`` calls);
2. the measurement: ``--calls`` calls at concurrency ``--concurrency`` (20).

Both runs wait for every call's final state and check it against its mode; the target is
0 errors. Calls per second count the interface work (start, replay, events, end, replay, audio,
read-back: ~7 requests a call); processing runs on the Celery worker alongside, and the time until
the last call was processed is reported too. Client, server, worker and the three services share
the machine's cores.

    python bench/bench_throughput.py [--calls 200] [--concurrency 20] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_env(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", f". {path} && env -0"], check=True, capture_output=True, text=True
    ).stdout
    return dict(line.split("=", 1) for line in out.split("\0") if "=" in line)


def simulate(python: str, env: dict[str, str], url: str, demo: Path, calls: int, concurrency: int) -> dict:
    began = time.perf_counter()
    run = subprocess.run(
        [
            python, "manage.py", "simulate_calls", "--url", url, "--demo-json", str(demo),
            "--calls", str(calls), "--concurrency", str(concurrency), "--wait", "600", "--json",
            "--seed", "2026",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if not run.stdout.strip():
        raise RuntimeError(run.stderr[-3000:])
    summary = json.loads(run.stdout)
    summary["until_processed_s"] = round(time.perf_counter() - began, 1)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--baseline-calls", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--celery-concurrency", type=int, default=2)
    args = parser.parse_args()

    python = sys.executable
    bindir = Path(python).parent
    scratch = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    env = dict(os.environ)
    started_services = False
    procs: list[subprocess.Popen] = []
    try:
        if not env.get("DATABASE_URL"):
            subprocess.run(
                ["bash", "scripts/services.sh", "start", str(scratch / "svc")],
                cwd=ROOT, env={**env, "PYTHON": python}, check=True, capture_output=True,
            )  # fmt: skip
            started_services = True
            env.update(load_env(scratch / "svc" / "env.sh"))
        env.update(DATA_DIR=str(scratch / "data"), CELERY_TASK_ALWAYS_EAGER="0")
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        demo = scratch / "demo.json"
        demo.write_text(
            subprocess.run(
                [python, "manage.py", "demo", "--json"], cwd=ROOT, env=env, check=True, capture_output=True
            ).stdout.decode()
        )
        port = free_port()
        log = (scratch / "server.log").open("w")
        procs.append(
            subprocess.Popen(
                [
                    str(bindir / "gunicorn"), "hiprecorder.wsgi", "--bind", f"127.0.0.1:{port}",
                    "--workers", str(args.workers), "--threads", str(args.threads), "--timeout", "120",
                ],
                cwd=ROOT, env=env, stdout=log, stderr=log,
            )
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [
                    str(bindir / "celery"), "-A", "hiprecorder", "worker", "--loglevel=WARNING",
                    "--concurrency", str(args.celery_concurrency),
                ],
                cwd=ROOT, env=env, stdout=log, stderr=log,
            )
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=5).read()  # noqa: S310 (our own loopback URL)
                break
            except OSError:
                time.sleep(0.2)
        print(
            "stack: PostgreSQL, Redis, SeaweedFS S3; "
            f"gunicorn {args.workers} workers x {args.threads} threads; "
            f"celery worker concurrency {args.celery_concurrency}; {os.cpu_count()} cores"
        )
        failed = False
        for label, calls, concurrency in (
            ("baseline", args.baseline_calls, 1),
            ("measured", args.calls, args.concurrency),
        ):
            s = simulate(python, env, url, demo, calls, concurrency)
            print(
                f"{label}: {s['calls']} calls ({s['requests']} requests) at concurrency {concurrency}: "
                f"{s['calls_per_second']} calls/s, {s['requests_per_second']} requests/s "
                "through the interface; "
                f"all processed after {s['until_processed_s']} s; errors {s['errors']}; states {s['states']}"
            )
            for line in s.get("error_lines", [])[:10]:
                print("   ", line)
            failed = failed or s["errors"] > 0
        print(f"target: 0 errors: {'met' if not failed else 'MISSED'}")
        return 1 if failed else 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if started_services:
            subprocess.run(
                ["bash", "scripts/services.sh", "stop", str(scratch / "svc")], cwd=ROOT, check=False
            )


if __name__ == "__main__":
    sys.exit(main())
