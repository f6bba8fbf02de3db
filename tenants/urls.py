"""URLs of the management environment (customer admins), under /manage/."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
