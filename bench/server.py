"""The benchmarks' server: gunicorn serving the project over a Unix socket, as production runs it
behind its proxy (``Procfile``: sync workers), in the production configuration
(``HIPRECORDER_PRODUCTION=1``: the proxy's ``X-Forwarded-Proto: https`` is sent with every
request, the session cookie is the production one), and a keep-alive HTTP client for it.

Requests go through the whole stack the way a deployment's do: socket, gunicorn's parser, WSGI,
every middleware, the template or serializer, the response written back. The time measured is
the client's, from sending the request to the last byte of the body.
"""

from __future__ import annotations

import base64
import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("bench.invalid", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def production_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a production process on this machine's services (the caller's
    ``DATABASE_URL``, ``REDIS_URL``/``CELERY_BROKER_URL`` and ``AWS_*`` are kept)."""
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("AUDIT_SEAL_KEY", "bench:" + secrets.token_urlsafe(40))
    if not env.get("VAPID_PRIVATE_KEY"):  # Web Push's key, required in production: a throwaway one
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
        env["VAPID_PRIVATE_KEY"] = base64.urlsafe_b64encode(key).decode().rstrip("=")
    env.update(
        {
            "HIPRECORDER_PRODUCTION": "1",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "bench.invalid,127.0.0.1,testserver",
            "DJANGO_SETTINGS_MODULE": "hiprecorder.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra or {})
    return env


TIMING_WRAPPER = '''
"""The benchmark's timing of the application inside the server process (Server-Timing)."""
import importlib
import time

_module, _name = "APP".split(":")
_app = getattr(importlib.import_module(_module), _name)


def application(environ, start_response):
    started = time.perf_counter()

    def timed_start(status, headers, exc_info=None):
        headers.append(("Server-Timing", "app;dur=%.3f" % ((time.perf_counter() - started) * 1000)))
        return start_response(status, headers, exc_info)

    return _app(environ, timed_start)
'''


class Server:
    """``gunicorn <app>`` on a Unix socket in a scratch folder; stopped by :meth:`stop`."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        app: str = "hiprecorder.wsgi:application",
        workers: int = 2,
        timed: bool = False,
    ) -> None:
        """``timed``: every answer carries ``Server-Timing: app;dur=<ms>``, the time the server
        process spent from receiving the request to starting the answer (the application and
        every middleware; not the socket, gunicorn's parsing or the client), which
        :attr:`Client.server_ms` reads."""
        # Production serves hashed static files from STATIC_ROOT (whitenoise's manifest), built
        # at deploy time: build it as a deployment does.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        self.folder = Path(tempfile.mkdtemp(prefix="bench-server-"))
        if timed:
            (self.folder / "bench_timing.py").write_text(TIMING_WRAPPER.replace("APP", app))
            env = {
                **env,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(self.folder), env.get("PYTHONPATH", ""), str(ROOT)])
                ),
            }
            app = "bench_timing:application"
        self.socket = str(self.folder / "gunicorn.sock")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", app, "-b", f"unix:{self.socket}", "-w", str(workers),
                "--worker-class", "sync", "--log-level", "warning",
            ],
            cwd=ROOT,
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                status, _ = self.client().get("/healthz")
                if status in (200, 503):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def client(self, cookie: str = "", headers: dict[str, str] | None = None) -> Client:
        return Client(self.socket, cookie=cookie, headers=headers)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Client:
    """One keep-alive connection; ``get`` returns (status, body) and ``timed_get`` adds the
    milliseconds from the request to the body's last byte."""

    def __init__(self, path: str, *, cookie: str = "", headers: dict[str, str] | None = None) -> None:
        self.path = path
        self.headers = {"Host": "bench.invalid", "X-Forwarded-Proto": "https", **(headers or {})}
        if cookie:
            self.headers["Cookie"] = cookie
        self.conn = UnixHTTPConnection(path)

    seen_at_first_byte: object = None
    server_ms: float | None = None  # the last answer's Server-Timing (a ``timed`` Server)

    def timed_first_byte(
        self, url: str, headers: dict[str, str] | None = None, *, at_first_byte: Any = None
    ) -> tuple[int, float, float, int]:
        """(status, ms to the body's first byte, ms to its last, body bytes) on a new connection;
        ``at_first_byte()`` is called once the first byte is in, its result kept in
        ``seen_at_first_byte`` (e.g. whether a row the server writes is there yet)."""
        conn = UnixHTTPConnection(self.path)
        try:
            started = time.perf_counter()
            conn.request("GET", url, headers={**self.headers, **(headers or {})})
            response = conn.getresponse()
            first = response.read(1)
            first_ms = (time.perf_counter() - started) * 1000
            if at_first_byte is not None:
                self.seen_at_first_byte = at_first_byte()
            size = len(first)
            while chunk := response.read(1 << 20):
                size += len(chunk)
            return response.status, first_ms, (time.perf_counter() - started) * 1000, size
        finally:
            conn.close()

    def get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        status, body, _ = self.timed_get(url, headers)
        return status, body

    def timed_get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more
            started = time.perf_counter()
            try:
                self.conn.request("GET", url, headers={**self.headers, **(headers or {})})
                response = self.conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = UnixHTTPConnection(self.path)
                if attempt == 2:
                    raise
                continue
            elapsed = (time.perf_counter() - started) * 1000
            timing = response.getheader("Server-Timing", "")
            self.server_ms = float(timing.partition("dur=")[2]) if "dur=" in timing else None
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = UnixHTTPConnection(self.path)
            return response.status, body, elapsed
        raise AssertionError("unreachable")


NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    default_type application/octet-stream;
    upstream app {{ server unix:{upstream}; keepalive 8; }}
    server {{
        listen unix:{dir}/nginx.sock;
        {locations}
        location /_recordings/ {{ internal; alias {recordings}/; }}
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
        }}
    }}
}}
"""


class Proxy:
    """nginx in front of a :class:`Server`, as docs/operations.md deploys it: it passes requests to
    gunicorn and serves the bytes of an ``X-Accel-Redirect`` to ``/_recordings/<key>`` from the
    recordings folder itself (``STREAM_X_ACCEL_PREFIX=/_recordings`` in the server's
    environment). ``files`` maps extra exact paths to files nginx serves directly (a baseline)."""

    def __init__(self, upstream: Server, recordings: str, files: dict[str, str] | None = None) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
        self.folder = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        (self.folder / "tmp").mkdir()
        locations = " ".join(
            f"location = {path} {{ alias {file}; default_type audio/mpeg; }}"
            for path, file in (files or {}).items()
        )
        conf = self.folder / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                # as root, nginx's workers would run as nobody and could not reach the scratch folders
                user="user root;" if os.geteuid() == 0 else "",
                dir=self.folder,
                upstream=upstream.socket,
                recordings=recordings,
                locations=locations,
            )
        )
        self.socket = str(self.folder / "nginx.sock")
        self.process = subprocess.Popen([nginx, "-c", str(conf), "-e", str(self.folder / "error.log")])
        deadline = time.monotonic() + 20
        while not Path(self.socket).exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: {(self.folder / 'error.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def client(self, cookie: str = "", headers: dict[str, str] | None = None) -> Client:
        return Client(self.socket, cookie=cookie, headers=headers)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
