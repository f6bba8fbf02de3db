"""A recording made through the telephony interface plays in Chromium (Debian's, via Playwright)."""

from __future__ import annotations

import functools
import http.server
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import storages

from recordings.models import Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.browser import HAVE_CHROMIUM, chromium
from tests.recordings.rpi_support import Pbx, opus_bytes, wav_bytes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db,
    pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is not installed"),
]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def record(pbx: Pbx, personas: Personas, body: bytes, content_type: str, user: str) -> Recording:
    started = pbx.start(user)
    call_id, t0 = started.sent["call_id"], started.started
    if user == personas.users["always_pause"].pbx_id:
        assert pbx.event(call_id, "pause", t0 + timedelta(seconds=2)).status_code == 202
        assert pbx.event(call_id, "resume", t0 + timedelta(seconds=3)).status_code == 202
    assert pbx.end(call_id, t0 + timedelta(seconds=6)).status_code == 202
    assert pbx.audio(call_id, body, content_type=content_type).status_code == 201
    assert pbx.get(call_id).json()["state"] == "recorded"
    with tenant_scope(personas.tenant_a):
        return Recording.objects.get(call__pbx_call_id=call_id)


def test_renditions_play_in_chromium(pbx: Pbx, personas: Personas, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    recordings = [
        record(
            pbx,
            personas,
            wav_bytes(6.0, rate=16000, channels=2),
            "audio/wav",
            personas.users["always"].pbx_id,
        ),
        record(pbx, personas, opus_bytes(6.0), "audio/ogg", personas.playback["days_30"].pbx_id),
        record(pbx, personas, wav_bytes(6.0), "audio/wav", personas.users["always_pause"].pbx_id),
    ]
    names = []
    for n, recording in enumerate(recordings):
        with storages["recordings"].open(recording.storage_key) as handle:
            (tmp_path / f"r{n}.mp3").write_bytes(handle.read())
        names.append(f"r{n}.mp3")
    (tmp_path / "index.html").write_text(
        "<!doctype html>" + "".join(f"<audio src='{name}' preload='auto'></audio>" for name in names)
    )
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/index.html")
            page.wait_for_function(
                "() => [...document.querySelectorAll('audio')].every(a => a.readyState === 4 || a.error)",
                timeout=15000,
            )
            states = page.evaluate(
                "() => [...document.querySelectorAll('audio')].map(a => ({ready: a.readyState,"
                " duration: a.duration, error: a.error && a.error.code}))"
            )
    finally:
        server.shutdown()
        server.server_close()
    for state, recording in zip(states, recordings, strict=True):
        assert state["error"] is None
        assert state["ready"] == 4
        assert abs(state["duration"] * 1000 - recording.duration_ms) <= 100
    assert recordings[2].duration_ms < recordings[0].duration_ms  # the paused second is cut out
