"""Reads for the portal's "To review" view and the live lists (no state changes here: keeping
and deleting go through :mod:`recordings.lifecycle`, as the app's API does).

"To review": the signed-in Playback user's own unsaved playbacks whose decision window is still
open (what the lifecycle's ``keep_recording`` would accept), newest first.

Live lists: a page polls its list with the fingerprint it was rendered with (``If-None-Match``);
:func:`fingerprint` answers from two small aggregate queries on the owner's index, so a poll that
finds nothing new costs no rendering (304).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from recordings import listing
from recordings.lifecycle import expiry
from recordings.lifecycle.decisions import saved_usage_ms
from recordings.models import Call, Kind, Recording
from tenants.models import PlaybackTier, User

REVIEW_LIMIT = 100  # rows shown; the decision window (3 days) keeps the list short anyway


def is_playback_user(user: User) -> bool:
    return hasattr(user, "playback_subscription")


def to_review(user: User, *, now: datetime | None = None) -> QuerySet[Recording]:
    """The user's unanswered playbacks, newest first (through ``visible_to``: the one rule)."""
    now = now or timezone.now()
    # An unanswered playback is due DECISION_WINDOW after its call ended (expiry_of), so never
    # later than now + the window: the bound lets the database walk the expiry index's few days
    # rather than all the user's recordings.
    return (
        Recording.objects.visible_to(user)
        .filter(
            owner=user,
            kind=Kind.PLAYBACK,
            saved=False,
            expires_at__gt=now,
            expires_at__lte=now + expiry.DECISION_WINDOW,
        )
        .order_by("-started_at", "-id")
    )


def review_count(user: User, *, now: datetime | None = None) -> int:
    if not is_playback_user(user):
        return 0
    return to_review(user, now=now).count()


def review_rows(user: User, *, now: datetime | None = None) -> list[Recording]:
    return list(listing.with_party_names(to_review(user, now=now))[:REVIEW_LIMIT])


def processing_calls(user: User, *, playback_only: bool = False) -> list[Call]:
    """The user's calls that have ended and are still being processed (shown as "Processing"
    rows until their recording is ready)."""
    qs = Call.objects.filter(user=user, state=Call.State.PROCESSING)
    if playback_only:
        qs = qs.filter(kind=Kind.PLAYBACK)
    return list(qs.order_by("-started_at")[:20])


@dataclass(frozen=True)
class Plan:
    """What a Playback user's plan page shows; figures from the lifecycle's own rules."""

    tier: str
    tier_label: str
    quota_minutes: int | None  # only the minutes tier has a quota
    used_minutes: int
    left_minutes: int | None
    keep_days: int | None  # the days tiers: how long a kept call stays
    warning: bool  # at or over the 90 % warning
    next_due: Recording | None  # the next of the user's recordings the lifecycle deletes


def plan_of(user: User) -> Plan | None:
    """The user's tier, minutes kept and left, and the next recording due (``None`` without a
    Playback subscription). Usage is the lifecycle's own count (``saved_usage_ms``)."""
    subscription = getattr(user, "playback_subscription", None)
    if subscription is None:
        return None
    used_ms = saved_usage_ms(user.pk)
    tier = subscription.tier
    has_quota = tier == PlaybackTier.MINUTES_100K
    next_due = (
        Recording.objects.visible_to(user)
        .filter(owner=user, expires_at__isnull=False)
        .order_by("expires_at", "id")
        .first()
    )
    return Plan(
        tier=tier,
        tier_label=str(subscription.get_tier_display()),
        quota_minutes=expiry.QUOTA_MINUTES if has_quota else None,
        used_minutes=used_ms // 60_000,
        left_minutes=max(0, expiry.QUOTA_MINUTES - used_ms // 60_000) if has_quota else None,
        keep_days=expiry.TIER_DAYS.get(PlaybackTier(tier)),
        warning=has_quota and used_ms >= expiry.QUOTA_MS * expiry.QUOTA_WARNING_FRACTION,
        next_due=next_due,
    )


def fingerprint(user: User, view: str, *, now: datetime | None = None) -> str:
    """A short tag that changes whenever what ``view`` ("home" or "review") shows of the user's
    recordings changes: a new recording, one kept or deleted (by the user or by expiry), a call
    starting or finishing its processing, the review count (which also moves with the clock as
    decision windows close). The home list of a listener also covers the team's recordings."""
    now = now or timezone.now()
    if view == "home":
        figures = (
            Recording.objects.visible_to(user)
            .live()
            .aggregate(
                n_live=Count("id"),
                n_saved=Count("id", filter=Q(saved=True)),
                last_new=Max("created_at"),
                last_saved=Max("saved_at"),
                n_open=Count("id", filter=Q(kind=Kind.PLAYBACK, saved=False, owner=user, expires_at__gt=now)),
            )
        )
    else:  # the review view shows only the open ones: a row joins (newest created) or leaves (count)
        figures = to_review(user, now=now).aggregate(
            n_open=Count("id"), last_new=Max("created_at"), oldest=Min("started_at")
        )
    calls = Call.objects.filter(user=user, state=Call.State.PROCESSING).aggregate(
        n_calls=Count("id"), last_change=Max("updated_at"), attempts=Sum("processing_attempts")
    )
    raw = f"{view}|{user.pk}|{sorted(figures.items())}|{sorted(calls.items())}"
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def matches(request_tag: str, tag: str) -> bool:
    """``If-None-Match`` (one quoted tag, or a list) names ``tag``."""
    wanted = {part.strip().removeprefix("W/").strip('"') for part in request_tag.split(",") if part.strip()}
    return tag in wanted
