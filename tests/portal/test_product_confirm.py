"""A product change is two steps: first its consequences in numbers, then, confirmed, the change;
the numbers are those the change applies (the lifecycle's own rules)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from recordings.models import Recording
from tenants.models import Licence, PlaybackSubscription
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    client.force_login(personas.admin)
    return client


def _preview(admin: Client, user_id: object, product: str) -> object:
    response = admin.post(reverse("manage_user_product", args=[user_id]), {"product": product})
    assert response.status_code == 200
    return response


def test_removing_playback_states_the_deletions_then_applies_them(admin: Client, personas: Personas) -> None:
    piet = personas.playback["minutes_100k"]
    piet.first_name, piet.last_name = "Piet", "Peters"
    piet.save()
    for _n in range(3):
        make_recording(piet, saved=True)
    make_recording(piet)  # unsaved
    response = _preview(admin, piet.pk, "")
    preview = response.context["preview"]  # type: ignore[attr-defined]
    cap_day = timezone.localdate(timezone.now() + dt.timedelta(days=30))
    assert (preview.saved_capped, preview.capped_on, preview.unsaved) == (3, cap_day, 1)
    with translation.override("nl"):
        day = cap_day.strftime("%-d")
    page = response.content.decode()  # type: ignore[attr-defined]
    assert f"3 bewaarde opnames van Piet Peters ({piet.username}) worden op {day} " in page
    with tenant_scope(personas.tenant_a):  # step one changed nothing
        assert PlaybackSubscription.objects.filter(user=piet).exists()
        assert not Recording.objects.filter(owner=piet, expires_at__isnull=False, saved=True).exists()
    done = admin.post(reverse("manage_user_product", args=[piet.pk]), {"product": "", "confirm": "1"})
    assert done.status_code == 302
    with tenant_scope(personas.tenant_a):
        assert not PlaybackSubscription.objects.filter(user=piet).exists()
        due = {timezone.localdate(r.expires_at) for r in Recording.objects.filter(owner=piet, saved=True)}
    assert due == {cap_day}


def test_a_shorter_tier_states_what_goes_at_once(admin: Client, personas: Personas) -> None:
    user = personas.playback["days_90"]
    old = timezone.now() - dt.timedelta(days=45)
    make_recording(user, saved=True, started_at=old)
    make_recording(user, saved=True, started_at=old)
    make_recording(user, saved=True)
    preview = _preview(admin, user.pk, "playback:days_30").context["preview"]  # type: ignore[attr-defined]
    assert (preview.due_at_once, preview.tier_due_days, preview.saved_capped) == (2, 30, 0)
    admin.post(
        reverse("manage_user_product", args=[user.pk]), {"product": "playback:days_30", "confirm": "1"}
    )
    with tenant_scope(personas.tenant_a):
        due_now = Recording.objects.filter(owner=user, saved=True, expires_at__lte=timezone.now()).count()
    assert due_now == preview.due_at_once


def test_a_licence_change_keeps_standard_recordings_and_says_recording_stops(
    admin: Client, personas: Personas
) -> None:
    user = personas.users["always"]
    make_recording(user)
    response = _preview(admin, user.pk, "licence:never")
    preview = response.context["preview"]  # type: ignore[attr-defined]
    assert (preview.standard, preview.recording_stops, preview.saved_capped) == (1, True, 0)
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=user).mode == "always"


def test_a_bad_product_is_refused_in_step_one(admin: Client, personas: Personas) -> None:
    user = personas.users["always"]
    response = admin.post(reverse("manage_user_product", args=[user.pk]), {"product": "licence:sometimes"})
    assert response.status_code == 400
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=user).mode == "always"
