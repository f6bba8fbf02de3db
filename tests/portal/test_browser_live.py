"""Browser tests of the live lists' merge and the ticking countdown: Chromium through Playwright
against the live server, Dutch first then English, on a touch phone (390x844) and a desktop
(1280x800); any console error or serious/critical axe finding fails.

- A poll that finds changes merges them into the list in place: a new call on top, a kept one
  recoloured, a deleted one gone, and the rows the person scrolled down to (page two) stay.
- "verwijderd over 2 minuten" counts down by itself (no request), in the page's language.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from recordings import lifecycle, listing
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

SIZES = {
    "phone": {"viewport": TALL_PHONE, "has_touch": True, "is_mobile": True},
    "desktop": {"viewport": DESKTOP},
}
COUNTDOWN = {
    "nl": ("verwijderd over 2 minuten", "verwijderd over 1 minuut", "wordt binnenkort verwijderd"),
    "en": ("deleted in 2 minutes", "deleted in 1 minute", "deleted soon"),
}


def _speak(user: Any, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("language", ["nl", "en"])  # Dutch first
def test_a_poll_merges_changes_and_keeps_the_rows_scrolled_to(
    session: Any, people: Personas, language: str, size: str
) -> None:
    pb = people.playback["days_30"]
    _speak(pb, language)
    now = timezone.now()
    rows = [
        make_recording(
            pb,
            started_at=now - dt.timedelta(minutes=10 + n),
            remote_number=f"+316{n:08d}",
            with_audio=False,
            saved=n % 2 == 1,
        )
        for n in range(listing.PAGE_SIZE + 5)
    ]
    s = session(**SIZES[size])
    s.login(pb.username)
    page = s.page
    page.goto("/")
    page.evaluate("window.__stayed = true")  # gone if the page reloads
    # scroll to the end: the second page comes in through the "more" row
    page.locator("li.more").scroll_into_view_if_needed()
    last = rows[-1]
    page.wait_for_selector(f"#rec-{last.pk}", timeout=6000)
    assert page.locator("#results li.recording").count() == len(rows)
    page.locator(f"#rec-{last.pk} .row-link").focus()  # the person is down there

    arrived = make_recording(pb, started_at=now - dt.timedelta(minutes=1), remote_number="+31699990001")
    kept, deleted = rows[0], rows[2]
    lifecycle.keep_recording(recording=kept, acting_user=pb)
    lifecycle.delete_recording(recording=deleted, acting_user=pb)
    page.wait_for_selector(f"#rec-{arrived.pk}", timeout=8000)
    page.wait_for_selector(f"#rec-{deleted.pk}", state="detached", timeout=2000)
    assert page.locator(f"#rec-{kept.pk}.colour-dark_blue").count() == 1
    listed = page.eval_on_selector_all("#results li.recording", "rows => rows.map(r => r.id)")
    assert listed[0] == f"rec-{arrived.pk}"  # on top
    assert f"rec-{last.pk}" in listed and len(listed) == len(rows)  # page two stayed (+1 -1)
    assert len(set(listed)) == len(listed)
    assert page.evaluate("window.__stayed === true")  # no reload
    assert page.evaluate(f"document.activeElement.closest('li').id === 'rec-{last.pk}'")  # focus kept
    assert page.locator("#review-banner").count() == 1
    s.shot(f"home-merged-{size}-{language}")
    found = s.axe()
    assert not found, json.dumps(found, indent=1)
    s.assert_clean()


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("language", ["nl", "en"])  # Dutch first
def test_the_countdown_ticks_by_itself(session: Any, people: Personas, language: str, size: str) -> None:
    pb = people.playback["days_30"]
    _speak(pb, language)
    soon = make_recording(pb, started_at=timezone.now() - dt.timedelta(minutes=5), with_audio=False)
    s = session(**SIZES[size])
    s.login(pb.username)
    page = s.page
    page.clock.install()
    two, one, gone = COUNTDOWN[language]
    start = timezone.now()
    for n, (path, row) in enumerate((("/review/", f"#review-{soon.pk}"), ("/", f"#rec-{soon.pk}"))):
        # the page's clock runs 3 minutes on per round (it stays on across the navigation)
        due = start + dt.timedelta(minutes=2 + 3 * n, seconds=50)
        Recording.objects.unscoped().filter(pk=soon.pk).update(expires_at=due)
        page.goto(path)
        expiry = page.locator(f"{row} .expiry")
        assert expiry.inner_text() == two
        stamp = expiry.get_attribute("data-expires") or ""
        assert dt.datetime.fromisoformat(stamp) == due  # ISO 8601, never localised
        page.clock.run_for(60_000)
        page.wait_for_function(f"document.querySelector('{row} .expiry').textContent === {json.dumps(one)}")
        page.clock.run_for(120_000)
        page.wait_for_function(f"document.querySelector('{row} .expiry').textContent === {json.dumps(gone)}")
        # (the server's clock has not moved: the words came from the page)
    s.shot(f"home-countdown-{size}-{language}")
    found = s.axe()
    assert not found, json.dumps(found, indent=1)
    s.assert_clean()
