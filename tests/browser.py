"""Debian's Chromium driven by Playwright, for every browser test: one launch, one set of flags.

The flags: headless as root; no background networking, component updates or sync (this machine's
network is closed, and Chromium's own connections would be refused many at a time); media may play
without a gesture (the player tests press play from script).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
HAVE_CHROMIUM = os.path.exists(CHROMIUM)


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium (Playwright's sync API), closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_beside_live_server() -> Iterator[Any]:
    """:func:`chromium` for tests against Django's live server. Playwright's sync API runs an event
    loop in this thread; the ORM calls the tests make themselves (fixtures, assertions) are still
    plain synchronous calls, so Django's async-safety check is relaxed for the block only."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with chromium() as browser:
            yield browser
        # Collect the live server thread's SQLite connections here, where their ResourceWarning
        # is expected, rather than in whichever test runs the garbage collector next.
        import gc
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gc.collect()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
