"""URLs of the telephony interface (``/rpi/v1/``), filled in by the capture work."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "rpi"
urlpatterns: list[URLPattern] = []
