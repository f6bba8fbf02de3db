"""The processing register prints as a document (the browser's "save as PDF" is the PDF export):
Chromium renders it with print media, without the portal's navigation or buttons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from recordings import privacy
from tests.base import PASSWORD, Personas, make_personas, totp_code
from tests.browser import HAVE_CHROMIUM, chromium_beside_live_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # The live server's thread leaves its SQLite connection to the garbage collector.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

if not HAVE_CHROMIUM:  # pragma: no cover - the machines of this project have it
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_beside_live_server() as launched:
        yield launched


def _visible(page: Any, selector: str) -> bool:
    return page.eval_on_selector(selector, "e => e.getBoundingClientRect().height > 0")


def test_the_register_document_prints_without_the_portal_around_it(browser: Any, live_server: Any) -> None:
    people: Personas = make_personas()
    privacy.update_register(
        tenant=people.tenant_a,
        acting_user=people.admin,
        purpose="Quality of customer service",
        sub_processors="SeaweedFS storage at the supplier",
    )
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        page.goto("/accounts/login/")
        page.fill("input[name=login]", people.admin.username)
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(lambda url: "/accounts/login" not in url)
        if "/2fa/" in page.url:
            page.fill("input[name=code]", totp_code(people.admin))
            page.press("input[name=code]", "Enter")
            page.wait_for_url(lambda url: "/2fa/" not in url)
        page.goto(reverse("privacy:register_document"))

        # On screen: the portal's bar and the print button, which opens the print dialog.
        assert _visible(page, ".topbar") and _visible(page, "[data-print]")
        page.evaluate("window.print = () => { window.printed = true; }")
        page.click("[data-print]")
        assert page.evaluate("window.printed === true")

        # Printed: only the document, black on white.
        page.emulate_media(media="print")
        assert not _visible(page, ".topbar")
        assert not _visible(page, "[data-print]")
        assert _visible(page, ".document h1")
        assert (
            page.eval_on_selector("body", "e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
        )
        assert page.eval_on_selector(".document h2", "e => getComputedStyle(e).breakAfter") == "avoid"
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF")
        assert b"/Type /Page" in pdf or b"/Type/Page" in pdf
        csp = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
        assert not csp, csp
    finally:
        context.close()
