"""The installable portal in Chromium (Playwright), Dutch first, then English: the manifest and
service worker are valid, a prompt sent through the loopback push service is delivered to the
registered service worker over the DevTools protocol and shown with both buttons, and the
"Bewaren" button decides. The service worker never touches audio (streaming only)."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from notifications.services import register_web_subscription
from recordings import lifecycle
from recordings.models import Recording
from tenants.scoping import tenant_scope
from tests.base import Personas, make_personas
from tests.browser import HAVE_CHROMIUM, chromium_beside_live_server
from tests.lifecycle_factory import make_recording
from tests.notifications.webpush_server import WebPushServer
from tests.portal.test_browser import DESKTOP, SHOTS, TALL_PHONE, Session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

if not HAVE_CHROMIUM:  # pragma: no cover - the machines of this project have it
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_beside_live_server() as launched:
        yield launched


@pytest.fixture
def people(transactional_db: None) -> Personas:
    return make_personas()


def wait_for(page: Any, check: Any, what: str, seconds: float = 10) -> Any:
    """Poll ``check``; waiting through Playwright lets its events (CDP, workers) arrive."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", body[16:24])
    return width, height


@pytest.mark.parametrize(("language", "viewport"), [("nl", TALL_PHONE), ("en", DESKTOP)])
def test_installable_app_push_to_the_service_worker_and_bewaren(
    browser: Any,
    live_server: Any,
    people: Personas,
    webpush_service: WebPushServer,
    language: str,
    viewport: dict[str, int],
) -> None:
    user = people.playback["days_30"]
    user.language = language
    user.save(update_fields=["language"])
    phone = viewport is TALL_PHONE
    s = Session(browser, live_server.url, viewport=viewport, has_touch=phone, is_mobile=phone)
    if language == "en":
        s.context.close()
        s.context = browser.new_context(
            base_url=live_server.url, locale="en-GB", viewport=viewport, has_touch=phone, is_mobile=phone
        )
        s.page = s.context.new_page()
        s.page.on("console", lambda m: s.errors.extend([m.text] if m.type == "error" else []))
        s.page.on("pageerror", lambda e: s.errors.append(str(e)))
    try:
        s.context.grant_permissions(["notifications"], origin=live_server.url)
        s.login(user.username)
        page = s.page
        page.goto(reverse("browser_notifications"))

        # --- installable: the manifest (as Chromium parses it) and an active service worker ----
        script = page.evaluate("navigator.serviceWorker.ready.then(r => r.active.scriptURL)")
        assert script == live_server.url + "/sw.js"
        cdp = s.context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        data = json.loads(manifest["data"])
        assert data["name"] == "HIP Recorder" and data["display"] == "standalone" and data["lang"] == language
        sizes = {(i["sizes"], i["purpose"]) for i in data["icons"]}
        assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
        for icon in data["icons"]:
            got = page.request.get(icon["src"])
            assert got.headers["content-type"] == "image/png"
            assert "x".join(map(str, png_size(got.body()))) == icon["sizes"]
        assert page.locator("link[rel=apple-touch-icon]").count() == 1
        wait_for(page, lambda: page.locator("[data-push-status=off]").count() == 1, "the switch's state")
        assert page.locator("[data-push-on]").is_visible()
        assert not page.locator("[data-push-off]").is_visible()
        assert not s.axe(), s.axe()
        s.shot(f"notifications-browser-{language}")

        # --- a prompt through the loopback push service, delivered to the service worker ------
        registrations: list[dict[str, Any]] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
        cdp.send("ServiceWorker.enable")
        registration = wait_for(
            page,
            lambda: next(
                (
                    r
                    for r in reversed(registrations)  # the latest state of our scope's registration
                    if r["scopeURL"] == live_server.url + "/" and not r.get("isDeleted")
                ),
                None,
            ),
            "the service worker's registration",
        )
        sub = webpush_service.subscription()
        register_web_subscription(user=user, subscription=sub.as_json())
        rec = make_recording(user)
        lifecycle.on_playback_ready(rec)
        [received] = webpush_service.to(sub)  # VAPID verified, payload decrypted
        described = (
            ".then(ns => ns.map(n => ({title: n.title, body: n.body,"
            " actions: n.actions.map(a => [a.action, a.title]), data: n.data})))"
        )
        shown = "self.registration.getNotifications()" + described  # in the worker
        shown_to_page = "navigator.serviceWorker.ready.then(r => r.getNotifications())" + described
        notes: Any = None
        for _attempt in range(3):
            # DevTools hands the decrypted payload to the registered worker as the push service
            # would. On a loaded machine Chromium has been seen to drop one delivery while it
            # (re)starts the worker: the payload is delivered again, as a push service retries; the
            # notification's tag makes a second delivery replace the first, never add one.
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": live_server.url + "/",
                    "registrationId": registration["registrationId"],
                    "data": json.dumps(received.payload),
                },
            )
            try:
                notes = wait_for(
                    page,
                    lambda: page.evaluate(shown_to_page),
                    "the notification",
                )
                break
            except AssertionError:
                continue
        assert notes, "the service worker showed no notification for three deliveries"
        worker = wait_for(
            page,
            lambda: next((w for w in reversed(s.context.service_workers) if w.url.endswith("/sw.js")), None),
            "worker",
        )
        [note] = notes
        keep, delete = ("Bewaren", "Verwijderen") if language == "nl" else ("Keep", "Delete")
        assert note["title"] == ("Gesprek bewaren?" if language == "nl" else "Keep this call?")
        assert note["actions"] == [["keep", keep], ["delete", delete]]
        assert note["data"]["url"] == reverse("player", args=[rec.pk])  # tapping the body: the player

        # --- "Bewaren": the service worker posts the button's token; the recording is kept -----
        worker.evaluate("data => self.hiprecorderDecide(data, 'keep')", note["data"])
        with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
            assert Recording.objects.get(pk=rec.pk).saved
        after = wait_for(
            page, lambda: [n for n in worker.evaluate(shown) if n["title"] != note["title"]], "the answer"
        )
        assert after[0]["title"] == ("Opname bewaard." if language == "nl" else "Recording kept.")
        # The same button again: refused, said so, nothing changed.
        worker.evaluate("data => self.hiprecorderDecide(data, 'delete')", note["data"])
        with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
            assert not Recording.objects.get(pk=rec.pk).is_deleted

        # --- streaming only: audio never comes from or goes into the service worker ------------
        from_worker: list[str] = []
        shell_from_worker: list[str] = []

        def answered(response: Any) -> None:
            if response.from_service_worker and "/r/" in response.url:
                from_worker.append(response.url)
            if response.from_service_worker and "/static/" in response.url:
                shell_from_worker.append(response.url)

        page.on("response", answered)
        page.goto(reverse("player", args=[rec.pk]))
        audio = page.eval_on_selector("audio", "a => a.currentSrc || a.src || a.querySelector('source').src")
        assert "/audio" in audio
        statuses = [
            page.evaluate("url => fetch(url, {headers: {Range: 'bytes=0-'}}).then(r => r.status)", audio),
            page.evaluate("url => fetch(url).then(r => r.status)", audio),
        ]
        assert statuses[0] == 206 and statuses[1] in (200, 206), statuses
        assert from_worker == []
        assert shell_from_worker  # the check sees the worker's answers: the shell came from it
        cached = worker.evaluate(
            "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys()))))"
            ".then(l => l.flat().map(r => new URL(r.url).pathname))"
        )
        assert cached and not [u for u in cached if u.startswith(("/r/", "/s/", "/api/"))], cached
        assert all(u.startswith("/static/") or u == reverse("offline") for u in cached), cached
        s.assert_clean()
    finally:
        s.close()
    assert (SHOTS / f"notifications-browser-{language}.png").exists()
