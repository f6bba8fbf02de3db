"""Deciding about a playback (keep, delete), the 100,000-minute quota, and the hooks through
which the capture and product changes (tier, subscription, retention) hand recordings to the
lifecycle. The rules themselves are in :mod:`recordings.lifecycle.expiry`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum
from django.db.models.expressions import CombinedExpression
from django.utils import timezone
from django.utils.translation import gettext as _

from hiprecorder.tasks import enqueue
from notifications import services as push
from notifications.models import PushPrompt
from recordings import live, rules
from recordings.lifecycle import expiry
from recordings.lifecycle.deletion import _delete_rows, delete_recording_objects
from recordings.lifecycle.expiry import (
    TIER_DAYS,
    UNSUBSCRIBED_GRACE,
    DeletionReason,
    ExpiryRule,
    RecordingGone,
    expiry_of,
    retention_expiry,
)
from recordings.models import Call, Kind, Recording
from tenants.models import PlaybackSubscription, PlaybackTier
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from tenants.models import Tenant, User


# --- deciding ---------------------------------------------------------------------------------


def _check_decider(recording: Recording, acting_user: User) -> None:
    if recording.kind != Kind.PLAYBACK:
        raise ValidationError(_("Only Playback recordings are kept or deleted by their user."))
    if recording.owner_id is not None and recording.owner_id != acting_user.pk:
        raise PermissionDenied(_("Only the person who made this call can keep or delete it."))


def _gone_message(recording: Recording) -> str:
    when = timezone.localtime(recording.deleted_at).strftime("%Y-%m-%d %H:%M") if recording.deleted_at else ""
    return _("This recording was already deleted (%(when)s).") % {"when": when}


def _lock_live(recording: Recording, now: datetime) -> Recording:
    rec = Recording.objects.select_for_update().get(pk=recording.pk)
    if rec.deleted_at is not None:
        raise RecordingGone(rec, _gone_message(rec))
    return rec


def _answer_prompts(recording: Recording, answer: str, now: datetime) -> None:
    PushPrompt.objects.filter(recording=recording, kind=PushPrompt.Kind.KEEP_OR_DELETE).exclude(
        status=PushPrompt.Status.ANSWERED
    ).update(status=PushPrompt.Status.ANSWERED, answer=answer, answered_at=now)


# The saved playbacks that count against the 100,000-minute quota: those without a due date.
SAVED_PLAYBACK = Q(kind=Kind.PLAYBACK, saved=True, deleted_at__isnull=True)
WITHOUT_DUE_DATE = Q(expires_at__isnull=True)
QUOTA_COUNTED = SAVED_PLAYBACK & WITHOUT_DUE_DATE


def quota_counted() -> QuerySet[Recording]:
    """The recordings :data:`QUOTA_COUNTED` selects (call inside a tenant scope).
    ``saved_usage_ms`` sums one user's; the console's overview sums them per user in one query."""
    return Recording.objects.filter(QUOTA_COUNTED)


def saved_usage_ms(user_id: uuid.UUID, *, exclude: uuid.UUID | None = None) -> int:
    """Milliseconds of the user's saved playbacks that count against the quota (those without a
    due date); the rule's own count, which the API's quota figure shows too."""
    qs = quota_counted().filter(owner_id=user_id)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return int(qs.aggregate(total=Sum("duration_ms"))["total"] or 0)


@dataclass
class _QuotaOutcome:
    evicted: list[uuid.UUID] = field(default_factory=list)
    warn: bool = False
    used_ms: int = 0


def _enforce_quota(
    user_id: uuid.UUID, *, now: datetime, before_ms: int, protect: uuid.UUID | None
) -> _QuotaOutcome:
    """Mark the oldest saved playbacks due now until the user's saved total fits the quota.
    ``before_ms``: the total before this change, for the 90 % warning (once per crossing)."""
    outcome = _QuotaOutcome(used_ms=saved_usage_ms(user_id))
    if outcome.used_ms > expiry.QUOTA_MS:
        candidates = Recording.objects.filter(
            owner_id=user_id,
            kind=Kind.PLAYBACK,
            saved=True,
            deleted_at__isnull=True,
            expires_at__isnull=True,
        )
        if protect is not None:
            candidates = candidates.exclude(pk=protect)
        oldest = candidates.order_by("started_at", "id").values_list("id", "duration_ms")
        for rec_id, duration in oldest.iterator(chunk_size=500):
            if outcome.used_ms <= expiry.QUOTA_MS:
                break
            outcome.evicted.append(rec_id)
            outcome.used_ms -= duration
        Recording.objects.filter(id__in=outcome.evicted).update(expires_at=now, expiry_rule=ExpiryRule.QUOTA)
    threshold = expiry.QUOTA_MS * expiry.QUOTA_WARNING_FRACTION
    outcome.warn = before_ms < threshold <= outcome.used_ms
    return outcome


def _tier_of(user_id: uuid.UUID | None, *, lock: bool = False) -> str | None:
    if user_id is None:  # an owner erased since: no subscription
        return None
    qs = PlaybackSubscription.objects.filter(user_id=user_id)
    if lock:
        qs = qs.select_for_update()
    return qs.values_list("tier", flat=True).first()


def _save(rec: Recording, *, tier: str, now: datetime) -> _QuotaOutcome:
    """Make ``rec`` (locked, live, unsaved playback) saved under ``tier``."""
    owner_id, ended_at = rec.owner_id, rec.ended_at
    if owner_id is None or ended_at is None:  # a live playback has both (erasure tombstones it)
        raise ValidationError(_("This recording cannot be kept."))
    before = saved_usage_ms(owner_id) if tier == PlaybackTier.MINUTES_100K else 0
    rec.saved = True
    rec.saved_at = now
    if tier == PlaybackTier.MINUTES_100K:
        if rec.duration_ms > expiry.QUOTA_MS:
            raise ValidationError(_("This recording alone is longer than the 100,000-minute quota."))
        rec.expires_at, rec.expiry_rule = None, ""
    else:
        rec.expires_at = ended_at + timedelta(days=TIER_DAYS[PlaybackTier(tier)])
        rec.expiry_rule = tier
    rec.save(update_fields=["saved", "saved_at", "expires_at", "expiry_rule"])
    live.recordings_changed([rec])  # its row turns dark blue and leaves "To review"
    if tier != PlaybackTier.MINUTES_100K:
        return _QuotaOutcome()
    return _enforce_quota(owner_id, now=now, before_ms=before, protect=rec.pk)


def _after_quota(user: User, outcome: _QuotaOutcome, now: datetime) -> None:
    """Outside the transaction: delete evicted recordings now and warn at 90 %."""
    if outcome.evicted:
        delete_recording_objects(recordings=outcome.evicted, reason=ExpiryRule.QUOTA, now=now)
    if outcome.warn:
        push.warn_quota(user=user, used_ms=outcome.used_ms, quota_ms=expiry.QUOTA_MS)


def keep_recording(*, recording: Recording, acting_user: User, now: datetime | None = None) -> Recording:
    """The user keeps an unsaved playback: it is saved and the subscription's tier applies.

    Idempotent (keeping a saved one changes nothing). Refused with :class:`RecordingGone` when it
    was already deleted or its 3 days have passed; refused for standard recordings, for anybody
    but its owner, and when the user no longer has a Playback subscription.
    """
    now = now or timezone.now()
    _check_decider(recording, acting_user)
    with transaction.atomic(), service_scope(recording.tenant_id):
        tier = _tier_of(recording.owner_id, lock=True)  # serialises a user's saves (the quota)
        rec = _lock_live(recording, now)
        if rec.saved:
            _answer_prompts(rec, "keep", now)
            return rec
        if rec.expires_at is not None and rec.expires_at <= now:
            raise RecordingGone(rec, _("The time to keep this recording has passed; it is being deleted."))
        if tier is None:
            raise ValidationError(
                _("You no longer have a Playback subscription, so recordings cannot be kept.")
            )
        outcome = _save(rec, tier=tier, now=now)
        _answer_prompts(rec, "keep", now)
    _after_quota(acting_user, outcome, now)
    return rec


def delete_recording(
    *,
    recording: Recording,
    acting_user: User,
    reason: str = DeletionReason.USER_DELETED,
    now: datetime | None = None,
) -> Recording:
    """The user deletes a playback (unsaved or saved): audio and everything derived go at once.

    Deleting an already-deleted recording raises :class:`RecordingGone` saying so.
    """
    now = now or timezone.now()
    _check_decider(recording, acting_user)
    with transaction.atomic(), service_scope(recording.tenant_id):
        rec = _lock_live(recording, now)
        upload_key = (
            Call.objects.filter(pk=rec.call_id).values_list("upload_key", flat=True).first()
            if rec.call_id
            else None
        )
        result = _delete_rows([(rec.pk, rec.storage_key, rec.call_id, upload_key)], reason=reason, now=now)
    if result.failed:
        raise ValidationError(_("The recording could not be deleted from storage; please try again."))
    with service_scope(recording.tenant_id):
        return Recording.objects.get(pk=recording.pk)


# --- hooks for the capture and for product changes --------------------------------------------


def on_recording_ready(recording: Recording, *, now: datetime | None = None) -> Recording:
    """Call when a recording row is complete (its audio stored): sets its expiry, and for a
    playback applies the contact rules and asks the user. Outside a transaction, or at its end."""
    if recording.kind == Kind.PLAYBACK:
        return on_playback_ready(recording, now=now)
    with transaction.atomic(), service_scope(recording.tenant_id):
        due = expiry_of(kind=recording.kind, ended_at=recording.ended_at, tenant=recording.tenant)
        Recording.objects.filter(pk=recording.pk).update(expires_at=due, expiry_rule=ExpiryRule.RETENTION)
        recording.refresh_from_db()
    return recording


def on_playback_ready(recording: Recording, *, now: datetime | None = None) -> Recording:
    """A playback recording is ready. Blacklisted number: deleted at once. Whitelisted: saved
    at once. Otherwise: unsaved, due 3 days after the call ended, and a prompt is sent."""
    now = now or timezone.now()
    owner = recording.owner
    if owner is not None and rules.is_blacklisted(owner, recording.remote_number):
        delete_recording_objects(recordings=[recording], reason=DeletionReason.BLACKLISTED, now=now)
        recording.refresh_from_db()
        return recording
    outcome = _QuotaOutcome()
    with transaction.atomic(), service_scope(recording.tenant_id):
        tier = _tier_of(recording.owner_id, lock=True)
        rec = Recording.objects.select_for_update().get(pk=recording.pk)
        if rec.deleted_at is not None or rec.saved or rec.expiry_rule:
            return rec  # already handled (a repeated hook)
        if owner is not None and tier is not None and rules.is_whitelisted(owner, rec.remote_number):
            outcome = _save(rec, tier=tier, now=now)
        else:
            rec.saved = False
            rec.expires_at = expiry_of(kind=rec.kind, ended_at=rec.ended_at, tenant=rec.tenant)
            rec.expiry_rule = ExpiryRule.UNANSWERED
            rec.save(update_fields=["saved", "expires_at", "expiry_rule"])
            live.recordings_changed([rec])  # it joins "To review" with its time left
            if owner is not None:
                push.prompt_keep_or_delete(recording=rec, ready_at=now)
    if owner is not None:
        _after_quota(owner, outcome, now)
    return rec


def saved_playbacks(user: User) -> QuerySet[Recording]:
    """The user's live saved playbacks (call inside the user's tenant scope)."""
    return Recording.objects.filter(owner=user, kind=Kind.PLAYBACK, saved=True, deleted_at__isnull=True)


def tier_expiry(tier: str) -> CombinedExpression:
    """The due date of a saved playback in a tier with a fixed number of days."""
    return F("ended_at") + timedelta(days=TIER_DAYS[PlaybackTier(tier)])


def unsubscribed_capped(*, user: User, now: datetime) -> tuple[QuerySet[Recording], datetime]:
    """The saved playbacks a subscription removed at ``now`` gives a new due date, and that date
    (the rule of :func:`on_subscription_removed`; the console's preview counts the same rows)."""
    cap = now + UNSUBSCRIBED_GRACE
    capped = saved_playbacks(user).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=cap))
    return capped, cap


def on_tier_changed(*, user: User, previous: str | None, tier: str, now: datetime | None = None) -> None:
    """Re-compute the expiry of the user's saved playbacks for the new tier (inside the caller's
    transaction and tenant scope). Newly due ones go with the next sweep, which is sent at once."""
    now = now or timezone.now()
    saved = saved_playbacks(user)
    if PlaybackTier(tier) in TIER_DAYS:
        saved.update(expires_at=tier_expiry(tier), expiry_rule=tier)
        return
    before = saved_usage_ms(user.pk) if previous == PlaybackTier.MINUTES_100K else 0
    saved.update(expires_at=None, expiry_rule="")
    outcome = _enforce_quota(user.pk, now=now, before_ms=before, protect=None)
    if outcome.evicted:
        enqueue("recordings.sweep_expired")
    if outcome.warn:
        transaction.on_commit(
            lambda: push.warn_quota(user=user, used_ms=outcome.used_ms, quota_ms=expiry.QUOTA_MS)
        )


def on_subscription_removed(*, user: User, now: datetime | None = None) -> int:
    """The user's Playback subscription was removed (inside the caller's transaction and tenant
    scope): every saved playback is due at ``now`` + 30 days at the latest. Those without a due
    date (``minutes_100k``) or with a later one get exactly that (rule ``unsubscribed``); sooner
    due dates stay; unsaved ones keep their 3 days. Returns how many got the new due date."""
    capped, cap = unsubscribed_capped(user=user, now=now or timezone.now())
    return capped.update(expires_at=cap, expiry_rule=ExpiryRule.UNSUBSCRIBED)


def on_retention_changed(*, tenant: Tenant) -> int:
    """The customer changed its retention period: re-compute the standard recordings' expiry."""
    with service_scope(tenant):
        return Recording.objects.filter(kind=Kind.STANDARD, deleted_at__isnull=True).update(
            expires_at=retention_expiry(tenant.retention_days), expiry_rule=ExpiryRule.RETENTION
        )
