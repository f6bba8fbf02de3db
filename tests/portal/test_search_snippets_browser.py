"""Search in what was said, in the browser (Dutch first then English, phone and desktop): the home
list's search finds a recording by its transcript and shows where, the words marked; the
customer admin's Manage → Transcripts page; no console error, no serious axe finding."""

from __future__ import annotations

from typing import Any

import pytest

from recordings.models import PlaybackAccess
from recordings.transcripts.models import Transcript
from tenants.models import Tenant
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

TEXT = (
    "Goedemiddag, u spreekt met de klantenservice. Ik bel omdat ik mijn abonnement wil opzeggen, "
    "want de zoemtoon op de lijn blijft maar terugkomen en de monteur is al twee keer geweest."
)


def _options(viewport: str) -> dict[str, Any]:
    if viewport == "phone":
        return {"viewport": TALL_PHONE, "has_touch": True, "is_mobile": True}
    return {"viewport": DESKTOP}


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_home_search_snippet(session: Any, people: Personas, language: str, viewport: str) -> None:  # noqa: F811
    owner = people.users["always"]
    owner.language = language
    owner.save(update_fields=["language"])
    said = make_recording(owner, seconds=20)
    make_recording(owner, seconds=8)  # said nothing of the kind
    with tenant_scope(said.tenant_id):
        Transcript.objects.create(
            tenant_id=said.tenant_id, recording=said, language="nl", model_name="m",
            text=TEXT, segments=[[0, 20000, TEXT]],
        )  # fmt: skip
    user = session(**_options(viewport))
    user.login(owner.username)
    page = user.page
    page.goto("/")
    assert page.get_attribute("html", "lang") == language
    assert page.locator("li.recording").count() == 2
    page.fill("input[name=q]", "zoemtoon opzeg")
    page.press("input[name=q]", "Enter")
    page.wait_for_function("() => document.querySelectorAll('li.recording').length === 1")
    snippet = page.locator("li.recording .snippet")
    assert snippet.is_visible()
    assert snippet.locator("mark").all_inner_texts() == ["opzeggen", "zoemtoon"]
    hidden = snippet.locator(".visually-hidden").inner_text().strip()
    assert hidden == ("Gezegd in het gesprek:" if language == "nl" else "Said in the call:")
    with tenant_scope(said.tenant_id):  # showing it was reading it
        assert (
            PlaybackAccess.objects.filter(
                recording=said, user=owner, via=PlaybackAccess.Via.TRANSCRIPT
            ).count()
            == 1
        )
    assert not user.axe()
    user.shot(f"home-search-snippet-{viewport}-{language}")
    user.assert_clean()


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_admin_switches_transcripts_on(session: Any, people: Personas, language: str) -> None:  # noqa: F811
    admin = people.admin
    admin.language = language
    admin.save(update_fields=["language"])
    user = session(**_options("phone"))
    user.login(admin.username)
    page = user.page
    page.goto("/manage/transcripts/")
    assert page.locator("h1").inner_text() == ("Transcripties" if language == "nl" else "Transcripts")
    page.check("input[name=transcription_enabled]")
    page.click("main form button[type=submit]")  # no purpose: refused, nothing changed
    page.wait_for_selector(".errorlist")
    assert not Tenant.objects.get(pk=people.tenant_a.pk).transcription_enabled
    assert user.failed == [f"400 POST {page.url}"]  # the refusal answers 400: expected, cleared
    user.errors.clear()
    user.failed.clear()
    page.check("input[name=transcription_enabled]")
    page.fill("textarea[name=transcription_purpose]", "Kwaliteit van de dienstverlening")
    page.check("input[name=redact_email_addresses]")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/manage/transcripts/")
    page.wait_for_selector("input[name=transcription_enabled]:checked")
    tenant = Tenant.objects.get(pk=people.tenant_a.pk)
    assert tenant.transcription_enabled and tenant.redact_email_addresses and not tenant.redact_phone_numbers
    assert not user.axe()
    user.shot(f"manage-transcripts-phone-{language}")
    user.assert_clean()
