"""URLs of the mobile app's API (``/api/v1/``) and its schema (``/api/schema/``, ``/api/docs/``)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
