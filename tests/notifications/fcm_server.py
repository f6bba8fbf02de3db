"""A loopback HTTP server speaking the FCM v1 protocol, and Google's OAuth token endpoint.

There is no FCM emulator. The real firebase-admin client is pointed at this server: its service
account's ``token_uri`` is ``http://127.0.0.1:PORT/token`` (so the credential's real refresh runs)
and ``settings.FCM_SEND_URL`` is ``http://127.0.0.1:PORT/v1/projects/{0}/messages:send``.

Answers per registration token are scripted with :meth:`FcmServer.script`: each send to that
token takes the next answer ("ok", an FCM error code like "UNREGISTERED", or an HTTP status like
502), then "ok" when the script is used up. Every request is recorded with the time it arrived.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# FCM error code → (HTTP status, google.rpc status)
ERRORS: dict[str, tuple[int, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED"),
    "UNAVAILABLE": (502, "UNAVAILABLE"),  # 502: the client's own urllib3 retries only 500/503
    "INTERNAL": (504, "INTERNAL"),
}


@dataclass
class Received:
    at: float  # time.time() when the request arrived
    token: str
    message: dict[str, Any]


@dataclass
class FcmServer:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    token_requests: int = 0
    scripts: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def send_url(self) -> str:
        return self.base + "/v1/projects/{0}/messages:send"

    def script(self, token: str, *answers: str) -> None:
        with self._lock:
            self.scripts[token] = list(answers)

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.scripts.clear()

    def sent_to(self, token: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.token == token]

    def _answer(self, token: str) -> str:
        with self._lock:
            queue = self.scripts.get(token)
            return queue.pop(0) if queue else "ok"

    def start(self) -> FcmServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as real HTTP servers set: the reply goes out in two writes (headers,
            # body), and with Nagle's algorithm the body waited for the client's delayed ACK of
            # the headers, ~40 ms per message on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/token":  # OAuth2 JWT-bearer grant of the service account
                    with server._lock:
                        server.token_requests += 1
                    self._reply(
                        200, {"access_token": "loopback-token", "expires_in": 3600, "token_type": "Bearer"}
                    )
                    return
                parts = self.path.split("/")
                if not (len(parts) == 5 and parts[1] == "v1" and parts[4] == "messages:send"):
                    self._reply(
                        404, {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}}
                    )
                    return
                if self.headers.get("Authorization") != "Bearer loopback-token":
                    self._reply(
                        401, {"error": {"code": 401, "message": "no auth", "status": "UNAUTHENTICATED"}}
                    )
                    return
                message = json.loads(raw)["message"]
                token = message.get("token") or message.get("fid") or ""
                with server._lock:
                    server.received.append(Received(time.time(), token, message))
                answer = server._answer(token)
                if answer == "ok":
                    self._reply(200, {"name": f"projects/{parts[3]}/messages/{next(server._ids)}"})
                    return
                status, rpc = ERRORS[answer]
                self._reply(
                    status,
                    {
                        "error": {
                            "code": status,
                            "message": f"loopback: {answer}",
                            "status": rpc,
                            "details": [
                                {
                                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                    "errorCode": answer,
                                }
                            ],
                        }
                    },
                )

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # send_each opens up to 500 connections at once

        self._httpd = Server(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


def write_service_account(path: Path, *, token_uri: str, project_id: str = "hiprecorder-loopback") -> Path:
    """A service-account JSON with a fresh RSA key whose token endpoint is ``token_uri``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project_id,
                "private_key_id": "loopback",
                "private_key": pem,
                "client_email": f"push@{project_id}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path
