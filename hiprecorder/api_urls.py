"""URLs of the mobile app's API (``/api/v1/``) and its schema (``/api/schema/``, ``/api/docs/``)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView

from hiprecorder.api import ApiDocsView
from recordings.api import views as recordings
from tenants.api import views as tenants

v1: list[URLPattern | URLResolver] = [
    path("auth/login", tenants.LoginView.as_view(), name="login"),
    path("auth/logout", tenants.LogoutView.as_view(), name="logout"),
    path("auth/tokens", tenants.TokenListView.as_view(), name="tokens"),
    path("auth/tokens/<uuid:token_id>", tenants.TokenDetailView.as_view(), name="token"),
    path("me", tenants.MeView.as_view(), name="me"),
    path("recordings", recordings.RecordingListView.as_view(), name="recordings"),
    path("recordings/<uuid:recording_id>", recordings.RecordingDetailView.as_view(), name="recording"),
    path("team", recordings.TeamView.as_view(), name="team"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", include((v1, "api"), namespace="api")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]
