"""Browser tests of the management console (issue 16), Dutch first, then English: a product
change with its consequences and confirmation, the people list, the audit log in sentences.
Phone (390x844, touch) and desktop (1280x800); no console error, axe clean; screenshots."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation
from django.utils.formats import date_format

from recordings import usage
from recordings.models import Call, Recording
from tenants.models import PlaybackSubscription
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.portal.test_browser import DESKTOP, TALL_PHONE, browser, people, session  # noqa: F401
from tests.portal.test_calls_console import make_call

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

SAID = {
    "nl": "{n} bewaarde opnames van {who} worden op {day} verwijderd",
    "en": "{n} saved recordings of {who} will be deleted on {day}",
}
AUDIT = {
    "nl": "heeft het product van {who} gewijzigd van Playback 100.000 minuten naar geen product",
    "en": "changed the product of {who} from Playback 100,000 minutes to no product",
}


@pytest.mark.parametrize("language", ["nl", "en"])  # Dutch first
def test_product_change_with_its_consequences_then_the_audit_log(
    session: Any,  # noqa: F811
    people: Personas,  # noqa: F811
    language: str,
) -> None:
    admin = people.admin
    admin.first_name, admin.last_name, admin.language = "Anna", "de Vries", language
    admin.save()
    piet = people.playback["minutes_100k"]
    piet.first_name, piet.last_name, piet.pbx_id = "Piet", "Peters", "29901"
    piet.save()
    for hours in (2, 30):
        make_recording(piet, saved=True, started_at=timezone.now() - dt.timedelta(hours=hours))
    who = f"Piet Peters ({piet.username})"

    phone = session(viewport=TALL_PHONE, has_touch=True, is_mobile=True)
    phone.login(admin.username)
    page = phone.page
    page.click("a[href='/manage/']")
    page.wait_for_url("**/manage/overview/")
    page.click("nav.subnav a[href='/manage/users/']")
    page.wait_for_url("**/manage/users/")
    page.fill("input[name=q]", "Peters")
    page.locator("form[role=search] button[type=submit]").click()
    page.wait_for_url("**q=Peters**")
    assert page.locator("table.people tbody tr").count() == 1
    assert who in page.locator("table.people").inner_text()
    page.select_option(f"#product-{piet.pk}", "")
    page.locator(f"form:has(#product-{piet.pk}) button").click()
    page.wait_for_selector("#consequences")
    with translation.override(language):
        day = date_format(timezone.localdate(timezone.now() + dt.timedelta(days=30)), "DATE_FORMAT")
    assert SAID[language].format(n=2, who=who, day=day) in page.locator("#consequences").inner_text()
    with tenant_scope(people.tenant_a):  # step one changed nothing
        assert PlaybackSubscription.objects.filter(user=piet).exists()
    assert not phone.axe()
    phone.shot(f"manage-product-confirm-{language}-phone")
    page.locator("form:has(input[name=confirm]) button").click()
    page.wait_for_selector(".messages")
    with tenant_scope(people.tenant_a):
        assert not PlaybackSubscription.objects.filter(user=piet).exists()
        due = {timezone.localdate(r.expires_at) for r in Recording.objects.filter(owner=piet, saved=True)}
    assert due == {timezone.localdate(timezone.now() + dt.timedelta(days=30))}
    phone.assert_clean()

    # The same browser at a desktop's size (an admin's second sign-in would need the next
    # authenticator code: the one just used is refused as a replay).
    desk = phone
    page.set_viewport_size(DESKTOP)
    page.goto("/manage/users/")
    assert not desk.axe()
    desk.shot(f"manage-people-{language}-desktop")
    page.goto("/manage/audit/")
    page.select_option("select[name=kind]", "people")
    page.locator("form[role=search] button[type=submit]").click()
    page.wait_for_url("**kind=people**")
    table = page.locator("table.audit").inner_text()
    assert f"Anna de Vries ({admin.username}) " + AUDIT[language].format(who=who) in table
    assert "manage.user.product" not in table
    assert not desk.axe()
    desk.shot(f"manage-audit-{language}-desktop")
    with page.expect_download() as download:
        page.locator("form[action*='export'] button").click()
    body = Path(download.value.path()).read_text(encoding="utf-8")
    assert AUDIT[language].format(who=who) in body
    desk.assert_clean()


@pytest.mark.parametrize("language", ["nl", "en"])  # Dutch first
def test_overview_chart_drawn_with_the_databases_numbers(
    session: Any,  # noqa: F811
    people: Personas,  # noqa: F811
    language: str,
) -> None:
    admin = people.admin
    admin.language = language
    admin.save()
    user = people.users["always"]
    for days_ago, state, n in ((0, "recorded", 3), (0, "failed", 1), (1, "discarded", 2), (5, "recorded", 4)):
        for _n in range(n):
            make_call(user, state=state, minutes_ago=60 * 24 * days_ago + 5, error_code="audio_missing")
    usage.rebuild(people.tenant_a.pk)  # the calls were written directly, not by the capture
    phone = session(viewport=TALL_PHONE, has_touch=True, is_mobile=True)
    phone.login(admin.username)
    page = phone.page
    page.click("a[href='/manage/']")
    page.wait_for_url("**/manage/overview/")
    page.wait_for_selector("#calls-chart[data-drawn='30'] canvas")
    size = page.eval_on_selector("#calls-chart canvas", "c => [c.width, c.height]")
    assert size[0] > 200 and size[1] > 100
    # the chart's numbers and the table's are the database's
    data = json.loads(page.locator("#calls-chart-data").text_content() or "{}")
    page.click("#calls-title ~ details summary")
    cells = page.eval_on_selector_all(
        "#calls-per-day tbody tr",
        "rows => rows.map(r => [r.querySelector('time').getAttribute('datetime'),"
        " ...[...r.querySelectorAll('td')].map(td => Number(td.textContent))])",
    )
    zone = timezone.get_current_timezone()
    with tenant_scope(people.tenant_a):
        for day, recorded, discarded, failed in cells:
            start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time.min, zone)
            calls = Call.objects.filter(started_at__gte=start, started_at__lt=start + dt.timedelta(days=1))
            counted = (
                calls.filter(state__in=["recorded", "deleted"]).count(),
                calls.filter(state="discarded").count(),
                calls.filter(state="failed").count(),
            )
            assert (recorded, discarded, failed) == counted, day
            i = data["days"].index(day)
            assert (data["recorded"][i], data["discarded"][i], data["failed"][i]) == counted
    assert sum(row[1] for row in cells) == 7 and sum(row[3] for row in cells) == 1
    assert not phone.axe()
    phone.shot(f"manage-overview-{language}-phone")
    page.set_viewport_size(DESKTOP)
    page.reload()
    page.wait_for_selector("#calls-chart[data-drawn='30'] canvas")
    assert not phone.axe()
    phone.shot(f"manage-overview-{language}-desktop")
    page.goto("/manage/calls/")
    assert page.locator("table.calls tbody tr").count() == 10
    assert not phone.axe()
    phone.shot(f"manage-calls-{language}-desktop")
    phone.assert_clean()
