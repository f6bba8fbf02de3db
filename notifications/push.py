"""Push backends: the only module that imports ``firebase_admin``.

A backend takes :class:`PushMessage` s and answers one :class:`SendResult` per message, in order.
Per-device errors are results, not exceptions; a call that failed as a whole answers a transient
error for each of its messages (so messages already sent in the same call are not sent again).

- :class:`FcmBackend`: Firebase Cloud Messaging v1 through firebase-admin, with the service
  account in ``settings.FIREBASE_CREDENTIALS_FILE`` (``settings.FCM_SEND_URL`` points it at a
  loopback FCM server for tests and benchmarks).
- :class:`OutboxBackend`: no FCM configured (the demo): stores each message as an
  :class:`notifications.models.OutboxMessage` that the portal shows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from notifications.models import OutboxMessage
from tenants.scoping import active_tenant_id

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
