"""URLs of the portal."""

from __future__ import annotations

from django.urls import path

from recordings import views

urlpatterns = [
    path("", views.home, name="home"),
]
