"""Reads for the portal's "To review" view and the live lists (no state changes here: keeping
and deleting go through :mod:`recordings.lifecycle`, as the app's API does).

"To review": the signed-in Playback user's own unsaved playbacks whose decision window is still
open (what the lifecycle's ``keep_recording`` would accept), newest first.

Live lists: a page polls its list with the tag it was rendered with (``If-None-Match``);
:func:`still_current` answers from the person's list version (``tenants.lists``, one primary-key
lookup), which every service that changes what the lists show moves on in its transaction
(``recordings.live``), so a poll that finds nothing new costs no rendering and no list query (304).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Min, QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from recordings import listing
from recordings.lifecycle import expiry
from recordings.lifecycle.decisions import saved_usage_ms
from recordings.models import Call, Kind, Recording
from tenants.lists import list_version
from tenants.models import PlaybackTier, User

REVIEW_PAGE = listing.PAGE_SIZE  # rows a page shows; "More" fetches the next by position


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


def review_rows(user: User, *, now: datetime | None = None, after: str = "") -> tuple[list[Recording], str]:
    """A page of :func:`to_review` (after the keyset cursor ``after``, if it is one of ours) and
    the cursor of the next page ("" when this is the last)."""
    qs = listing.with_party_names(to_review(user, now=now))
    position = listing.decode_cursor(after) if after else None
    if position is not None:
        qs = listing.after_position(qs, *position)
    rows = list(qs[: REVIEW_PAGE + 1])
    more = len(rows) > REVIEW_PAGE
    rows = rows[:REVIEW_PAGE]
    player, keep, delete = (_url_of(name) for name in ("player", "recording_keep", "recording_delete"))
    for row in rows:  # the row's links, for the template (reversed once a page, not three times a row)
        row.player_url, row.keep_url, row.delete_url = player(row.pk), keep(row.pk), delete(row.pk)  # type: ignore[attr-defined]
    return rows, listing.encode_cursor(rows[-1].started_at, rows[-1].pk) if more else ""


def _url_of(name: str) -> Callable[[uuid.UUID], str]:
    """``reverse(name, args=[pk])`` for any recording id, reversed once: the URL of a stand-in
    id with the real id put in its place (the URL conf stays the one source of the path)."""
    stand_in = str(uuid.UUID(int=0))
    path = reverse(name, args=[stand_in])
    return lambda pk: path.replace(stand_in, str(pk))


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


def list_version_of(user: User) -> int:
    return list_version(user.pk)


def live_tag(
    user: User, view: str, query: str = "", *, now: datetime | None = None, version: int | None = None
) -> str:
    """The tag a live list is rendered with: ``<list version>.<until>.<scope>``.

    Read BEFORE the list itself: a change committed in between then gives new rows under the old
    version (the next poll fetches them again), never old rows under the new one (a poll would
    miss the change). ``until`` (epoch seconds, 0: none) is the next moment the clock alone
    changes what the list shows: the earliest end of a decision window among the person's
    unanswered playbacks (the review count and the review rows); the sweep's deletion moves the
    version later anyway. ``scope`` binds the tag to the view, its filters, the person and the
    page language. ``version``: the list version, if the caller read it earlier still."""
    if version is None:
        version = list_version(user.pk)
    until = 0
    if is_playback_user(user):
        now = now or timezone.now()
        first_due = _open_playbacks(user, now).aggregate(first=Min("expires_at"))["first"]
        until = int(first_due.timestamp()) if first_due is not None else 0  # a second early: safe
    return f"{version}.{until}.{_scope(user, view, query)}"


def query_key(query: QueryDict) -> str:
    """A list's filters as the tag's scope takes them (order and encoding normalised)."""
    return urlencode(sorted((key, value) for key, values in query.lists() for value in values))


def _scope(user: User, view: str, query: str) -> str:
    raw = f"{view}|{user.pk}|{query}|{translation.get_language()}"
    return hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()


def _open_playbacks(user: User, now: datetime) -> QuerySet[Recording]:
    """The person's playbacks still waiting for a decision (``rec_unanswered``)."""
    return Recording.objects.filter(
        owner=user, kind=Kind.PLAYBACK, saved=False, deleted_at__isnull=True, expires_at__gt=now
    )


def still_current(
    if_none_match: str, user: User, view: str, query: str = "", *, now: datetime | None = None
) -> bool:
    """The poll's ``If-None-Match`` names a tag that is still what the list would show: same
    scope, its ``until`` not reached, the person's list version unchanged. One primary-key lookup;
    a malformed tag is simply not current (the poll gets the list)."""
    scope = _scope(user, view, query)
    moment = (now or timezone.now()).timestamp()
    candidates: list[int] = []
    for part in if_none_match.split(","):
        fields = part.strip().removeprefix("W/").strip('"').split(".")
        if len(fields) != 3 or fields[2] != scope or not fields[0].isdigit() or not fields[1].isdigit():
            continue
        if int(fields[1]) and moment >= int(fields[1]):
            continue  # a decision window has closed since
        candidates.append(int(fields[0]))
    return bool(candidates) and list_version(user.pk) in candidates
