"""URLs of the mobile app's API (``/api/v1/``) and its schema (``/api/schema/``, ``/api/docs/``)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView

from hiprecorder.api import ApiDocsView, error_body
from notifications.api import views as devices
from recordings.api import actions, me, rules
from recordings.api import views as recordings
from recordings.transcripts import api as transcripts
from tenants.api import views as tenants

v1: list[URLPattern | URLResolver] = [
    path("auth/login", tenants.LoginView.as_view(), name="login"),
    path("auth/logout", tenants.LogoutView.as_view(), name="logout"),
    path("auth/tokens", tenants.TokenListView.as_view(), name="tokens"),
    path("auth/tokens/<uuid:token_id>", tenants.TokenDetailView.as_view(), name="token"),
    path("me", me.MeView.as_view(), name="me"),
    path("recordings", recordings.RecordingListView.as_view(), name="recordings"),
    path("recordings/<uuid:recording_id>", recordings.RecordingDetailView.as_view(), name="recording"),
    path("recordings/<uuid:recording_id>/keep", actions.KeepView.as_view(), name="recording_keep"),
    path("recordings/<uuid:recording_id>/stream", actions.StreamUrlView.as_view(), name="recording_stream"),
    path(
        "recordings/<uuid:recording_id>/transcript",
        transcripts.TranscriptView.as_view(),
        name="recording_transcript",
    ),
    path("recordings/<uuid:recording_id>/audio", actions.AudioView.as_view(), name="recording_audio"),
    path("recordings/<uuid:recording_id>/labels", actions.LabelListView.as_view(), name="labels"),
    path(
        "recordings/<uuid:recording_id>/labels/<uuid:label_id>",
        actions.LabelDetailView.as_view(),
        name="label",
    ),
    path("recordings/<uuid:recording_id>/comments", actions.CommentListView.as_view(), name="comments"),
    path(
        "recordings/<uuid:recording_id>/comments/<uuid:comment_id>",
        actions.CommentDetailView.as_view(),
        name="comment",
    ),
    path("recordings/<uuid:recording_id>/shares", actions.ShareListView.as_view(), name="shares"),
    path(
        "recordings/<uuid:recording_id>/shares/<uuid:share_id>/revoke",
        actions.ShareRevokeView.as_view(),
        name="share_revoke",
    ),
    path(
        "recordings/<uuid:recording_id>/shares/<uuid:share_id>/opens",
        actions.ShareOpensView.as_view(),
        name="share_opens",
    ),
    path("labels", actions.LabelSuggestionsView.as_view(), name="label_suggestions"),
    path("devices", devices.DeviceListView.as_view(), name="devices"),
    path("devices/<uuid:device_id>", devices.DeviceDetailView.as_view(), name="device"),
    path("rules", rules.RuleListView.as_view(), name="rules"),
    path("rules/<uuid:rule_id>", rules.RuleDetailView.as_view(), name="rule"),
    path("team", recordings.TeamView.as_view(), name="team"),
]


@csrf_exempt  # changes nothing, for any method; the API is token-authenticated, not by cookie
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Anything else under /api/ (an unknown path, an id that is not a UUID): the API's 404, in
    the API's error shape, not the portal's HTML page."""
    return JsonResponse(error_body("not_found", "Not found."), status=404)


urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", include((v1, "api"), namespace="api")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^(?P<rest>[\s\S]*)$", not_found, name="api-not-found"),  # [\s\S]: also newlines
]
