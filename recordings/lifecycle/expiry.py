"""The lifecycle's rules: when a recording is due, the tiers, the quota, the decision window.

Rules (the Playback lifecycle of the product; docs/architecture.md, "The lifecycle"):

- A playback recording whose remote number is whitelisted is *saved* at once; one that is
  blacklisted is deleted at once; any other is *unsaved*, due 3 days after the call ended, and
  the user is asked on their phone (a :class:`notifications.models.PushPrompt`).
- Keep: saved; the subscription's tier decides its expiry (``days_30``/``days_90`` after the call,
  or, for ``minutes_100k``, none: the oldest saved ones are deleted when a new one would pass the
  quota, and the user is warned once per crossing of 90 %).
- Delete: audio and everything derived go at once.
- Standard recordings are due ``tenant.retention_days`` after the call ended.
- The Playback subscription is removed (:func:`on_subscription_removed`): the user's saved
  playbacks are due 30 days after the removal at the latest: those without a due date (tier
  ``minutes_100k``) get removal + 30 days, those with a due date keep it if it is sooner and are
  otherwise capped at removal + 30 days (rule ``unsubscribed``); unsaved ones keep their 3 days
  (and can no longer be kept). A subscription given again before they are deleted re-computes
  their expiry from the new tier (:func:`on_tier_changed`), as a tier change does.

Every live recording that can expire has ``expires_at`` (and ``expiry_rule`` saying which rule
set it); :func:`sweep_expired` deletes what is due through the partial index ``rec_live_expiry``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import F
from django.db.models.expressions import CombinedExpression
from django.utils.translation import gettext_lazy

from recordings.models import Kind, Recording
from tenants.models import PlaybackTier

if TYPE_CHECKING:
    from tenants.models import Tenant

#: How long a playback user has to decide "keep or delete" before an unsaved recording is due.
DECISION_WINDOW = timedelta(days=3)
UNSUBSCRIBED_GRACE = timedelta(days=30)  # saved playbacks after the subscription is removed
TIER_DAYS = {PlaybackTier.DAYS_30: 30, PlaybackTier.DAYS_90: 90}
QUOTA_MINUTES = 100_000
QUOTA_MS = QUOTA_MINUTES * 60_000
QUOTA_WARNING_FRACTION = 0.9


class ExpiryRule(models.TextChoices):
    """Why a live recording has its ``expires_at`` (and, once deleted, why it went)."""

    UNANSWERED = "unanswered", gettext_lazy("Playback not kept within 3 days")
    DAYS_30 = "days_30", gettext_lazy("Saved playback, 30 days")
    DAYS_90 = "days_90", gettext_lazy("Saved playback, 90 days")
    QUOTA = "quota", gettext_lazy("Oldest saved playback over the 100,000-minute quota")
    RETENTION = "retention", gettext_lazy("Customer's retention period")
    UNSUBSCRIBED = "unsubscribed", gettext_lazy("Saved playback, 30 days after the subscription was removed")
    OFFBOARDED = "offboarded", gettext_lazy("Deleted when the person was deactivated")


class DeletionReason(models.TextChoices):
    """``Recording.deletion_reason``: an expiry rule, or one of these."""

    USER_DELETED = "user_deleted", gettext_lazy("Deleted by the user")
    BLACKLISTED = "blacklisted", gettext_lazy("Blacklisted number")
    SERVICE_ENDED = "service_ended", gettext_lazy("Customer's service ended")
    NOT_KEPT = "not_kept", gettext_lazy("On-demand call not kept")


class RecordingGone(Exception):
    """The recording was already deleted (or is past its due time): no decision can change it."""

    def __init__(self, recording: Recording, message: str) -> None:
        super().__init__(message)
        self.recording = recording
        self.message = message


def retention_period(days: int) -> timedelta:
    """How long after its call a standard recording lives under a retention of ``days``: the one
    place the retention rule is written (:func:`expiry_of` for a new recording, the
    ``retention_expiry`` expression for re-computing and counting many)."""
    return timedelta(days=days)


def retention_expiry(days: int) -> CombinedExpression:
    """The due date of a standard recording under a retention of ``days``, as an expression
    (``on_retention_changed`` stores it; the settings page counts what it makes due)."""
    return F("ended_at") + retention_period(days)


def expiry_of(*, kind: str, ended_at: datetime, tenant: Tenant) -> datetime:
    """The due date of a new recording: a standard one ``tenant.retention_days`` after the call
    ended, a playback one (unsaved until the user decides) :data:`DECISION_WINDOW` after it.
    The one place this rule is written; the capture stores it, the ready hooks set it again."""
    if kind == Kind.STANDARD:
        return ended_at + retention_period(tenant.retention_days)
    return ended_at + DECISION_WINDOW
