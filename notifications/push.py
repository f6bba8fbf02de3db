"""Push backends: the only module that imports ``firebase_admin``.

A backend takes :class:`PushMessage` s and answers one :class:`SendResult` per message, in order.
Per-device errors are results, not exceptions; a call that failed as a whole answers a transient
error for each of its messages (so messages already sent in the same call are not sent again).

- :class:`FcmBackend`: Firebase Cloud Messaging v1 through firebase-admin, with the service
  account in ``settings.FIREBASE_CREDENTIALS_FILE`` (``settings.FCM_SEND_URL`` points it at a
  loopback FCM server for tests and benchmarks).
- :class:`OutboxBackend`: no FCM configured (the demo): stores each message as an
  :class:`notifications.models.OutboxMessage` that the portal shows.
- :class:`WebPushBackend`: browsers (devices of platform ``webpush``), always: Web Push with
  VAPID and an aes128gcm payload through ``pywebpush``, straight to each subscription's push
  service. :func:`send_all` hands each message to the backend of its device's platform.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.urls import reverse

from notifications.models import OutboxMessage
from tenants.scoping import active_tenant_id

if TYPE_CHECKING:  # imported where used: only the Celery worker sends (the web process stays small)
    import requests
    from py_vapid import Vapid02

MAX_BATCH = 500  # FCM's limit per send_each call

# FCM error codes (FcmError.errorCode / google.rpc status) after which the token is useless.
TOKEN_ERRORS = {"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"}
# Worth sending again later.
TRANSIENT_ERRORS = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"}


@dataclass(frozen=True)
class PushMessage:
    token: str
    title: str
    body: str
    data: dict[str, str]
    category: str = ""  # the app's notification category: its action buttons (keep/delete)
    prompt_id: Any = None
    device_id: Any = None
    platform: str = ""
    action_token: str = ""  # browsers: the single-use token of the notification's buttons


@dataclass(frozen=True)
class SendResult:
    ok: bool
    message_id: str = ""
    error_code: str = ""
    detail: str = ""

    @property
    def token_invalid(self) -> bool:
        return not self.ok and self.error_code in TOKEN_ERRORS

    @property
    def transient(self) -> bool:
        return not self.ok and self.error_code in TRANSIENT_ERRORS


class PushBackend(Protocol):
    name: str

    def send(self, messages: list[PushMessage]) -> list[SendResult]: ...


def fcm_message_dict(message: PushMessage) -> dict[str, Any]:
    """The FCM v1 ``message`` object (what the outbox stores and FCM receives)."""
    out: dict[str, Any] = {
        "token": message.token,
        "notification": {"title": message.title, "body": message.body},
        "data": dict(message.data),
    }
    if message.category:
        out["android"] = {"priority": "high", "notification": {"click_action": message.category}}
        out["apns"] = {"payload": {"aps": {"category": message.category}}}
    return out


@dataclass
class OutboxBackend:
    """Stores messages for the portal's outbox page instead of sending them."""

    name: str = "outbox"

    def send(self, messages: list[PushMessage]) -> list[SendResult]:
        rows = [
            OutboxMessage(prompt_id=m.prompt_id, device_id=m.device_id, payload=fcm_message_dict(m))
            for m in messages
        ]
        for row in rows:
            row.tenant_id = _active_tenant()
        OutboxMessage.objects.bulk_create(rows)
        return [SendResult(ok=True, message_id=f"outbox/{row.pk}") for row in rows]


def _active_tenant() -> Any:
    return active_tenant_id()


_app_lock = threading.Lock()


@dataclass
class FcmBackend:
    """Firebase Cloud Messaging v1 through the firebase-admin SDK."""

    app: Any = None
    name: str = "fcm"
    _service_ready: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.app is None:
            self.app = _default_app()

    def _messaging(self) -> Any:
        from firebase_admin import messaging

        if settings.FCM_SEND_URL and not self._service_ready:
            # Point this app's messaging service at the loopback FCM server (tests, benchmarks).
            service = messaging._get_messaging_service(self.app)
            service._fcm_url = settings.FCM_SEND_URL.format(self.app.project_id)
            self._service_ready = True
        return messaging

    def send(self, messages: list[PushMessage]) -> list[SendResult]:
        from firebase_admin import exceptions

        messaging = self._messaging()
        results: list[SendResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            chunk = messages[start : start + MAX_BATCH]
            fcm = [self._to_fcm(messaging, m) for m in chunk]
            try:
                batch = messaging.send_each(fcm, app=self.app)
            except exceptions.FirebaseError as exc:  # the whole call failed (auth, network): retry
                results += [SendResult(ok=False, error_code="UNAVAILABLE", detail=str(exc)[:200])] * len(
                    chunk
                )
                continue
            for response in batch.responses:
                if response.success:
                    results.append(SendResult(ok=True, message_id=response.message_id or ""))
                else:
                    results.append(_result_of(response.exception))
        return results

    @staticmethod
    def _to_fcm(messaging: Any, m: PushMessage) -> Any:
        android = apns = None
        if m.category:
            android = messaging.AndroidConfig(
                priority="high", notification=messaging.AndroidNotification(click_action=m.category)
            )
            apns = messaging.APNSConfig(payload=messaging.APNSPayload(aps=messaging.Aps(category=m.category)))
        return messaging.Message(
            fid=m.token,
            notification=messaging.Notification(title=m.title, body=m.body),
            data=dict(m.data),
            android=android,
            apns=apns,
        )


def _result_of(exc: Any) -> SendResult:
    from firebase_admin import exceptions, messaging

    detail = str(exc)[:200]
    if isinstance(exc, messaging.UnregisteredError):
        return SendResult(ok=False, error_code="UNREGISTERED", detail=detail)
    if isinstance(exc, messaging.SenderIdMismatchError):
        return SendResult(ok=False, error_code="SENDER_ID_MISMATCH", detail=detail)
    if isinstance(exc, messaging.QuotaExceededError):
        return SendResult(ok=False, error_code="QUOTA_EXCEEDED", detail=detail)
    if isinstance(exc, exceptions.InvalidArgumentError):
        return SendResult(ok=False, error_code="INVALID_ARGUMENT", detail=detail)
    if isinstance(exc, exceptions.UnavailableError):
        return SendResult(ok=False, error_code="UNAVAILABLE", detail=detail)
    if isinstance(exc, exceptions.InternalError):
        return SendResult(ok=False, error_code="INTERNAL", detail=detail)
    if isinstance(exc, exceptions.DeadlineExceededError):
        return SendResult(ok=False, error_code="DEADLINE_EXCEEDED", detail=detail)
    if isinstance(exc, exceptions.UnknownError):
        return SendResult(ok=False, error_code="UNKNOWN", detail=detail)
    code = getattr(exc, "code", "") or type(exc).__name__
    return SendResult(ok=False, error_code=str(code).upper()[:40], detail=detail)


def _default_app() -> Any:
    import firebase_admin
    from firebase_admin import credentials

    with _app_lock:
        try:
            return firebase_admin.get_app("hiprecorder")
        except ValueError:
            cred = credentials.Certificate(settings.FIREBASE_CREDENTIALS_FILE)
            return firebase_admin.initialize_app(cred, name="hiprecorder")


# --- Web Push ---------------------------------------------------------------------------------

WEBPUSH = "webpush"


def web_payload(message: PushMessage) -> dict[str, Any]:
    """What the service worker receives (decrypted): the notification's words, where tapping it
    leads (the recording's player) and, for a keep-or-delete prompt, its two buttons with the
    single-use token they post to the decision URL. Never an audio URL."""
    data = dict(message.data)
    out: dict[str, Any] = {"title": message.title, "body": message.body, "tag": str(message.prompt_id)}
    recording_id = data.get("recording_id")
    out["url"] = reverse("player", args=[recording_id]) if recording_id else reverse("home")
    if message.category and message.action_token:
        out["actions"] = [
            {"action": "keep", "title": data.get("keep_label", "Keep")},
            {"action": "delete", "title": data.get("delete_label", "Delete")},
        ]
        out["action_url"] = reverse("push_action")
        out["action_token"] = message.action_token
    return out


def subscription_of(token: str) -> dict[str, Any]:
    """The stored subscription JSON of a browser device (validated when it was registered)."""
    sub: dict[str, Any] = json.loads(token)
    return sub


def _requests() -> Any:
    import requests

    return requests


_vapid_lock = threading.Lock()
_vapid: Vapid02 | None = None
_vapid_source = ""


def vapid() -> Vapid02:
    """The VAPID key pair of ``settings.VAPID_PRIVATE_KEY`` (PEM or base64url raw key)."""
    from py_vapid import Vapid02

    global _vapid, _vapid_source
    with _vapid_lock:
        if _vapid is None or _vapid_source != settings.VAPID_PRIVATE_KEY:
            key = settings.VAPID_PRIVATE_KEY
            _vapid = Vapid02.from_pem(key.encode()) if key.startswith("-----") else Vapid02.from_string(key)
            _vapid_source = key
        return _vapid


def vapid_public_key() -> str:
    """The application server key a browser subscribes with: the uncompressed P-256 point, base64url."""
    raw = vapid().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _webpush_result(status: int, detail: str) -> SendResult:
    if status in (404, 410):  # the subscription expired or was revoked (RFC 8030 section 7.3)
        return SendResult(ok=False, error_code="UNREGISTERED", detail=detail)
    if status == 403:  # the subscription belongs to another VAPID key: useless to us
        return SendResult(ok=False, error_code="SENDER_ID_MISMATCH", detail=detail)
    if status == 429:
        return SendResult(ok=False, error_code="QUOTA_EXCEEDED", detail=detail)
    if status >= 500:
        return SendResult(ok=False, error_code="UNAVAILABLE", detail=detail)
    return SendResult(ok=False, error_code=f"HTTP_{status}", detail=detail)


def _session() -> requests.Session:
    """One session for all requests: kept-alive connections, as many per push service as requests
    may be in flight at once."""
    requests = _requests()
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=settings.WEBPUSH_CONCURRENCY)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclass
class WebPushBackend:
    """Web Push to each browser's push service (VAPID-signed, payload encrypted aes128gcm); a
    batch's requests go out at once, at most ``settings.WEBPUSH_CONCURRENCY`` in flight."""

    name: str = "webpush"
    session: requests.Session = field(default_factory=_session, repr=False)
    _signed: dict[str, tuple[float, dict[str, str], str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, messages: list[PushMessage]) -> list[SendResult]:
        workers = min(len(messages), settings.WEBPUSH_CONCURRENCY)
        if workers <= 1:
            return [self._send_one(m) for m in messages]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webpush") as pool:
            return list(pool.map(self._send_one, messages))  # results in the messages' order

    def _vapid_headers(self, audience: str) -> dict[str, str]:
        """The VAPID Authorization for one push service, signed once and reused for an hour of
        its 12-hour life (RFC 8292 allows reuse; one ECDSA signature per service, not per push)."""
        now = time.time()
        with self._lock:
            cached = self._signed.get(audience)
            if cached is None or cached[0] - now < 11 * 3600 or cached[2] != settings.VAPID_PRIVATE_KEY:
                claims = {"sub": settings.VAPID_SUBJECT, "aud": audience, "exp": int(now) + 12 * 3600}
                cached = (now + 12 * 3600, dict(vapid().sign(claims)), settings.VAPID_PRIVATE_KEY)
                self._signed[audience] = cached
            return dict(cached[1])

    def _send_one(self, message: PushMessage) -> SendResult:
        from pywebpush import WebPushException, webpush

        sub = subscription_of(message.token)
        endpoint = urlsplit(sub["endpoint"])
        headers = self._vapid_headers(f"{endpoint.scheme}://{endpoint.netloc}")
        headers.update({"Urgency": "high", "Topic": str(message.prompt_id).replace("-", "")[:32]})
        try:
            response = webpush(
                sub,
                data=json.dumps(web_payload(message), separators=(",", ":")),
                content_encoding="aes128gcm",
                ttl=24 * 3600,
                timeout=settings.WEBPUSH_TIMEOUT,
                headers=headers,  # (no vapid_claims: the Authorization above is already signed)
                requests_session=self.session,
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if not status:
                return SendResult(ok=False, error_code="UNAVAILABLE", detail=str(exc)[:200])
            return _webpush_result(status, str(exc).splitlines()[0][:200])
        except _requests().RequestException as exc:  # connection refused, timeout: try again later
            return SendResult(ok=False, error_code="UNAVAILABLE", detail=str(exc)[:200])
        assert not isinstance(response, str)  # not curl
        location = response.headers.get("Location", "")
        return SendResult(ok=True, message_id=location[:200] or f"webpush/{response.status_code}")


_webpush_backend: WebPushBackend | None = None


def get_webpush_backend() -> WebPushBackend:
    global _webpush_backend
    if _webpush_backend is None:
        _webpush_backend = WebPushBackend()
    return _webpush_backend


def send_all(messages: list[PushMessage], backend: PushBackend | None = None) -> list[SendResult]:
    """Send each message through its device's backend (browsers: Web Push; phones: ``backend``,
    by default FCM or the outbox); one result per message, in order."""
    web = [i for i, m in enumerate(messages) if m.platform == WEBPUSH]
    apps = [i for i, m in enumerate(messages) if m.platform != WEBPUSH]
    results: list[SendResult | None] = [None] * len(messages)
    if apps:
        for i, result in zip(apps, (backend or get_backend()).send([messages[i] for i in apps]), strict=True):
            results[i] = result
    if web:
        for i, result in zip(web, get_webpush_backend().send([messages[i] for i in web]), strict=True):
            results[i] = result
    return [r for r in results if r is not None]


_backend: PushBackend | None = None


def get_backend() -> PushBackend:
    """FCM when ``FIREBASE_CREDENTIALS_FILE`` is set, else the outbox."""
    global _backend
    if _backend is None:
        _backend = FcmBackend() if settings.FIREBASE_CREDENTIALS_FILE else OutboxBackend()
    return _backend


def set_backend(backend: PushBackend | None) -> None:
    """Replace the backend (tests and benchmarks); ``None`` re-reads the settings on next use."""
    global _backend
    _backend = backend
