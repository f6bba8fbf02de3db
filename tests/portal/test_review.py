"""The "To review" view, the review count, the live lists' 304 poll and the plan page."""

from __future__ import annotations

import datetime as dt
import html
import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications.models import PushPrompt
from recordings import lifecycle, review
from recordings.models import Call, Kind, Recording
from tenants.models import User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording

HX = {"HX-Request": "true"}


def _processing_call(user: User, number: str = "+31687654321") -> Call:
    now = timezone.now()
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        return Call.objects.create(
            tenant_id=user.tenant_id,
            pbx_call_id=f"call-{now.timestamp()}",
            user=user,
            direction="inbound",
            leg="mobile",
            local_number="+31201234567",
            remote_number=number,
            started_at=now - dt.timedelta(minutes=2),
            ended_at=now,
            kind=Kind.PLAYBACK,
            record=True,
            announce=False,
            state=Call.State.PROCESSING,
        )


def test_lists_own_unanswered_playbacks_newest_first(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    now = timezone.now()
    old = make_recording(pb, started_at=now - dt.timedelta(hours=5), remote_number="+31611111111")
    new = make_recording(pb, started_at=now - dt.timedelta(hours=1), remote_number="+31622222222")
    kept = make_recording(pb, saved=True, remote_number="+31633333333")
    past = make_recording(pb, started_at=now - dt.timedelta(days=4), remote_number="+31644444444")
    other = make_recording(personas.playback["days_90"], remote_number="+31655555555")
    client.force_login(pb)
    html = client.get(reverse("review")).content.decode()
    assert html.index("+31622222222") < html.index("+31611111111")  # newest first
    for absent in (kept, past, other):
        assert absent.remote_number not in html
    assert reverse("recording_keep", args=[new.pk]) in html
    assert reverse("recording_delete", args=[old.pk]) in html
    assert "verwijderd over" in html or "deleted in" in html  # the countdown
    # the navigation's count and the home screen's banner say the same
    assert '<span class="count has-items">2</span>' in html
    home = client.get(reverse("home")).content.decode()
    assert '<span class="count has-items">2</span>' in home
    assert 'id="review-banner"' in home and reverse("review") in home


def test_keep_through_htmx_removes_the_row_as_the_app_would(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    rec = make_recording(pb)
    other = make_recording(pb, remote_number="+31699999999")
    with tenant_scope(pb.tenant_id):  # type: ignore[arg-type]
        PushPrompt.objects.create(
            tenant_id=pb.tenant_id,
            user=pb,
            recording=rec,
            kind=PushPrompt.Kind.KEEP_OR_DELETE,
            ready_at=timezone.now(),
        )
    client.force_login(pb)
    response = client.post(reverse("recording_keep", args=[rec.pk]), headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<li" not in body  # the row goes
    assert 'hx-swap-oob="true"' in body and '<span class="count has-items">1</span>' in body
    rec.refresh_from_db()
    assert rec.saved and rec.expiry_rule == "days_30"  # the lifecycle's keep: the tier's expiry
    with tenant_scope(pb.tenant_id):  # type: ignore[arg-type]
        prompt = PushPrompt.objects.get(recording=rec)
    assert prompt.status == PushPrompt.Status.ANSWERED and prompt.answer == "keep"
    assert str(rec.pk) not in client.get(reverse("review")).content.decode()
    assert other.remote_number in client.get(reverse("review")).content.decode()


def test_delete_through_htmx_and_a_second_answer_says_why(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    rec = make_recording(pb)
    client.force_login(pb)
    response = client.post(reverse("recording_delete", args=[rec.pk]), headers=HX)
    assert response.status_code == 200
    assert "<li" not in response.content.decode()
    assert '<span class="count">0</span>' in response.content.decode()
    assert Recording.objects.unscoped().get(pk=rec.pk).is_deleted
    again = client.post(reverse("recording_keep", args=[rec.pk]), headers=HX).content.decode()
    assert 'role="alert"' in again  # the row stays with the reason, nothing else changed
    assert not Recording.objects.unscoped().get(pk=rec.pk).saved


def test_without_htmx_the_forms_still_work(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    rec = make_recording(pb)
    client.force_login(pb)
    response = client.post(reverse("recording_keep", args=[rec.pk]), {"next": reverse("review")})
    assert response.status_code == 303 and response["Location"] == reverse("review")


def test_only_playback_users_have_review_and_plan(client: Client, personas: Personas) -> None:
    client.force_login(personas.users["always"])
    assert client.get(reverse("review")).status_code == 403
    assert client.get(reverse("plan")).status_code == 403
    assert reverse("review") not in client.get(reverse("home")).content.decode()


def test_poll_with_nothing_new_answers_304_without_rendering(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    make_recording(pb)
    client.force_login(pb)
    for name, target in (("review", "review-list"), ("home", "results")):
        first = client.get(reverse(name))
        tag = first["ETag"]
        assert f'data-live-tag="{tag.strip(chr(34))}"' in first.content.decode()
        headers = {**HX, "HX-Target": target, "If-None-Match": tag}
        same = client.get(reverse(name), headers=headers)
        assert same.status_code == 304 and same.content == b""
        assert not same.templates  # nothing rendered
        # a stale tag gets the partial, with the new tag
        fresh = client.get(reverse(name), headers={**headers, "If-None-Match": '"stale"'})
        assert fresh.status_code == 200 and fresh["ETag"] == tag


# Every kind of change moving the lists (and the 304's single query): tests/recordings/test_live_lists.py.


def test_a_call_being_processed_shows_as_a_row(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    _processing_call(pb, "+31677777777")
    client.force_login(pb)
    for name in ("home", "review"):
        html = client.get(reverse(name)).content.decode()
        assert "+31677777777" in html and "data-processing" in html


def test_poll_after_a_new_recording_brings_its_row(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    client.force_login(pb)
    tag = client.get(reverse("home"))["ETag"]
    make_recording(pb, remote_number="+31688888888")
    response = client.get(reverse("home"), headers={**HX, "HX-Target": "results", "If-None-Match": tag})
    assert response.status_code == 200
    html = response.content.decode()
    assert "+31688888888" in html
    assert 'id="review-banner"' in html and 'id="nav-review"' in html  # the counts move too


def test_plan_shows_tier_minutes_warning_and_next_due(client: Client, personas: Personas) -> None:
    pb = personas.playback["minutes_100k"]
    soon = make_recording(pb, remote_number="+31611112222")
    client.force_login(pb)
    html = client.get(reverse("plan")).content.decode()
    assert 'role="alert"' not in html  # far from 90 %
    assert soon.remote_number in html  # the unsaved one is deleted next
    with tenant_scope(pb.tenant_id):  # type: ignore[arg-type]
        Recording.objects.filter(pk=soon.pk).update(saved=True, expires_at=None, expiry_rule="")
        for _ in range(4):  # (a duration is a 32-bit integer on PostgreSQL: in pieces)
            make_recording(pb, saved=True, with_audio=False, duration_ms=22_750 * 60_000)
        plan = review.plan_of(pb)
    assert plan is not None and plan.warning and plan.left_minutes is not None
    assert plan.used_minutes >= 91_000 and plan.left_minutes == 100_000 - plan.used_minutes
    html = client.get(reverse("plan")).content.decode()
    assert 'role="alert"' in html
    assert "Nothing is due" in html or "Er staat niets" in html


def test_home_legend_names_the_colours_the_person_sees(client: Client, personas: Personas) -> None:
    client.force_login(personas.playback["days_30"])
    legend = client.get(reverse("home")).content.decode().split('class="legend"')[1].split("</ul>")[0]
    assert "colour-light_blue" in legend and "colour-dark_blue" in legend and "colour-teal" not in legend
    assert "Niet-bewaarde playback" in legend or "Unsaved playback" in legend  # words, not colour alone
    client.force_login(personas.users["always"])
    legend = client.get(reverse("home")).content.decode().split('class="legend"')[1].split("</ul>")[0]
    assert "colour-teal" in legend and "colour-light_blue" not in legend


def test_only_playback_users_see_the_notifications_link(client: Client, personas: Personas) -> None:
    """Browser notifications carry the keep-or-delete prompt, which only Playback users get: the
    navigation links the switch for them and not for anyone else."""
    link = f'href="{reverse("browser_notifications")}"'
    client.force_login(personas.playback["days_30"])
    assert link in client.get(reverse("home")).content.decode()
    page = client.get(reverse("browser_notifications")).content.decode()
    assert f'{link} aria-current="page"' in page
    for person in (personas.users["always"], personas.listener, personas.admin):
        client.force_login(person)
        assert link not in client.get(reverse("home")).content.decode(), person.username


def test_review_pages_by_position_and_the_more_row_fetches_the_rest(
    client: Client, personas: Personas
) -> None:
    """A Playback user with more calls to review than a page holds sees them all: 25 a page,
    newest first, the "More" row fetching the next page after the last row shown (not a count of
    skipped rows: a call decided meanwhile moves nothing)."""
    pb = personas.playback["days_30"]
    now = timezone.now()
    made = [
        make_recording(pb, started_at=now - dt.timedelta(minutes=n), remote_number=f"+316{n:08d}")
        for n in range(review.REVIEW_PAGE + 7)
    ]
    client.force_login(pb)
    first = client.get(reverse("review")).content.decode()
    assert first.count('<li class="recording ') == review.REVIEW_PAGE
    assert f"+316{0:08d}" in first and f"+316{review.REVIEW_PAGE - 1:08d}" in first
    assert f"+316{review.REVIEW_PAGE:08d}" not in first
    more = re.search(r'<li class="more" hx-get="([^"]+)"', first)
    assert more is not None
    lifecycle.keep_recording(recording=made[0], acting_user=pb)  # decided meanwhile: the next page is unmoved
    rest = client.get(html.unescape(more.group(1)), headers=HX).content.decode()
    assert rest.count('<li class="recording ') == 7
    assert f"+316{review.REVIEW_PAGE:08d}" in rest and f"+316{review.REVIEW_PAGE + 6:08d}" in rest
    assert 'class="more"' not in rest and "<html" not in rest
    # a cursor that is not ours starts from the top, as everywhere
    assert client.get(reverse("review") + "?after=nonsense").status_code == 200


def test_the_home_page_counts_the_calls_to_review_once(client: Client, personas: Personas) -> None:
    """The navigation's count and the home screen's banner come from one count, not one each;
    another page (the plan) still counts for its navigation."""
    pb = personas.playback["days_30"]
    for n in range(3):
        make_recording(pb, started_at=timezone.now() - dt.timedelta(hours=n + 1), with_audio=False)
    client.force_login(pb)

    def counts(url: str) -> tuple[str, int]:
        with CaptureQueriesContext(connection) as captured:
            page = client.get(url).content.decode()
        return page, sum(
            1
            for q in captured.captured_queries
            if "COUNT(*)" in q["sql"] and '"recordings_recording"' in q["sql"]
        )

    home, counted = counts(reverse("home"))
    assert '<span class="count has-items">3</span>' in home and 'id="review-banner"' in home
    assert counted == 1
    plan, counted = counts(reverse("plan"))
    assert '<span class="count has-items">3</span>' in plan
    assert counted >= 1
