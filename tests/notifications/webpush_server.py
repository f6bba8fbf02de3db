"""A loopback Web Push service (RFC 8030) that checks what a real one checks, and more.

Each request to ``/push/<id>`` must carry a VAPID ``Authorization`` (RFC 8292: ``vapid t=<JWT>,
k=<public key>``, or the older ``WebPush <JWT>`` with ``Crypto-Key: p256ecdsa=...``) whose ES256
signature verifies against that public key, with ``aud`` this server's origin, a future ``exp``
at most 24 hours away and a ``mailto:``/``https:`` ``sub``; and an ``aes128gcm`` body (RFC 8188)
that this server decrypts with the subscription's private key and auth secret (RFC 8291), written
here with the primitives of ``cryptography``, independent of the sender's library.

:meth:`WebPushServer.subscription` makes a browser's subscription (its keys kept here); answers
per subscription are scripted with :meth:`WebPushServer.script` (HTTP statuses, then 201).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64e(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


class Rejected(Exception):
    pass


@dataclass
class Subscriber:
    """A browser's side of a subscription: its ECDH key pair and auth secret."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def as_json(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives the page."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64e(_point(self.private_key.public_key())), "auth": b64e(self.auth)},
        }

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 section 3.4 / RFC 8188: one record, the last (delimiter 0x02)."""
        if len(body) < 21:
            raise Rejected("body shorter than the aes128gcm header")
        salt, rs, idlen = body[:16], struct.unpack(">I", body[16:20])[0], body[20]
        keyid, ciphertext = body[21 : 21 + idlen], body[21 + idlen :]
        if idlen != 65 or rs < 18 or len(ciphertext) > rs:
            raise Rejected("bad aes128gcm header")
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), keyid)
        secret = self.private_key.exchange(ec.ECDH(), sender)
        ua_public = _point(self.private_key.public_key())
        ikm = _hkdf(self.auth, secret, b"WebPush: info\x00" + ua_public + keyid, 32)
        cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        try:
            padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
        except InvalidTag as exc:
            raise Rejected("payload does not decrypt with the subscription's keys") from exc
        end = len(padded.rstrip(b"\x00"))
        if end == 0 or padded[end - 1] != 2:
            raise Rejected("no last-record delimiter")
        return padded[: end - 1]


@dataclass
class Received:
    at: float
    subscriber: str
    status: int
    headers: dict[str, str]
    claims: dict[str, Any]
    vapid_key: str
    payload: dict[str, Any]


def verify_vapid(headers: dict[str, str], origin: str) -> tuple[dict[str, Any], str]:
    """Check the VAPID JWT (ES256 against the key the request names); answer claims and key."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("vapid "):
        parts = dict(p.strip().split("=", 1) for p in auth[6:].split(","))
        token, key = parts.get("t", ""), parts.get("k", "")
    elif auth.lower().startswith("webpush "):
        token = auth[8:].strip()
        crypto = dict(p.strip().split("=", 1) for p in headers.get("crypto-key", "").split(";") if "=" in p)
        key = crypto.get("p256ecdsa", "")
    else:
        raise Rejected("no VAPID Authorization header")
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(b64d(head_b64))
        claims = json.loads(b64d(claims_b64))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
        sig = b64d(sig_b64)
    except (ValueError, TypeError) as exc:
        raise Rejected(f"malformed VAPID token: {exc}") from exc
    if header.get("alg") != "ES256" or len(sig) != 64:
        raise Rejected("VAPID token is not ES256")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Rejected("VAPID signature does not verify") from exc
    now = time.time()
    if claims.get("aud") != origin:
        raise Rejected(f"VAPID aud {claims.get('aud')!r} is not {origin!r}")
    if not (now < int(claims.get("exp", 0)) <= now + 24 * 3600):
        raise Rejected("VAPID exp is not within 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
        raise Rejected("VAPID sub is not a mailto: or https: URL")
    return claims, key


@dataclass
class WebPushServer:
    host: str = "127.0.0.1"
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _subscribers: dict[str, Subscriber] = field(default_factory=dict)
    _scripts: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> WebPushServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real push service

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, text = owner._handle(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, at
                )
                self.send_response(status)
                if status == 201:
                    self.send_header("Location", f"{owner.origin}/messages/{next(owner._ids)}")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # a sender's concurrent connections are not refused (the default: 5)

        self._server = Server((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.rejected.clear()
            self._scripts.clear()

    def subscription(self) -> Subscriber:
        sub_id = f"sub-{next(self._ids)}"
        sub = Subscriber(
            sub_id, f"{self.origin}/push/{sub_id}", ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        )
        with self._lock:
            self._subscribers[sub_id] = sub
        return sub

    def script(self, subscriber: Subscriber, *statuses: int) -> None:
        with self._lock:
            self._scripts.setdefault(subscriber.id, []).extend(statuses)

    def to(self, subscriber: Subscriber) -> list[Received]:
        return [r for r in self.received if r.subscriber == subscriber.id and r.status == 201]

    def _handle(self, path: str, headers: dict[str, str], body: bytes, at: float) -> tuple[int, bytes]:
        sub_id = path.removeprefix("/push/")
        sub = self._subscribers.get(sub_id)
        if sub is None:
            return 404, b"no such subscription"
        try:
            claims, key = verify_vapid(headers, self.origin)
            if headers.get("content-encoding") != "aes128gcm":
                raise Rejected(f"content-encoding {headers.get('content-encoding')!r}")
            if "ttl" not in headers:
                raise Rejected("no TTL header")
            payload = json.loads(sub.decrypt(body))
        except (Rejected, ValueError) as exc:
            with self._lock:
                self.rejected.append(str(exc))
            return 400, str(exc).encode()
        with self._lock:
            script = self._scripts.get(sub_id) or []
            status = script.pop(0) if script else 201
            self.received.append(Received(at, sub_id, status, headers, claims, key, payload))
        return status, b""
