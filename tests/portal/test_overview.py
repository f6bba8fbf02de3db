"""Manage → Overview: the numbers per day, the minutes per product, Playback use against the
tier with its forecast, the next 7 days of the sweep by reason, the failures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recordings import overview as overview_data
from recordings import usage
from recordings.lifecycle import QUOTA_MS
from recordings.models import Call, Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.portal.test_calls_console import make_call


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    client.force_login(personas.admin)
    return client


def test_manage_leads_to_the_overview(admin: Client) -> None:
    assert admin.get(reverse("manage_home"))["Location"] == reverse("manage_overview")


def test_calls_per_day_match_the_calls(admin: Client, personas: Personas) -> None:
    user = personas.users["always"]
    make_call(user, state=Call.State.RECORDED, minutes_ago=60 * 24 * 2)
    make_call(user, state=Call.State.DELETED, minutes_ago=60 * 24 * 2)
    make_call(user, state=Call.State.DISCARDED, minutes_ago=5)
    make_call(user, state=Call.State.FAILED, error_code="audio_missing", minutes_ago=6)
    make_call(user, state=Call.State.RECORDED, minutes_ago=60 * 24 * 40)  # outside the 30 days
    make_call(personas.charlie, state=Call.State.RECORDED, minutes_ago=5)
    make_call(user, state=Call.State.FAILED, minutes_ago=60 * 24 * 8)  # a failure before the 7 days
    usage.rebuild(personas.tenant_a.pk)  # the rows were written directly, not by the capture
    response = admin.get(reverse("manage_overview"))
    assert response.status_code == 200
    days = response.context["o"].days
    assert len(days) == 30 and days[-1].day == timezone.localdate()
    assert (days[-1].recorded, days[-1].discarded, days[-1].failed) == (0, 1, 1)
    assert days[-3].recorded == 2
    assert sum(d.recorded for d in days) == 2
    assert response.context["o"].failures_total == 1
    assert len(response.context["o"].failures) == 1
    chart = response.context["chart"]
    assert chart["recorded"] == [d.recorded for d in days]
    page = response.content.decode()
    assert 'id="calls-chart-data"' in page and "<script>" not in page
    assert "the phone system sent no audio" in page or "de telefooncentrale stuurde geen geluid" in page


def test_minutes_playback_use_and_forecast(personas: Personas) -> None:
    heavy = personas.playback["minutes_100k"]
    # 92 % of the quota, 10 % of it stored in the last 30 days: full in about 23 days
    # (in pieces: a duration is a 32-bit integer on PostgreSQL, under 36,000 minutes a call)
    old = timezone.now() - dt.timedelta(days=60)
    for _ in range(4):
        make_recording(heavy, saved=True, started_at=old, with_audio=False)
    make_recording(heavy, saved=True, with_audio=False)
    with tenant_scope(personas.tenant_a):
        recs = list(Recording.objects.filter(owner=heavy).order_by("started_at"))
        for rec in recs[:4]:
            Recording.objects.filter(pk=rec.pk).update(duration_ms=int(QUOTA_MS * 0.82 / 4), expires_at=None)
        Recording.objects.filter(pk=recs[4].pk).update(duration_ms=int(QUOTA_MS * 0.10), expires_at=None)
        make_recording(personas.users["always"], with_audio=False)
        usage.rebuild(personas.tenant_a.pk)  # the rows were written directly, not by the capture
        summary = overview_data.overview(personas.tenant_a)
    use = {u.person.pk: u for u in summary.playback}[heavy.pk]
    assert use.quota_percent == 92 and use.above_warning
    expected = timezone.localdate(
        timezone.now() + dt.timedelta(days=0.08 * QUOTA_MS / (0.10 * QUOTA_MS / 30))
    )
    assert use.full_on == expected
    assert summary.minutes_playback == round(0.92 * QUOTA_MS / 60_000)
    assert summary.minutes_standard == 0  # six seconds rounds to no minute


def test_what_the_sweep_deletes_in_seven_days(personas: Personas) -> None:
    user = personas.playback["days_30"]
    soon = make_recording(user)  # unsaved: due 3 days after the call
    later = make_recording(user, saved=True)
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk=soon.pk).update(
            expires_at=timezone.now() + dt.timedelta(days=2), expiry_rule="unanswered"
        )
        Recording.objects.filter(pk=later.pk).update(
            expires_at=timezone.now() + dt.timedelta(days=20), expiry_rule="days_30"
        )
        summary = overview_data.overview(personas.tenant_a)
    assert summary.sweep_total == 1
    assert summary.sweep[0][1] == 1 and "3 days" in summary.sweep[0][0]
