"""Manage → Overview ("Overzicht"): what the tenant records and stores, at a glance.

- recorded, discarded and failed calls per day for the last 30 days (the chart and its table);
- minutes stored per product (standard recordings, Playback);
- each Playback user's use against their tier; for the 100,000-minute tier the date it runs
  full at the last 30 days' rate, and who is above 90 %;
- what the retention sweep deletes in the next 7 days, by reason (the recordings' own
  ``expires_at`` and ``expiry_rule``, set by the lifecycle's rules);
- processing failures of the last 7 days, with their reason, and the recordings whose
  transcription failed after every retry and still have no transcript.

The calls per day and the minutes per product come from the summary tables that
``recordings.usage`` keeps exact in the transactions that change them (1.5M recordings: a sum
over the rows took seconds); the rest reads the rows through indexes made for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.utils import timezone

from recordings.calls_console import reason_of
from recordings.lifecycle import QUOTA_MS, QUOTA_WARNING_FRACTION, ExpiryRule
from recordings.lifecycle.decisions import SAVED_PLAYBACK, WITHOUT_DUE_DATE
from recordings.models import Call, CallDay, Kind, Recording, StoredKind
from recordings.transcripts.models import TranscriptFailure
from tenants.models import PlaybackSubscription, PlaybackTier, Tenant, User

DAYS = 30
SWEEP_DAYS = 7


@dataclass(frozen=True)
class Day:
    day: dt.date
    recorded: int
    discarded: int
    failed: int


@dataclass(frozen=True)
class PlaybackUse:
    person: User
    tier: str
    tier_label: str
    stored_minutes: int
    quota_percent: int | None  # 100,000-minute tier only
    full_on: dt.date | None  # at the last 30 days' rate; None: not at this rate within 10 years

    @property
    def above_warning(self) -> bool:
        return self.quota_percent is not None and self.quota_percent >= QUOTA_WARNING_FRACTION * 100


@dataclass(frozen=True)
class Overview:
    days: list[Day]
    minutes_standard: int
    minutes_playback: int
    playback: list[PlaybackUse]
    sweep: list[tuple[str, int]]  # (reason in words, recordings) in the next 7 days
    sweep_total: int
    failures: list[tuple[Call, str]]  # the latest, with the reason in words
    failures_total: int
    one_sided: int = 0  # recordings of the last 30 days with one party silent throughout
    one_sided_since: dt.date | None = None
    transcript_failures: int = 0  # live recordings whose transcription failed for good, still without one


def days_of(tenant: Tenant, *, today: dt.date, days: int = DAYS) -> list[Day]:
    """The last ``days`` days up to ``today``, from the summary (``recordings.usage``)."""
    first = today - dt.timedelta(days=days - 1)
    rows = CallDay.objects.filter(tenant=tenant, day__gte=first, day__lte=today)
    by_day = {r.day: r for r in rows}
    out = []
    for n in range(days):
        day = first + dt.timedelta(days=n)
        r = by_day.get(day)
        out.append(Day(day, r.recorded, r.discarded, r.failed) if r else Day(day, 0, 0, 0))
    return out


def _minutes(ms: int | None) -> int:
    return round((ms or 0) / 60_000)


def playback_use(tenant: Tenant, *, now: dt.datetime) -> list[PlaybackUse]:
    """Every Playback user's use, in two queries whatever the number of users."""
    subs = list(
        PlaybackSubscription.objects.filter(tenant=tenant).select_related("user").order_by("user__username")
    )
    # One pass over the saved live playbacks (index-only through ``rec_playback_use``).
    rows = (
        Recording.objects.filter(SAVED_PLAYBACK, tenant=tenant)
        .values_list("owner")
        .annotate(
            stored=Sum("duration_ms"),
            counted=Sum("duration_ms", filter=WITHOUT_DUE_DATE),  # the quota's rule: QUOTA_COUNTED
            recent=Sum("duration_ms", filter=Q(ended_at__gte=now - dt.timedelta(days=DAYS))),
        )
        .order_by()
    )
    sums = {owner: (stored or 0, counted or 0, recent or 0) for owner, stored, counted, recent in rows}
    stored = {owner: v[0] for owner, v in sums.items()}
    counted = {owner: v[1] for owner, v in sums.items()}
    recent = {owner: v[2] for owner, v in sums.items()}
    out = []
    for sub in subs:
        user = sub.user
        percent = full_on = None
        if sub.tier == PlaybackTier.MINUTES_100K:
            used = counted.get(user.pk, 0)
            percent = int(used * 100 // QUOTA_MS)
            rate = recent.get(user.pk, 0) / DAYS  # per day
            if rate:
                days_left = (QUOTA_MS - used) / rate
                if days_left < 3650:
                    full_on = timezone.localdate(now + dt.timedelta(days=max(days_left, 0)))
        out.append(
            PlaybackUse(
                person=user,
                tier=sub.tier,
                tier_label=str(PlaybackTier(sub.tier).label),
                stored_minutes=_minutes(stored.get(user.pk, 0)),
                quota_percent=percent,
                full_on=full_on,
            )
        )
    return out


def one_sided_count(tenant: Tenant, *, now: dt.datetime) -> tuple[int, dt.date]:
    """How many live recordings of the last 30 days have one party silent throughout
    (``Recording.one_sided``, set by the processing), and the first day counted."""
    first = timezone.localdate(now) - dt.timedelta(days=DAYS - 1)
    since = dt.datetime.combine(first, dt.time.min, timezone.get_current_timezone())
    flagged = Recording.objects.filter(
        tenant=tenant, one_sided=True, deleted_at__isnull=True, started_at__gte=since
    )
    return flagged.count(), first


def transcript_failure_count(tenant: Tenant) -> int:
    """How many of the tenant's live recordings have no transcript because their transcription
    failed after every retry (``TranscriptFailure``, cleared by a later successful one)."""
    return TranscriptFailure.objects.filter(tenant=tenant, recording__deleted_at__isnull=True).count()


def overview(tenant: Tenant, *, now: dt.datetime | None = None) -> Overview:
    """The numbers of the page: the calls per day, the minutes stored per product and the
    failures counted from the summary tables (``recordings.usage``, kept exact by the services
    that change them), the rest from the rows through their indexes."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    days = days_of(tenant, today=today)
    minutes = {k.kind: k.duration_ms for k in StoredKind.objects.filter(tenant=tenant)}
    rules = dict(ExpiryRule.choices)
    due = (
        Recording.objects.filter(
            tenant=tenant, deleted_at__isnull=True, expires_at__lte=now + dt.timedelta(days=SWEEP_DAYS)
        )
        .values_list("expiry_rule")
        .annotate(n=Count("*"))
        .order_by()
    )  # index-only through ``rec_live_due``
    sweep = sorted(((str(rules.get(rule, rule)), n) for rule, n in due), key=lambda r: -r[1])
    # The failures of the last 7 days (today and the 6 before): the summary's count, the latest 10.
    since = dt.datetime.combine(
        today - dt.timedelta(days=SWEEP_DAYS - 1), dt.time.min, timezone.get_current_timezone()
    )
    failed = Call.objects.filter(
        tenant=tenant, state=Call.State.FAILED, started_at__gte=since
    ).select_related("user")
    failures = list(failed.order_by("-started_at", "-id")[:10])
    one_sided, one_sided_since = one_sided_count(tenant, now=now)
    return Overview(
        days=days,
        minutes_standard=_minutes(minutes.get(Kind.STANDARD)),
        minutes_playback=_minutes(minutes.get(Kind.PLAYBACK)),
        playback=playback_use(tenant, now=now),
        sweep=sweep,
        sweep_total=sum(n for _r, n in sweep),
        failures=[(call, reason_of(call)) for call in failures],
        failures_total=sum(d.failed for d in days[-SWEEP_DAYS:]),
        one_sided=one_sided,
        one_sided_since=one_sided_since,
        transcript_failures=transcript_failure_count(tenant),
    )
