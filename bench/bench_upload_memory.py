"""Peak memory of the telephony web process while the phone system uploads 2-hour calls.

Runs a real gunicorn (one worker process; no Celery worker, so processing does not run in this
process) in a scratch DATA_DIR, in the **production configuration** by default: PostgreSQL, Redis
and S3 from the environment (``scripts/services.sh start DIR && . DIR/env.sh``); it refuses to run
without them unless ``--demo`` asks for the embedded default (SQLite, files on disk). Then:

1. idle: after start-up and a warm-up (a user signs in through the log-in form and opens the
   portal's recordings page, then a short call with a 5 s upload, so Django, the templates, PyAV,
   boto3, Celery's sending side and the views are loaded), the worker's peak RSS (VmHWM in
   /proc/<pid>/status);
2. a 2-hour 8 kHz mono 16-bit WAV (~115 MB), streamed from disk with a Content-Length;
3. the same file again on a new call, with ``Transfer-Encoding: chunked`` (no Content-Length);
4. ``--parallel N`` (default 4) uploads of the same file at once, each on its own call (gunicorn
   runs ``--threads N`` for this).

and prints the worker's VmHWM after each, with the growth over idle. Target: at most 16 MB of
growth per upload in flight (so 64 MB for four at once); exit status 1 when missed. The idle size
is reported against an aim of 100 MB.

    python bench/bench_upload_memory.py [--minutes 120] [--parallel 4] [--surface all|telephony]
                                        [--demo] [--app-dir DIR] [--keep-dir DIR]

``--surface telephony`` serves only the telephony interface (``HIPRECORDER_SURFACE=telephony``, the
process the phone system's uploads go to in production): no portal, so the warm-up is /healthz and
the short call only. ``--app-dir`` serves another checkout of the project (e.g. ``git archive`` of
an older commit) with this same measurement: a before/after baseline.
"""

from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def commit_of(folder: Path) -> str:
    git = ["git", "-C", str(folder)]
    answer = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    if answer.returncode == 0:
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"], check=False).returncode
        return answer.stdout.strip() + (" + uncommitted changes" if dirty else "")
    marker = folder / "COMMIT"  # a `git archive` export: write the id there
    return marker.read_text().strip() if marker.exists() else "unknown"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sign_in_and_open_portal(port: int, username: str, password: str) -> None:
    """Sign in through the real log-in form (CSRF cookie and token) and open the recordings page."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = f"http://127.0.0.1:{port}"
    form = opener.open(f"{base}/accounts/login/", timeout=60).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token, "no CSRF token on the log-in page"
    fields = {"csrfmiddlewaretoken": token.group(1), "login": username, "password": password}
    request = urllib.request.Request(  # noqa: S310 (our own loopback URL)
        f"{base}/accounts/login/",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Referer": f"{base}/accounts/login/"},
    )
    with opener.open(request, timeout=60) as answer:  # follows the redirect to the portal
        page = answer.read().decode()
        assert answer.url == f"{base}/", f"log-in did not reach the portal: {answer.url}"
    assert 'name="password"' not in page, "still on the log-in form"


class Phone:
    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key

    def call(self, call_id: str, user: str, seconds: int) -> None:
        started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds + 10)
        body = {
            "call_id": call_id,
            "user": user,
            "direction": "inbound",
            "local_number": "+31201234567",
            "remote_number": "+31612345678",
            "leg": "fixed",
            "started_at": iso(started),
        }
        status, answer = self.send("POST", "/rpi/v1/calls", json.dumps(body).encode(), "application/json")
        assert status == 201, (status, answer)
        status, answer = self.send(
            "POST",
            f"/rpi/v1/calls/{call_id}/end",
            json.dumps({"ended_at": iso(started + timedelta(seconds=seconds))}).encode(),
            "application/json",
        )
        assert status == 202, (status, answer)

    def send(self, method: str, path: str, body: object, content_type: str, chunked: bool = False) -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": content_type}
        try:
            if chunked:
                conn.putrequest(method, path)
                for k, v in {**headers, "Transfer-Encoding": "chunked"}.items():
                    conn.putheader(k, v)
                conn.endheaders()
                while chunk := body.read(256 * 1024):  # type: ignore[attr-defined]
                    conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                conn.send(b"0\r\n\r\n")
            else:
                if hasattr(body, "read"):
                    headers["Content-Length"] = str(os.fstat(body.fileno()).st_size)  # type: ignore[attr-defined]
                conn.request(method, path, body=body, headers=headers)  # a file is sent in blocks
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def upload(self, call_id: str, path: Path, chunked: bool) -> tuple[int, float]:
        began = time.perf_counter()
        with path.open("rb") as handle:
            status, answer = self.send("PUT", f"/rpi/v1/calls/{call_id}/audio", handle, "audio/wav", chunked)
        assert status == 201, (status, answer)
        return status, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--idle-aim-mb", type=float, default=100, help="idle size aimed at (reported)")
    parser.add_argument("--growth-mb", type=float, default=16, help="growth per upload in flight (target)")
    parser.add_argument("--parallel", type=int, default=4, help="uploads at once in the last round")
    parser.add_argument("--demo", action="store_true", help="the embedded default, not production's")
    parser.add_argument("--surface", choices=("all", "telephony"), default="all", help="HIPRECORDER_SURFACE")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout gunicorn serves")
    parser.add_argument("--keep-dir")
    args = parser.parse_args()

    from recordings import audio

    app = args.app_dir.resolve()
    production = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME")
    missing = [name for name in production if not os.environ.get(name)]
    if missing and not args.demo:
        print(
            f"missing {', '.join(missing)}: run `scripts/services.sh start DIR && . DIR/env.sh` first, "
            "or pass --demo for the embedded default",
            file=sys.stderr,
        )
        return 2
    configuration = "embedded default (SQLite, disk)" if args.demo else "production (PostgreSQL, Redis, S3)"
    print(f"serving {app} (commit {commit_of(app)}), surface {args.surface}, {configuration}")

    folder = Path(args.keep_dir or tempfile.mkdtemp(prefix="bench-upload-"))
    folder.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = {
        k: v
        for k, v in os.environ.items()
        if not (args.demo and k.startswith(("DATABASE_URL", "CELERY_", "AWS_", "REDIS_URL")))
    }
    env.update(
        DATA_DIR=str(folder / "data"),
        DJANGO_SETTINGS_MODULE="hiprecorder.settings",
        HIPRECORDER_SURFACE=args.surface,
    )
    server = None
    try:
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=app, env=env, check=True)
        demo = json.loads(
            subprocess.run(
                [python, "manage.py", "demo", "--json"], cwd=app, env=env, check=True, capture_output=True
            ).stdout
        )
        person = demo["users"]["always"]
        user = person["pbx_id"]
        wav = folder / "call.wav"
        began = time.perf_counter()
        audio.make_wav(wav, seconds=args.minutes * 60, rate=8000, kind="speech-like")
        print(
            f"input: {args.minutes:g} min 8 kHz mono WAV, {wav.stat().st_size / 1e6:.1f} MB "
            f"(written in {time.perf_counter() - began:.1f} s)"
        )
        small = folder / "small.wav"
        audio.make_wav(small, seconds=5, rate=8000, kind="speech-like")

        port = free_port()
        gunicorn = str(Path(python).parent / "gunicorn")
        server = subprocess.Popen(
            [
                gunicorn,
                "hiprecorder.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                str(args.parallel),
                "--timeout",
                "600",
            ],
            cwd=app,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pid = worker_pid(server.pid)
        phone = Phone(port, demo["pbx_key"])
        for _ in range(100):
            try:
                phone.send("GET", "/healthz", b"", "text/plain")
                break
            except OSError:
                time.sleep(0.2)
        started = vm(pid, "VmHWM")
        print(
            f"gunicorn worker {pid} ({args.parallel} threads): "
            f"after start-up and /healthz: VmHWM {started / 1024:.1f} MB"
        )
        if args.surface == "all":
            sign_in_and_open_portal(port, person["username"], person["password"])
        run = uuid.uuid4().hex[:8]  # call ids are new in a database that earlier runs used
        phone.call(f"warm-up-{run}", user, 5)
        phone.upload(f"warm-up-{run}", small, chunked=False)
        baseline = vm(pid, "VmHWM")
        print(
            f"gunicorn worker {pid}: idle after warm-up "
            f"({'portal page signed in, ' if args.surface == 'all' else ''}5 s upload): "
            f"VmHWM {baseline / 1024:.1f} MB"
        )

        worst = 0.0  # growth per upload in flight, MB
        for name, chunked in (("Content-Length", False), ("chunked", True)):
            call_id = f"long-{name}-{run}"
            phone.call(call_id, user, int(args.minutes * 60))
            _, seconds = phone.upload(call_id, wav, chunked=chunked)
            peak = vm(pid, "VmHWM")
            worst = max(worst, (peak - baseline) / 1024)
            print(
                f"{args.minutes:g}-minute upload ({name}): {wav.stat().st_size / 1e6 / seconds:.0f} MB/s, "
                f"VmHWM {peak / 1024:.1f} MB (+{(peak - baseline) / 1024:.1f} MB over idle), "
                f"VmRSS now {vm(pid, 'VmRSS') / 1024:.1f} MB"
            )
        if args.parallel > 1:
            ids = [f"long-parallel-{n}-{run}" for n in range(args.parallel)]
            for call_id in ids:
                phone.call(call_id, user, int(args.minutes * 60))
            errors: list[BaseException] = []

            def upload(call_id: str) -> None:
                try:
                    phone.upload(call_id, wav, chunked=False)
                except BaseException as exc:  # reported below, after every upload ended
                    errors.append(exc)

            began = time.perf_counter()
            threads = [threading.Thread(target=upload, args=(call_id,)) for call_id in ids]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
            seconds = time.perf_counter() - began
            peak = vm(pid, "VmHWM")
            worst = max(worst, (peak - baseline) / 1024 / args.parallel)
            print(
                f"{args.parallel} {args.minutes:g}-minute uploads at once: "
                f"{args.parallel * wav.stat().st_size / 1e6 / seconds:.0f} MB/s in all, "
                f"VmHWM {peak / 1024:.1f} MB (+{(peak - baseline) / 1024:.1f} MB over idle, "
                f"{(peak - baseline) / 1024 / args.parallel:.1f} MB per upload)"
            )
        growth_ok = worst <= args.growth_mb
        print(
            f"target: at most {args.growth_mb:g} MB of growth per upload in flight (worst "
            f"{worst:.1f} MB): {'met' if growth_ok else 'MISSED'}"
        )
        print(
            f"idle size {baseline / 1024:.1f} MB (aim: under {args.idle_aim_mb:g} MB): "
            f"{'met' if baseline / 1024 < args.idle_aim_mb else 'not met'}"
        )
        return 0 if growth_ok else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep_dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
