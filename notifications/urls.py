"""URLs of the notifications pages in the portal."""

from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("outbox/", views.outbox, name="outbox"),
]
