"""Devices and push prompts: every state change.

Sending goes in batches (:func:`send_due_prompts`): a claim takes the due pending prompts nobody
holds (``SKIP LOCKED`` and a lease) and marks each device's delivery ``sending`` before the
requests go out at once; the outcome is recorded per device in one transaction, so a retried task
sends only to the devices that did not get the message yet, and never twice to one.
Unregistered/invalid tokens deactivate their device; transient errors (quota, 5xx) leave the
delivery pending for a retry with backoff.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from hiprecorder.tasks import enqueue
from notifications.models import Device, PushDelivery, PushPrompt
from notifications.push import WEBPUSH, PushBackend, PushMessage, SendResult, send_all
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


# --- sending, in batches ----------------------------------------------------------------------

MAX_RETRIES = 6  # a prompt is tried at most MAX_RETRIES + 1 times; the last gives transient errors up
LEASE_SECONDS = 180  # a claim's lease; the task's hard time limit is shorter, so a live claim never lapses


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with jitter: about 5 s, 10 s, 20 s, … capped at 10 minutes."""
    base = min(600.0, 5.0 * 2.0**retries)
    return base / 2 + random.uniform(0, base / 2)  # noqa: S311 (jitter, not security)


@dataclass
class SendOutcome:
    """What one batch did: the prompts it claimed, messages sent and failed, and the prompts left
    pending after a transient error (``retry``), the first of them due in ``retry_in`` seconds."""

    claimed: list[uuid.UUID] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    retry: list[uuid.UUID] = field(default_factory=list)
    retry_in: float = 0.0


@dataclass
class _Claim:
    prompts: list[PushPrompt]
    deliveries: list[PushDelivery]  # the ones being sent, in the order of ``messages``
    messages: list[PushMessage]
    had_devices: set[uuid.UUID]
    delivered: set[uuid.UUID]  # prompts a device already had (an earlier attempt)


def send_due_prompts(
    *,
    prompt_ids: Iterable[uuid.UUID | str] = (),
    only_these: bool = False,
    limit: int | None = None,
    backend: PushBackend | None = None,
) -> SendOutcome:
    """Claim a batch of due prompts and send each to its user's active devices that did not get it.

    Runs inside the active tenant scope. The batch: ``prompt_ids`` (due or not: a task's retry)
    and the other due pending prompts of the tenant, oldest first, up to ``limit``
    (``settings.PUSH_BATCH_SIZE``)
    (``only_these``: just ``prompt_ids``). Prompts another worker holds are skipped
    (``SKIP LOCKED`` and the lease), answered ones are not pending, deleted recordings took their
    prompts with them. Three steps: the claim commits (each delivery ``sending``, with a fresh
    single-use action token for a browser), the requests go out at once, the outcome is recorded
    in one transaction (transient errors: back to pending, the prompt due after a backoff; dead
    tokens: their devices deactivated). A delivery is sent at most once: a worker that dies while
    sending leaves its deliveries ``sending``, and the next claim after the lease fails them.
    """
    claim = _claim(
        [str(i) for i in prompt_ids], only_these=only_these, limit=limit or settings.PUSH_BATCH_SIZE
    )
    if claim is None:
        return SendOutcome()
    results = send_all(claim.messages, backend) if claim.messages else []
    return _record(claim, results)


def _claim(ids: list[str], *, only_these: bool, limit: int) -> _Claim | None:
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    wanted = Q(pk__in=ids) if only_these else Q(pk__in=ids) | due
    live = Q(recording__isnull=True) | Q(recording__deleted_at__isnull=True, recording__saved=False)
    with transaction.atomic():
        prompts = list(
            PushPrompt.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(free, wanted, live, status=PushPrompt.Status.PENDING)
            .order_by("ready_at")[:limit]
        )
        if not prompts:
            return None
        by_id = {p.pk: p for p in prompts}
        PushPrompt.objects.filter(pk__in=by_id).update(
            attempts=F("attempts") + 1, claimed_until=now + timedelta(seconds=LEASE_SECONDS)
        )
        devices: dict[Any, list[Device]] = defaultdict(list)
        for device in Device.objects.filter(user_id__in={p.user_id for p in prompts}, active=True):
            devices[device.user_id].append(device)
        PushDelivery.objects.bulk_create(
            [
                PushDelivery(tenant_id=p.tenant_id, prompt=p, device=d)
                for p in prompts
                for d in devices[p.user_id]
            ],
            ignore_conflicts=True,
        )
        pending: list[PushDelivery] = []
        interrupted: list[PushDelivery] = []
        delivered: set[uuid.UUID] = set()
        for d in PushDelivery.objects.filter(prompt__in=prompts).select_related("device"):
            if d.status == PushDelivery.Status.PENDING and d.device.active:
                pending.append(d)
            elif d.status == PushDelivery.Status.SENDING:
                interrupted.append(d)
            elif d.status == PushDelivery.Status.SENT:
                delivered.add(d.prompt_id)
        if interrupted:  # a worker died while sending these (its lease is over): maybe sent, so never again
            PushDelivery.objects.filter(pk__in=[d.pk for d in interrupted]).update(
                status=PushDelivery.Status.FAILED, error_code="INTERRUPTED"
            )
            for d in interrupted:
                by_id[d.prompt_id].last_error = "INTERRUPTED: the worker stopped while sending"
        messages = []
        for d in pending:
            prompt = by_id[d.prompt_id]
            category = KEEP_OR_DELETE_CATEGORY if prompt.kind == PushPrompt.Kind.KEEP_OR_DELETE else ""
            # A browser's buttons: a fresh single-use token per attempt (only its hash is kept).
            token = secrets.token_urlsafe(32) if category and d.device.platform == WEBPUSH else ""
            d.status, d.action_token_hash = PushDelivery.Status.SENDING, _token_hash(token) if token else ""
            messages.append(
                PushMessage(
                    token=d.device.token,
                    title=prompt.title,
                    body=prompt.body,
                    data={k: str(v) for k, v in prompt.data.items()},
                    category=category,
                    prompt_id=prompt.pk,
                    device_id=d.device_id,
                    platform=d.device.platform,
                    action_token=token,
                )
            )
        if pending:
            PushDelivery.objects.filter(pk__in=[d.pk for d in pending]).update(
                status=PushDelivery.Status.SENDING, action_token_hash=""
            )
            _set_each(PushDelivery, [d for d in pending if d.action_token_hash], "action_token_hash")
    for prompt in prompts:
        prompt.attempts += 1
    return _Claim(prompts, pending, messages, {p.pk for p in prompts if devices[p.user_id]}, delivered)


def _set_each(model: Any, rows: list[Any], name: str) -> None:
    """One field of each row to its own value, in one statement (``bulk_update`` of one field)."""
    if rows:
        model.objects.bulk_update(rows, [name], batch_size=500)


def _record(claim: _Claim, results: list[SendResult]) -> SendOutcome:
    """The outcome, in one transaction: deliveries and prompts updated by group (few statements
    whatever the batch size); a prompt answered meanwhile keeps its answer."""
    now = timezone.now()
    by_id = {p.pk: p for p in claim.prompts}
    outcome = SendOutcome(claimed=list(by_id))
    retrying: set[uuid.UUID] = set()
    delivered = set(claim.delivered)
    dead: dict[str, list[Any]] = defaultdict(list)
    sent: list[PushDelivery] = []
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)  # (status, error code): deliveries
    for delivery, result in zip(claim.deliveries, results, strict=True):
        prompt = by_id[delivery.prompt_id]
        final = prompt.attempts > MAX_RETRIES
        if result.ok:
            delivery.message_id = result.message_id
            sent.append(delivery)
            delivered.add(prompt.pk)
            outcome.sent += 1
            continue
        prompt.last_error = f"{result.error_code}: {result.detail}"[:200]
        if result.transient and not final:
            groups[(PushDelivery.Status.PENDING, result.error_code)].append(delivery.pk)
            retrying.add(prompt.pk)
        else:
            groups[(PushDelivery.Status.FAILED, result.error_code)].append(delivery.pk)
            outcome.failed += 1
            if result.token_invalid:
                dead[result.error_code.lower()].append(delivery.device_id)
    by_status: dict[str, list[Any]] = defaultdict(list)
    errored = [p for p in claim.prompts if p.last_error or p.pk in retrying]  # (one statement for all)
    for prompt in claim.prompts:
        if prompt.pk in retrying:
            wait = backoff_seconds(prompt.attempts - 1)
            prompt.next_attempt_at = now + timedelta(seconds=wait)
            outcome.retry.append(prompt.pk)
            outcome.retry_in = min(outcome.retry_in or wait, wait)
        elif prompt.pk in delivered:
            by_status[PushPrompt.Status.SENT].append(prompt.pk)
        else:
            by_status[PushPrompt.Status.FAILED].append(prompt.pk)
            if prompt.pk not in claim.had_devices:
                prompt.last_error = "no active device"
                errored.append(prompt)
    with transaction.atomic():
        if sent:
            PushDelivery.objects.filter(pk__in=[d.pk for d in sent]).update(
                status=PushDelivery.Status.SENT, sent_at=now
            )
            _set_each(PushDelivery, sent, "message_id")
        for (status, code), pks in groups.items():
            PushDelivery.objects.filter(pk__in=pks).update(status=status, error_code=code)
        for reason, device_ids in dead.items():
            Device.objects.filter(pk__in=device_ids).update(active=False, deactivated_reason=reason)
        mine = PushPrompt.objects.filter(pk__in=by_id)
        mine.update(claimed_until=None)
        # Only while still pending: answered meanwhile (or deleted with its recording), that stands.
        still_pending = mine.filter(status=PushPrompt.Status.PENDING)
        if errored:
            still_pending.bulk_update(errored, ["last_error", "next_attempt_at"])
        for status, pks in by_status.items():
            changes: dict[str, Any] = {"status": status}
            if status == PushPrompt.Status.SENT:
                changes["sent_at"] = Coalesce(F("sent_at"), now)
            still_pending.filter(pk__in=pks).update(**changes)
    return outcome


def tenants_with_due_prompts() -> list[uuid.UUID]:
    """The tenants with a prompt a claim would take now (cross-tenant: ids only, for the sweep)."""
    now = timezone.now()
    return list(
        PushPrompt.objects.unscoped()
        .filter(status=PushPrompt.Status.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .values_list("tenant_id", flat=True)
        .distinct()
        .order_by()
    )
