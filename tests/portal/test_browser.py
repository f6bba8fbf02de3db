"""Browser tests: Playwright driving Debian's Chromium against the live server.

They click through the portal as people do, at a phone viewport (360 px) and on a desktop, with
the Content-Security-Policy on, and take screenshots of the main screens: into docs/screenshots/
with ``UPDATE_SCREENSHOTS=1`` (how the committed ones are made), else into a temporary folder,
so a test run leaves the work tree as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from recordings import social
from recordings.models import PlaybackAccess, Recording, ShareOpen
from tenants.models import Licence
from tenants.scoping import tenant_scope
from tests.base import PASSWORD, Personas, make_personas, totp_code
from tests.browser import HAVE_CHROMIUM, chromium_beside_live_server
from tests.factories import make_recording

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # The live server's thread leaves its SQLite connection to the garbage collector.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


SHOTS = (
    Path(settings.BASE_DIR) / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "hiprecorder-screenshots"
)
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 360, "height": 740}
TALL_PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

if not HAVE_CHROMIUM:  # pragma: no cover - the machines of this project have it
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_beside_live_server() as launched:
        yield launched


@pytest.fixture
def people(transactional_db: None) -> Personas:
    return make_personas()


class Session:
    """One browser context (one person's browser), collecting CSP violations and errors."""

    def __init__(self, browser: Any, base: str, **options: Any) -> None:
        self.context = browser.new_context(base_url=base, locale="nl-NL", **options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(  # which resource failed (the console names only the status)
            "response",
            lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.request.method} {r.url}"),
        )
        self.failed: list[str] = []

    def login(self, username: str) -> None:
        self.page.goto("/accounts/login/")
        self.page.fill("input[name=login]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.press("input[name=password]", "Enter")
        self.page.wait_for_url(lambda url: "/accounts/login" not in url)
        if "/2fa/" in self.page.url:  # admins answer with their authenticator app's code
            from tenants.models import User

            self.page.fill("input[name=code]", totp_code(User.objects.get(username=username)))
            self.page.press("input[name=code]", "Enter")
            self.page.wait_for_url(lambda url: "/2fa/" not in url)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def axe(self) -> list[dict[str, Any]]:
        """Serious and critical axe-core violations of the current page."""
        self.page.evaluate(AXE.read_text())
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"]
            if v["impact"] in {"serious", "critical"}
        ]

    def assert_clean(self) -> None:
        csp = [e for e in self.errors if "Content Security Policy" in e or "Refused to" in e]
        assert not csp, csp
        assert not [e for e in self.errors if "Uncaught" in e], self.errors
        assert not self.errors, (self.errors, self.failed)  # no console error of any kind

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session(browser: Any, live_server: Any) -> Iterator[Any]:
    opened: list[Session] = []

    def make(**options: Any) -> Session:
        s = Session(browser, live_server.url, **options)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def _colour(page: Any, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).borderLeftColor")


def test_log_in_home_colours_and_swipe_to_keep_on_a_phone(session: Any, people: Personas) -> None:
    pb = people.playback["days_30"]
    now = timezone.now()
    unsaved = make_recording(pb, started_at=now - dt.timedelta(minutes=20), remote_number="+31612345678")
    make_recording(pb, saved=True, started_at=now - dt.timedelta(hours=3), remote_number="+31201234567")
    phone = session(viewport=PHONE, has_touch=True, is_mobile=True)
    phone.login(pb.username)
    page = phone.page
    assert page.locator(".recording").count() == 2
    light = _colour(page, ".recording.colour-light_blue")
    dark = _colour(page, ".recording.colour-dark_blue")
    assert light == "rgb(142, 202, 230)" and dark == "rgb(29, 63, 143)"
    assert page.locator(".colour-teal").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    phone.shot("home-phone")

    # swipe the unsaved row to the right: "keep" is offered, then the player opens
    row = page.locator(".recording.colour-light_blue")
    row.scroll_into_view_if_needed()  # below the review banner and the legend on a small phone
    box = row.bounding_box()
    y = box["y"] + box["height"] / 2
    cdp = phone.context.new_cdp_session(page)
    x0 = box["x"] + 30
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y}]})
    for step in range(1, 11):
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x0 + 12 * step, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_selector(".recording.swiped")
    assert page.evaluate("document.activeElement.classList.contains('swipe-keep')")  # "Onthouden"
    page.locator(".recording.swiped .swipe-keep").click()
    page.wait_for_url(f"**/r/{unsaved.pk}/")
    unsaved.refresh_from_db()
    assert unsaved.saved
    assert page.locator("article.player.colour-dark_blue").count() == 1
    phone.assert_clean()


@pytest.mark.parametrize("language", ["nl", "en"])  # Dutch first: it is where numbers broke
def test_play_seek_labels_comments(session: Any, people: Personas, language: str) -> None:
    """On a phone, in each language: the waveform and pause marker drawn (numbers the browser can
    read, not "0,2051"), seek, play, and labels and comments edited in place; no console error."""
    owner = people.users["always"]
    owner.language = language
    owner.save(update_fields=["language"])
    rec = make_recording(owner, seconds=20, paused_at=8)
    desk = session(viewport=TALL_PHONE, has_touch=True, is_mobile=True)
    ranges: list[str] = []
    desk.page.on("request", lambda r: "/audio" in r.url and ranges.append(r.headers.get("range", "")))
    desk.login(owner.username)
    page = desk.page
    # The first page after log-in says so, in the person's language, in a list axe accepts.
    assert page.locator("div.messages[role=status] > ul > li").count() == 1
    assert ("Je bent nu ingelogd" in page.content()) == (language == "nl")
    assert not desk.axe()
    page.click(".row-link")
    page.wait_for_url(f"**/r/{rec.pk}/")
    audio = page.locator("audio#audio")
    assert audio.get_attribute("controlslist").startswith("nodownload")
    page.evaluate("document.getElementById('audio').play()")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 0.2")
    # seek by clicking three quarters into the waveform
    wave = page.locator("[data-waveform]").bounding_box()
    page.mouse.click(wave["x"] + wave["width"] * 0.75, wave["y"] + wave["height"] / 2)
    page.wait_for_function("() => document.getElementById('audio').currentTime > 12")
    assert float(page.locator("[data-progress]").get_attribute("width")) > 50
    assert any(r.startswith("bytes=") for r in ranges), ranges
    assert page.get_attribute("html", "lang") == language
    widths = page.eval_on_selector_all(
        "svg.waveform .bars rect", "els => els.map(e => e.width.baseVal.value)"
    )
    assert widths and min(widths) > 0, widths  # every bar drawn
    assert page.locator(".pause-marker").count() == 1
    marker_x = page.eval_on_selector(".pause-marker", "e => e.x1.baseVal.value")
    assert 30 < marker_x < 50  # paused at 8 s of 20: drawn 40 % in
    with tenant_scope(rec.tenant_id):
        assert PlaybackAccess.objects.filter(recording=rec, user=owner).count() == 1

    # labels and comments, edited in place (no page load)
    page.evaluate("window.__marker = 1")
    page.fill("#label-name", "Offerte")
    page.click("#labels button[type=submit]:not(.chip-remove)")
    page.wait_for_selector("#labels .chip:has-text('Offerte')")
    page.evaluate("document.getElementById('audio').pause()")
    page.click("[data-use-position]")
    assert page.input_value("#comment-position").count(":") == 1
    page.fill("#comment-text", "Klant wil een offerte voor 20 toestellen")
    page.click("#comments .comment-form button[type=submit]")
    page.wait_for_selector("#comments .comment-text:has-text('20 toestellen')")
    assert page.evaluate("window.__marker") == 1  # htmx swapped the panels in place
    page.locator("#comments .position").first.click()
    page.wait_for_function("() => !document.getElementById('audio').paused")
    with tenant_scope(rec.tenant_id):
        assert list(rec.labels.values_list("name", flat=True)) == ["Offerte"]
        assert rec.comments.get().position_ms is not None
    desk.shot(f"player-phone-{language}")
    desk.assert_clean()
    assert not desk.errors, desk.errors  # no console error of any kind (the SVG's included)
    assert not desk.axe()


def test_share_link_in_a_fresh_browser_and_revoke(session: Any, people: Personas) -> None:
    owner = people.users["always"]
    rec = make_recording(owner)
    desk = session(viewport=DESKTOP)
    desk.login(owner.username)
    page = desk.page
    page.goto(f"/r/{rec.pk}/")
    page.check("input[name=show_party]")
    page.click("#share .share-form button[type=submit]")
    page.wait_for_selector("#share-url")
    url = page.input_value("#share-url")
    assert page.locator("a[href^='https://wa.me/']").count() == 1
    assert page.locator("a[href^='mailto:']").count() == 1
    assert page.locator("a[href^='sms:']").count() == 1
    desk.shot("share-created")

    stranger = session(viewport=PHONE, has_touch=True, is_mobile=True)
    ranges: list[str] = []
    stranger.page.on("request", lambda r: "/audio" in r.url and ranges.append(r.headers.get("range", "")))
    stranger.page.goto(url)
    assert stranger.page.locator("audio#audio").count() == 1
    assert rec.remote_number in stranger.page.content()  # the sharer chose to show the party
    stranger.page.evaluate("document.getElementById('audio').play()")
    stranger.page.wait_for_function("() => document.getElementById('audio').currentTime > 0.2")
    assert ranges
    stranger.shot("share-page-phone")
    with tenant_scope(rec.tenant_id):
        assert ShareOpen.objects.filter(share__recording=rec).count() == 1

    page.reload()
    assert "1 keer geopend" in page.content()
    page.click("#share .shares button.danger")
    page.wait_for_selector("#share .status:has-text('ingetrokken')")
    response = stranger.page.goto(url)
    assert response.status == 404  # a revoked link: the page says so (the console logs the 404)
    assert stranger.page.locator("audio").count() == 0
    assert "werkt niet meer" in stranger.page.content()
    desk.assert_clean()
    stranger.errors.remove("Failed to load resource: the server responded with a status of 404 (Not Found)")
    stranger.assert_clean()


def test_listener_team_view_with_person_filter(session: Any, people: Personas) -> None:
    a = make_recording(people.users["always"], remote_number="+31611111111")
    b = make_recording(people.users["on_demand"], remote_number="+31622222222")
    make_recording(people.outsider)  # not in the listener's team
    desk = session(viewport=DESKTOP)
    desk.login(people.listener.username)
    page = desk.page
    assert page.locator(".recording.colour-teal").count() == 2
    page.click("summary")
    page.select_option("#f-person", str(people.users["on_demand"].pk))
    page.wait_for_function("() => document.querySelectorAll('.recording').length === 1")
    assert "+31622222222" in page.locator("#results").inner_text()
    assert f"person={people.users['on_demand'].pk}" in page.url  # a plain link too
    assert str(a.pk) not in page.content() and str(b.pk) in page.content()
    desk.shot("team-view-desktop")
    desk.assert_clean()


def test_admin_changes_a_licence_mode(session: Any, people: Personas) -> None:
    target = people.users["always_pause"]
    phone = session(viewport=PHONE, has_touch=True, is_mobile=True)
    phone.login(people.admin.username)
    page = phone.page
    page.click("a[href='/manage/']")
    page.wait_for_url("**/manage/overview/")
    page.click("nav.subnav a[href='/manage/users/']")
    page.wait_for_url("**/manage/users/")
    page.select_option(f"#product-{target.pk}", "licence:on_demand")
    page.locator(f"form:has(#product-{target.pk}) button").click()
    page.wait_for_selector("#consequences")  # step one: what the change does, nothing changed yet
    with tenant_scope(people.tenant_a):
        assert Licence.objects.get(user=target).mode == "always_pause"
    page.locator("form:has(input[name=confirm]) button").click()
    page.wait_for_selector(".messages")
    with tenant_scope(people.tenant_a):
        assert Licence.objects.get(user=target).mode == "on_demand"
    phone.shot("manage-users-phone")
    phone.assert_clean()


def test_axe_finds_no_serious_violation_on_the_main_pages(session: Any, people: Personas) -> None:
    pb = people.playback["days_30"]
    rec = make_recording(pb, paused_at=2)
    make_recording(pb, saved=True)
    social.add_label(recording=rec, name="Klant", acting_user=pb)
    social.add_comment(recording=rec, text="Terugbellen", acting_user=pb, position_ms=1000)
    issued = social.create_share(recording=rec, acting_user=pb, show_labels=True)
    found: dict[str, Any] = {}
    anon, user, admin = session(), session(), session()
    user.login(pb.username)
    admin.login(people.admin.username)  # once: an authenticator code is accepted only once
    for viewport, tag in ((PHONE, "phone"), (DESKTOP, "desktop")):
        for s in (anon, user, admin):
            s.page.set_viewport_size(viewport)
        anon.page.goto("/accounts/login/")
        found[f"login-{tag}"] = anon.axe()
        anon.page.goto(f"/s/{issued.token}")
        found[f"share-{tag}"] = anon.axe()
        user.page.goto("/")
        found[f"home-{tag}"] = user.axe()
        user.page.goto(f"/r/{rec.pk}/")
        found[f"player-{tag}"] = user.axe()
        if tag == "phone":
            user.shot("player-phone")
        for path in (
            "/manage/users/",
            "/manage/teams/",
            "/manage/keys/",
            "/manage/settings/",
            "/manage/audit/",
        ):
            admin.page.goto(path)
            found[f"{path}-{tag}"] = admin.axe()
        if tag == "desktop":
            admin.page.goto("/manage/users/")
            admin.shot("manage-users-desktop")
            user.page.goto("/")
            user.shot("home-desktop")
    bad = {page: v for page, v in found.items() if v}
    assert not bad, json.dumps(bad, indent=1)


def test_keyboard_only_keep(session: Any, people: Personas) -> None:
    pb = people.playback["days_90"]
    rec = make_recording(pb)
    desk = session(viewport=DESKTOP)
    desk.login(pb.username)
    page = desk.page
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('keep')"):
            break
    else:
        pytest.fail("the keep button cannot be reached with the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/r/{rec.pk}/")
    assert Recording.objects.unscoped().get(pk=rec.pk).saved
