"""Peak memory of the web process while the phone system uploads a 2-hour call.

Runs a real gunicorn (one sync worker, the embedded default: SQLite, files on disk, no Celery
worker, so processing does not run in this process) in a scratch DATA_DIR, then:

1. baseline: after start-up and a warm-up (a user signs in through the log-in form and opens
   the portal's recordings page, then a short call with a 5 s upload, so Django, the templates,
   PyAV, Celery's sending side and the views are loaded), the worker's peak RSS (VmHWM in
   /proc/<pid>/status);
2. a 2-hour 8 kHz mono 16-bit WAV (~115 MB), streamed from disk with a Content-Length;
3. the same file again on a new call, with ``Transfer-Encoding: chunked`` (no Content-Length);

and prints the worker's VmHWM after each, with the growth over the baseline. Targets: the growth
over idle stays under 16 MB (the body, 115 MB, is never held: 64 KiB chunks go to a temporary
file; exit status 1 when missed), and the absolute peak under 100 MB (reported).

    python bench/bench_upload_memory.py [--minutes 120] [--surface all|telephony] [--threads N]
                                        [--app-dir DIR] [--keep-dir DIR]

``--surface telephony`` serves only the telephony interface (``HIPRECORDER_SURFACE=telephony``, the
process the phone system's uploads go to in a deployment that splits them off): no portal, so the
warm-up is /healthz and the short call only.

``--threads 4`` runs gunicorn's threaded worker as the Procfile does (one process is measured
either way; the uploads are sequential). ``--app-dir`` serves another checkout of the project
(e.g. ``git archive`` of an older commit) with this same measurement: a before/after baseline.
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
import time
import urllib.parse
import urllib.request
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
    parser.add_argument("--limit-mb", type=float, default=100, help="absolute peak (reported)")
    parser.add_argument("--growth-mb", type=float, default=16, help="peak over idle (the target)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn --threads (Procfile: 4)")
    parser.add_argument("--surface", choices=("all", "telephony"), default="all", help="HIPRECORDER_SURFACE")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout gunicorn serves")
    parser.add_argument("--keep-dir")
    args = parser.parse_args()

    from recordings import audio

    app = args.app_dir.resolve()
    print(f"serving {app} (commit {commit_of(app)}), surface {args.surface}")

    folder = Path(args.keep_dir or tempfile.mkdtemp(prefix="bench-upload-"))
    folder.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "AWS_", "REDIS_URL"))
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
                str(args.threads),
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
            f"gunicorn worker {pid} ({'sync' if args.threads == 1 else f'{args.threads} threads'}): "
            f"after start-up and /healthz: VmHWM {started / 1024:.1f} MB"
        )
        if args.surface == "all":
            sign_in_and_open_portal(port, person["username"], person["password"])
        phone.call("warm-up", user, 5)
        phone.upload("warm-up", small, chunked=False)
        baseline = vm(pid, "VmHWM")
        print(
            f"gunicorn worker {pid}: idle after warm-up "
            f"({'portal page signed in, ' if args.surface == 'all' else ''}5 s upload): "
            f"VmHWM {baseline / 1024:.1f} MB"
        )

        peak = baseline
        for name, chunked in (("Content-Length", False), ("chunked", True)):
            call_id = f"long-{name}"
            phone.call(call_id, user, int(args.minutes * 60))
            _, seconds = phone.upload(call_id, wav, chunked=chunked)
            peak = vm(pid, "VmHWM")
            print(
                f"{args.minutes:g}-minute upload ({name}): {wav.stat().st_size / 1e6 / seconds:.0f} MB/s, "
                f"VmHWM {peak / 1024:.1f} MB (+{(peak - baseline) / 1024:.1f} MB over idle), "
                f"VmRSS now {vm(pid, 'VmRSS') / 1024:.1f} MB"
            )
        growth_ok = (peak - baseline) / 1024 < args.growth_mb
        absolute_ok = peak / 1024 < args.limit_mb
        print(
            f"target: growth over idle under {args.growth_mb:g} MB (the body is never held): "
            f"{'met' if growth_ok else 'MISSED'}"
        )
        print(
            f"absolute peak under {args.limit_mb:g} MB: {'met' if absolute_ok else 'missed'}"
            f" (idle baseline {baseline / 1024:.1f} MB)"
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
