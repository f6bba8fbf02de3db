"""The browser notification's "Keep" and "Delete" buttons: deciding from a push action token.

The token (sent only inside the encrypted push payload, only its hash stored on the
:class:`~notifications.models.PushDelivery`) is bound to one prompt and one browser, works once,
and ends with the recording's decision window. The decision itself is the app's and the portal's:
:func:`recordings.lifecycle.keep_recording` / :func:`recordings.lifecycle.delete_recording`, as
the prompt's user. A token reaches nothing else (no page, no audio).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.models import PushDelivery, PushPrompt
from recordings import lifecycle
from recordings.models import Recording
from tenants.scoping import tenant_scope

ANSWERS = ("keep", "delete")


@dataclass
class ActionRefused(Exception):
    """The button's token cannot decide: ``status`` is the HTTP status, ``message`` says why."""

    status: int
    message: str


def delivery_of_token(token: str) -> PushDelivery | None:
    """The delivery whose action token this is (any tenant: the token is the key), or ``None``."""
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return (
        PushDelivery.objects.unscoped()
        .select_related("prompt", "device", "prompt__user")
        .filter(action_token_hash=digest)
        .first()
    )


def decide_from_push(*, token: str, answer: str, now: datetime | None = None) -> Recording:
    """Keep or delete the prompt's recording with the button's token; refused (nothing changed)
    with :class:`ActionRefused` for an unknown, used, expired or out-of-date token."""
    now = now or timezone.now()
    if answer not in ANSWERS:
        raise ActionRefused(400, _("Unknown answer: choose keep or delete."))
    delivery = delivery_of_token(token)
    if delivery is None:
        raise ActionRefused(404, _("This notification button is not valid."))
    prompt, device = delivery.prompt, delivery.device
    with tenant_scope(delivery.tenant_id):
        if delivery.action_used_at is not None:
            raise ActionRefused(409, _("This notification was already answered."))
        if not device.active or device.user_id != prompt.user_id:
            raise ActionRefused(410, _("This browser no longer gets notifications for this account."))
        if prompt.status == PushPrompt.Status.ANSWERED:
            raise ActionRefused(409, _("This call was already answered in another place."))
        recording = Recording.objects.filter(pk=prompt.recording_id).first() if prompt.recording_id else None
        if recording is None or recording.is_deleted:
            raise ActionRefused(410, _("This recording was already deleted."))
        if recording.saved:
            raise ActionRefused(409, _("This call was already kept."))
        if recording.expires_at is not None and recording.expires_at <= now:
            raise ActionRefused(410, _("The time to keep or delete this call has passed."))
        with transaction.atomic():  # claim the token: a replay, even a concurrent one, finds it used
            claimed = PushDelivery.objects.filter(pk=delivery.pk, action_used_at__isnull=True).update(
                action_used_at=now
            )
        if not claimed:
            raise ActionRefused(409, _("This notification was already answered."))
        try:
            if answer == "keep":
                return lifecycle.keep_recording(recording=recording, acting_user=prompt.user, now=now)
            return lifecycle.delete_recording(recording=recording, acting_user=prompt.user, now=now)
        except lifecycle.RecordingGone as gone:
            raise ActionRefused(410, gone.message) from gone
        except (ValidationError, PermissionDenied) as exc:
            # Nothing was decided: the button may be tried again.
            PushDelivery.objects.filter(pk=delivery.pk).update(action_used_at=None)
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise ActionRefused(409, " ".join(messages)) from exc
