"""The transcript in the player (browser, Dutch first then English, phone and desktop): timed
segments, clicking one seeks, the playing one highlighted, search inside the transcript; reading
it is in the access log; no console error, no serious axe finding."""

from __future__ import annotations

from typing import Any

import pytest

from recordings.models import PlaybackAccess
from recordings.transcripts.models import Transcript
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.portal.test_browser import DESKTOP, TALL_PHONE, browser, people, session  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

SEGMENTS = [
    [0, 4000, "Goedemiddag, u spreekt met de klantenservice."],
    [4000, 9000, "Ik bel over de factuur van vorige maand."],
    [9000, 14000, "Mijn rekening is [IBAN], dank u wel."],
    [14000, 20000, "Dan stuur ik u vandaag een nieuwe factuur."],
]


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_transcript_in_the_player(session: Any, people: Personas, language: str, viewport: str) -> None:  # noqa: F811
    owner = people.users["always"]
    owner.language = language
    owner.save(update_fields=["language"])
    rec = make_recording(owner, seconds=20)
    with tenant_scope(rec.tenant_id):
        Transcript.objects.create(
            tenant_id=rec.tenant_id, recording=rec, language="nl", model_name="m",
            text=" ".join(s[2] for s in SEGMENTS), segments=SEGMENTS,
        )  # fmt: skip
    options = (
        {"viewport": TALL_PHONE, "has_touch": True, "is_mobile": True}
        if viewport == "phone"
        else {"viewport": DESKTOP}
    )
    user = session(**options)
    user.login(owner.username)
    page = user.page
    page.goto(f"/r/{rec.pk}/")
    assert page.get_attribute("html", "lang") == language
    heading = page.locator("#transcript-title").inner_text()
    assert heading == ("Transcriptie" if language == "nl" else "Transcript")
    assert page.locator("[data-segment]").count() == 4
    # clicking the third segment's time seeks there, and that segment is highlighted as it plays
    page.locator("[data-segment]").nth(2).locator("[data-seek]").click()
    page.wait_for_function("() => document.getElementById('audio').currentTime >= 9")
    page.wait_for_selector("[data-segment].playing[data-start-ms='9000']")
    assert page.locator("[data-segment].playing").count() == 1
    page.evaluate("document.getElementById('audio').pause()")
    # search inside the transcript: only the segments with the word, the word marked
    page.fill("#transcript-search", "factuur")
    page.wait_for_function("() => document.querySelectorAll('[data-segment]:not([hidden])').length === 2")
    assert page.locator("[data-segment] mark").all_inner_texts() == ["factuur", "factuur"]
    assert page.locator("[data-transcript-count]").inner_text().endswith("2")
    page.fill("#transcript-search", "")
    page.wait_for_function("() => document.querySelectorAll('[data-segment]:not([hidden])').length === 4")
    assert page.locator("[data-segment] mark").count() == 0
    with tenant_scope(rec.tenant_id):
        assert PlaybackAccess.objects.filter(
            recording=rec, user=owner, via=PlaybackAccess.Via.TRANSCRIPT
        ).exists()
    assert not user.axe()
    user.shot(f"player-transcript-{viewport}-{language}")
    user.assert_clean()
