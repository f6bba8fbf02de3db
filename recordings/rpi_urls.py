"""URLs of the telephony interface (``/rpi/v1/``); paths fixed by telephony-interface.md."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from recordings import rpi

app_name = "rpi"
urlpatterns: list[URLPattern] = [
    path("calls", rpi.calls, name="calls"),
    path("calls/<str:call_id>", rpi.call_detail, name="call"),
    path("calls/<str:call_id>/events", rpi.events, name="events"),
    path("calls/<str:call_id>/end", rpi.end, name="end"),
    path("calls/<str:call_id>/audio", rpi.upload, name="audio"),
    # Anything else under /rpi/v1/ is a JSON 404 too, never Django's HTML page.
    # ([\s\S]: also paths holding a newline; Django fullmatches an endpoint pattern ending in "$".)
    re_path(r"^(?P<path>[\s\S]*)$", rpi.not_found, name="not_found"),
]
