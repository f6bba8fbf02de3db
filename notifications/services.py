"""Devices and push prompts: every state change.

Sending is idempotent: :func:`send_prompt` sends only while the prompt is ``pending``, holds the
prompt's row lock while it sends, and records each device's delivery, so a retried task sends only
to the devices that did not get the message yet. Per-device answers are handled one by one:
unregistered/invalid tokens deactivate their device; transient errors (quota, 5xx) leave the
delivery pending for the task's retry with backoff.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hiprecorder.tasks import enqueue
from notifications.models import Device, PushDelivery, PushPrompt
from notifications.push import WEBPUSH, PushBackend, PushMessage, send_all
from recordings.models import Recording
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from tenants.models import User

KEEP_OR_DELETE_CATEGORY = "KEEP_OR_DELETE"

# The prompt's words in the user's language (the phone shows them as they are; the app's
# keep/delete buttons come from the notification category).
TEXTS = {
    "nl": {
        "keep_title": "Gesprek bewaren?",
        "keep_body": "Gesprek met {caller} ({duration}). Bewaren of verwijderen?",
        "anonymous": "anoniem nummer",
        "quota_title": "Opslag bijna vol",
        "quota_body": "Uw bewaarde gesprekken gebruiken {used} van {quota} minuten. "
        "Bij meer worden de oudste verwijderd.",
        "keep": "Bewaren",
        "delete": "Verwijderen",
    },
    "en": {
        "keep_title": "Keep this call?",
        "keep_body": "Call with {caller} ({duration}). Keep or delete?",
        "anonymous": "anonymous number",
        "quota_title": "Storage almost full",
        "quota_body": "Your saved calls use {used} of {quota} minutes. Beyond that the oldest are deleted.",
        "keep": "Keep",
        "delete": "Delete",
    },
}


def language_of(user: User) -> str:
    lang = user.language or (user.tenant.language if user.tenant is not None else "nl")
    return lang if lang in TEXTS else "en"


def _duration(ms: int) -> str:
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- devices ----------------------------------------------------------------------------------


def register_device(
    *, user: User, token: str, platform: str, app_version: str = "", acting_user: User | None = None
) -> Device:
    """Register (or refresh) a phone's push token for ``user``.

    A token identifies one app install: registered again by another user (someone else signed in
    on that phone), it moves to that user, so the previous user's prompts stop reaching it.
    """
    token = (token or "").strip()
    if not token:
        raise ValidationError({"token": _("The push token is missing.")})
    if len(token) > 4096 or any(c.isspace() for c in token):
        raise ValidationError({"token": _("This is not a push token.")})
    if platform not in Device.Platform.values or platform == WEBPUSH:
        raise ValidationError(
            {"platform": _("Platform must be one of: %s.") % ", ".join(Device.Platform.values)}
        )
    return _register(
        user=user, token=token, digest=_token_hash(token), platform=platform, app_version=app_version
    )


def _register(*, user: User, token: str, digest: str, platform: str, app_version: str) -> Device:
    if user.tenant_id is None:
        raise ValidationError(_("Support staff have no devices."))
    with transaction.atomic(), service_scope(user.tenant_id):
        # The one cross-tenant read here: a token is globally unique, whoever held it before.
        previous: Device | None = (
            Device.objects.unscoped().select_for_update().filter(token_hash=digest).first()
        )
        if previous is not None and previous.user_id != user.pk:
            previous.delete()
            previous = None
        if previous is None:
            return Device.objects.create(
                user=user, token=token, token_hash=digest, platform=platform, app_version=app_version[:40]
            )
        previous.token, previous.platform, previous.app_version = token, platform, app_version[:40]
        previous.active, previous.deactivated_reason = True, ""
        previous.save()
        return previous


def _b64url(value: Any, *, length: int, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise ValidationError({field: _("This browser subscription is missing its keys.")})
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != length:
        raise ValidationError({field: _("This browser subscription's keys are not valid.")})
    return raw


def _check_endpoint(endpoint: Any) -> str:
    """The push service's URL: https on a known push service (settings.WEBPUSH_ALLOWED_HOSTS),
    so a subscription cannot make the server post to an address of the caller's choosing."""
    if not isinstance(endpoint, str) or len(endpoint) > 1024:
        raise ValidationError({"endpoint": _("This is not a push subscription.")})
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    allowed = any(host == h or host.endswith("." + h) for h in settings.WEBPUSH_ALLOWED_HOSTS)
    loopback = parts.scheme == "http" and host in settings.WEBPUSH_INSECURE_HOSTS
    if not allowed or (parts.scheme != "https" and not loopback) or parts.username or parts.password:
        raise ValidationError({"endpoint": _("This browser's push service is not supported.")})
    return endpoint


def register_web_subscription(
    *, user: User, subscription: Any, acting_user: User | None = None, user_agent: str = ""
) -> Device:
    """Register (or refresh) a browser's Web Push subscription (``PushSubscription.toJSON()``:
    endpoint and the p256dh/auth keys) as a device of platform ``webpush``. The endpoint is the
    device's identity; renewed keys for the same endpoint update it."""
    if not isinstance(subscription, dict):
        raise ValidationError(_("This is not a push subscription."))
    endpoint = _check_endpoint(subscription.get("endpoint"))
    keys = subscription.get("keys")
    keys = keys if isinstance(keys, dict) else {}
    p256dh = _b64url(keys.get("p256dh"), length=65, field="p256dh")
    if p256dh[0] != 4:
        raise ValidationError({"p256dh": _("This browser subscription's keys are not valid.")})
    _b64url(keys.get("auth"), length=16, field="auth")
    token = json.dumps(
        {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}},
        separators=(",", ":"),
    )
    return _register(
        user=user, token=token, digest=_token_hash(endpoint), platform=WEBPUSH, app_version=user_agent[:40]
    )


def web_device_of(*, user: User, endpoint: str) -> Device | None:
    """The user's browser device of this push endpoint, if any."""
    return Device.objects.filter(user=user, platform=WEBPUSH, token_hash=_token_hash(endpoint)).first()


def deactivate_device(*, device: Device, reason: str, acting_user: User | None = None) -> Device:
    """Stop sending to this device (FCM said the token is dead, or the user signed out)."""
    with service_scope(device.tenant_id):
        Device.objects.filter(pk=device.pk).update(active=False, deactivated_reason=reason[:40])
        device.refresh_from_db()
    return device


# --- prompts ----------------------------------------------------------------------------------


def prompt_keep_or_delete(*, recording: Recording, ready_at: datetime | None = None) -> PushPrompt:
    """Create the keep-or-delete prompt of a ready, unsaved playback and send it after commit.
    A second call for the same recording returns the existing prompt."""
    user = recording.owner
    assert user is not None
    texts = TEXTS[language_of(user)]
    number = recording.remote_number
    caller = texts["anonymous"] if not number or number == "anonymous" else number
    with transaction.atomic(), service_scope(recording.tenant_id):
        existing = PushPrompt.objects.filter(recording=recording, kind=PushPrompt.Kind.KEEP_OR_DELETE).first()
        if existing is not None:
            return existing
        Recording.objects.select_for_update().filter(pk=recording.pk).exists()  # serialise prompt creation
        prompt = PushPrompt.objects.create(
            user=user,
            recording=recording,
            kind=PushPrompt.Kind.KEEP_OR_DELETE,
            title=texts["keep_title"],
            body=texts["keep_body"].format(caller=caller, duration=_duration(recording.duration_ms)),
            data={
                "type": "keep_or_delete",
                "recording_id": str(recording.pk),
                "caller": number or "anonymous",
                "duration_ms": str(recording.duration_ms),
                "started_at": recording.started_at.isoformat(),
                "actions": "keep,delete",
                "keep_label": texts["keep"],
                "delete_label": texts["delete"],
            },
            ready_at=ready_at or timezone.now(),
        )
        _enqueue_send(prompt)
    return prompt


def warn_quota(*, user: User, used_ms: int, quota_ms: int) -> PushPrompt:
    """Tell the user their saved playbacks passed 90 % of the quota (the caller decides when)."""
    texts = TEXTS[language_of(user)]
    used, quota = used_ms // 60_000, quota_ms // 60_000
    with transaction.atomic(), service_scope(user.tenant_id):
        prompt = PushPrompt.objects.create(
            user=user,
            kind=PushPrompt.Kind.QUOTA_WARNING,
            title=texts["quota_title"],
            body=texts["quota_body"].format(used=f"{used:,}", quota=f"{quota:,}"),
            data={"type": "quota_warning", "used_minutes": str(used), "quota_minutes": str(quota)},
            ready_at=timezone.now(),
        )
        _enqueue_send(prompt)
    return prompt


def _enqueue_send(prompt: PushPrompt) -> None:
    enqueue("notifications.send_prompt", str(prompt.tenant_id), str(prompt.pk))


@dataclass
class SendOutcome:
    prompt: PushPrompt | None
    sent: int = 0
    failed: int = 0
    retry: bool = False


def send_prompt(
    *, prompt_id: uuid.UUID | str, backend: PushBackend | None = None, final_attempt: bool = False
) -> SendOutcome:
    """Send a pending prompt to each of its user's active devices that has not had it yet.

    Runs inside the active tenant scope. ``retry`` in the outcome: some deliveries hit a transient
    error and stay pending. ``final_attempt``: give those up (failed) instead.
    """
    now = timezone.now()
    with transaction.atomic():
        prompt = PushPrompt.objects.select_for_update().filter(pk=prompt_id).first()
        if prompt is None or prompt.status != PushPrompt.Status.PENDING:
            return SendOutcome(prompt=prompt)  # answered, sent, failed, or deleted with its recording
        prompt.attempts += 1
        devices = list(Device.objects.filter(user_id=prompt.user_id, active=True))
        PushDelivery.objects.bulk_create(
            [PushDelivery(tenant_id=prompt.tenant_id, prompt=prompt, device=d) for d in devices],
            ignore_conflicts=True,
        )
        pending = list(
            PushDelivery.objects.filter(
                prompt=prompt, status=PushDelivery.Status.PENDING, device__active=True
            ).select_related("device")
        )
        category = KEEP_OR_DELETE_CATEGORY if prompt.kind == PushPrompt.Kind.KEEP_OR_DELETE else ""
        action_tokens = {
            d.pk: secrets.token_urlsafe(32) for d in pending if category and d.device.platform == WEBPUSH
        }
        for d in pending:  # a browser's buttons: a fresh single-use token per attempt (hash kept)
            if d.pk in action_tokens:
                d.action_token_hash = _token_hash(action_tokens[d.pk])
        messages = [
            PushMessage(
                token=d.device.token,
                title=prompt.title,
                body=prompt.body,
                data={k: str(v) for k, v in prompt.data.items()},
                category=category,
                prompt_id=prompt.pk,
                device_id=d.device_id,
                platform=d.device.platform,
                action_token=action_tokens.get(d.pk, ""),
            )
            for d in pending
        ]
        outcome = SendOutcome(prompt=prompt)
        results = send_all(messages, backend) if messages else []
        for delivery, result in zip(pending, results, strict=True):
            if result.ok:
                delivery.status, delivery.message_id, delivery.sent_at = (
                    PushDelivery.Status.SENT,
                    result.message_id,
                    now,
                )
                outcome.sent += 1
            elif result.transient and not final_attempt:
                delivery.error_code = result.error_code
                outcome.retry = True
                prompt.last_error = f"{result.error_code}: {result.detail}"[:200]
            else:
                delivery.status, delivery.error_code = PushDelivery.Status.FAILED, result.error_code
                outcome.failed += 1
                prompt.last_error = f"{result.error_code}: {result.detail}"[:200]
                if result.token_invalid:
                    Device.objects.filter(pk=delivery.device_id).update(
                        active=False, deactivated_reason=result.error_code.lower()
                    )
        PushDelivery.objects.bulk_update(
            pending, ["status", "message_id", "sent_at", "error_code", "action_token_hash"]
        )
        if not outcome.retry:
            delivered = PushDelivery.objects.filter(prompt=prompt, status=PushDelivery.Status.SENT).exists()
            prompt.status = PushPrompt.Status.SENT if delivered else PushPrompt.Status.FAILED
            if delivered:
                prompt.sent_at = prompt.sent_at or now
            elif not devices:
                prompt.last_error = "no active device"
        prompt.save(update_fields=["status", "attempts", "last_error", "sent_at"])
    return outcome
