"""Browser tests of the review view, the live lists, swipe to keep and the plan page: Chromium
through Playwright against the live server, Dutch first then English, on a touch phone (390x844)
and a desktop (1280x800); any console error or serious/critical axe finding fails."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from recordings import lifecycle
from recordings.models import Recording
from tests.base import Personas
from tests.factories import make_recording
from tests.portal.test_browser import (  # the shared browser, personas and session fixtures
    DESKTOP,
    TALL_PHONE,
    browser,
    people,
    session,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]
_ = (browser, people, session)  # fixtures used by name

WORDS = {
    "nl": {"review": "Te beoordelen", "nothing": "Niets te beoordelen", "processing": "Wordt verwerkt"},
    "en": {"review": "To review", "nothing": "Nothing to review", "processing": "Processing"},
}


def _arrive(owner: Any, number: str) -> Recording:
    """A call that ended now, handed to the lifecycle as the capture does when it is stored."""
    rec = make_recording(owner, started_at=timezone.now() - dt.timedelta(seconds=30), remote_number=number)
    Recording.objects.unscoped().filter(pk=rec.pk).update(expires_at=None, expiry_rule="")
    rec.refresh_from_db()
    return lifecycle.on_recording_ready(rec)


def _swipe(s: Any, selector: str, direction: int) -> None:
    """A finger drag of 120 px across the row: ``direction`` 1 to the right, -1 to the left."""
    page = s.page
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    x0 = box["x"] + box["width"] / 2
    cdp = s.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y}]})
    for step in range(1, 11):
        x = x0 + direction * 12 * step
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


@pytest.mark.parametrize("language", ["nl", "en"])  # Dutch first
def test_review_keep_delete_live_arrival_swipe_and_plan(
    session: Any, people: Personas, language: str
) -> None:
    words = WORDS[language]
    pb = people.playback["days_30"]
    pb.language = language
    pb.save(update_fields=["language"])
    now = timezone.now()
    first = make_recording(pb, started_at=now - dt.timedelta(hours=2), remote_number="+31611110001")
    second = make_recording(pb, started_at=now - dt.timedelta(hours=1), remote_number="+31611110002")
    make_recording(pb, saved=True, started_at=now - dt.timedelta(hours=5), remote_number="+31611110003")
    phone = session(viewport=TALL_PHONE, has_touch=True, is_mobile=True)
    phone.login(pb.username)
    page = phone.page
    found: dict[str, Any] = {}

    # --- the review view: newest first, keep and delete in place ------------------------------
    page.goto("/review/")
    assert page.locator("h1").inner_text() == words["review"]
    assert page.locator("#nav-review .count").inner_text() == "2"
    rows = page.locator("#review-list li.recording")
    assert rows.count() == 2 and "+31611110002" in rows.nth(0).inner_text()
    found["review-phone"] = phone.axe()
    phone.shot(f"review-phone-{language}")
    page.evaluate("window.__stayed = true")  # gone if the page reloads
    page.locator(f"#review-{second.pk} button.keep").click()
    page.wait_for_selector(f"#review-{second.pk}", state="detached")
    assert page.locator("#nav-review .count").inner_text() == "1"
    page.locator(f"#review-{first.pk} button.danger").click()
    page.wait_for_selector(f"#review-{first.pk}", state="detached")
    assert page.locator("#nav-review .count").inner_text() == "0"
    second.refresh_from_db()
    assert second.saved
    assert Recording.objects.unscoped().get(pk=first.pk).is_deleted
    page.wait_for_selector(f"text={words['nothing']}", timeout=6000)  # the next poll

    # --- a new call arrives while the page is open: it appears without a reload ---------------
    arrived = _arrive(pb, "+31622220001")
    page.wait_for_selector(f"#review-{arrived.pk}", timeout=6000)
    assert page.locator("#nav-review .count").inner_text() == "1"
    assert page.evaluate("window.__stayed === true")

    # --- home: the same count, live rows, swipe to keep lands in the player --------------------
    page.goto("/")
    assert page.locator("#review-banner a").count() == 1
    page.evaluate("window.__stayed = true")
    later = _arrive(pb, "+31622220002")
    page.wait_for_selector("text=+31622220002", timeout=6000)
    assert page.evaluate("window.__stayed === true")
    assert "2" in page.locator("#review-banner").inner_text()
    found["home-phone"] = phone.axe()
    phone.shot(f"home-phone-{language}")
    # swipe left: "delete" is uncovered; choosing it offers an undo, which keeps the row
    gone = 'li.recording[data-swipe-keep]:has-text("+31622220001")'
    _swipe(phone, gone, -1)
    page.wait_for_selector(".recording.swiped-left .swipe-delete", state="visible")
    page.locator(".recording.swiped-left .swipe-delete").click()
    page.locator(f"{gone} [data-undo]").click()
    page.wait_for_timeout(5500)
    assert page.locator(gone).is_visible()
    assert not Recording.objects.unscoped().get(pk=arrived.pk).is_deleted
    # ... and without the undo it is deleted after a few seconds
    _swipe(phone, gone, -1)
    page.locator(".recording.swiped-left .swipe-delete").click()
    assert page.locator(f"{gone} .undo").is_visible()
    page.wait_for_selector(gone, state="detached", timeout=8000)
    assert Recording.objects.unscoped().get(pk=arrived.pk).is_deleted
    # swipe right: "keep it" is uncovered; choosing it keeps the call and opens the player
    _swipe(phone, 'li.recording[data-swipe-keep]:has-text("+31622220002")', 1)
    page.wait_for_selector(".recording.swiped .swipe-keep", state="visible")
    page.locator(".recording.swiped .swipe-keep").click()
    page.wait_for_url(f"**/r/{later.pk}/")
    later.refresh_from_db()
    assert later.saved
    assert page.locator("article.player.colour-dark_blue").count() == 1

    # --- my plan ---------------------------------------------------------------------------
    page.goto("/plan/")
    assert "+31611110002" in page.content()  # the saved one (30 days) is deleted next
    assert page.evaluate("document.documentElement.scrollWidth") <= TALL_PHONE["width"]  # no sideways scroll
    found["plan-phone"] = phone.axe()
    phone.shot(f"plan-phone-{language}")

    # --- the desktop -------------------------------------------------------------------------
    page.set_viewport_size(DESKTOP)
    for path, name in (("/", "home"), ("/review/", "review"), ("/plan/", "plan")):
        page.goto(path)
        found[f"{name}-desktop"] = phone.axe()
        phone.shot(f"{name}-desktop-{language}")
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    bad = {name: v for name, v in found.items() if v}
    assert not bad, json.dumps(bad, indent=1)
    phone.assert_clean()
