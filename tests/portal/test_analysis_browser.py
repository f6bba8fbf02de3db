"""Keyword alerts, one-sided audio and muted spans in the browser (Dutch first then English, phone and
desktop): the listener filters the home list on keyword alerts, the player tells that one party
is silent; no console error, no serious axe finding."""

from __future__ import annotations

from typing import Any

import pytest

from recordings import alerts
from recordings.models import Recording
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

TEXTS = {
    "nl": {
        "filter": "Trefwoordmeldingen",
        "option": "Met een trefwoordmelding",
        "notice": "Er is maar één partij te horen.",
        "chip": "(trefwoordmelding)",
        "muted": "Gedempt 0:01–0:02",
    },
    "en": {
        "filter": "Keyword alerts",
        "option": "With a keyword alert",
        "notice": "Only one party can be heard.",
        "chip": "(keyword alert)",
        "muted": "Muted 0:01–0:02",
    },
}


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_alert_filter_and_one_sided_notice(
    session: Any,  # noqa: F811
    people: Personas,  # noqa: F811
    language: str,
    viewport: str,
) -> None:
    texts = TEXTS[language]
    listener = people.listener
    listener.language = language
    listener.save(update_fields=["language"])
    alerts.add_alert(tenant=people.tenant_a, phrase="opzeggen", acting_user=people.admin)
    alerted = make_recording(people.users["always"], remote_number="+31611110001")
    other = make_recording(people.users["always"], remote_number="+31611110002")
    with tenant_scope(alerted.tenant_id):
        alerts.apply_alerts(recording=alerted, text="Ik wil mijn abonnement opzeggen.")
        Recording.objects.filter(pk=alerted.pk).update(one_sided=True, muted_spans=[[1000, 2500]])
    options = (
        {"viewport": TALL_PHONE, "has_touch": True, "is_mobile": True}
        if viewport == "phone"
        else {"viewport": DESKTOP}
    )
    user = session(**options)
    user.login(listener.username)
    page = user.page
    page.goto("/")
    assert page.get_attribute("html", "lang") == language
    assert page.locator(f"a[href='/r/{other.pk}/']").count() == 1
    page.locator("details.more-filters summary").click()
    assert page.locator("label[for='f-alert']").inner_text() == texts["filter"]
    page.select_option("#f-alert", label=texts["option"])  # htmx swaps the results on change
    page.wait_for_function(f"() => !document.querySelector(\"a[href='/r/{other.pk}/']\")")
    assert page.locator(f"a[href='/r/{alerted.pk}/']").count() == 1
    assert "alert=yes" in page.url
    assert not user.axe()
    user.shot(f"home-keyword-alert-{viewport}-{language}")
    page.locator(f"a[href='/r/{alerted.pk}/']").click()
    page.wait_for_selector(".notice.one-sided")
    assert texts["notice"] in page.locator(".notice.one-sided").inner_text()
    assert texts["chip"] in page.locator("#labels .chip.automatic").inner_text()
    assert page.locator(".waveform .muted-span").count() == 1  # the muted span, shaded
    assert page.locator(".muted-list button").inner_text() == texts["muted"]
    assert not user.axe()
    user.shot(f"player-one-sided-{viewport}-{language}")
    user.assert_clean()
