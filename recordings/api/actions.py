"""What the app does to a recording: keep or delete it, play it, label, comment and share it.

Every change goes through the portal's and the lifecycle's services (``recordings.lifecycle``,
``recordings.social``, ``recordings.streaming``); the views only find the recording for the user
(``recordings.access``: another tenant's, a deleted one and one the user may not hear are the
same 404) and translate the services' answers.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from hiprecorder.api import ApiError, TenantAPIView, error_body, error_response, errors
from recordings import lifecycle, social, streaming
from recordings.access import get_recording_for_user, may_manage
from recordings.api.serializers import PersonSerializer, RecordingDetailSerializer
from recordings.models import Comment, Label, Recording, ShareLink

TAG_DECIDE = "Keep or delete"
TAG_PLAY = "Playback"
TAG_LABELS = "Labels"
TAG_COMMENTS = "Comments"
TAG_SHARES = "Share links"

_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_USER = {"id": "0f8fad5b-d9cb-469f-a165-70867728950e", "username": "anna", "display_name": "Anna de Vries"}


def _owned(request: Request, recording_id: uuid.UUID) -> Recording:
    """A recording the user may hear and manage (keep, delete, share): theirs."""
    recording = get_recording_for_user(request.user, recording_id)
    if not may_manage(request.user, recording):
        raise PermissionDenied("Only the person who made this call can do this.")
    return recording


def _gone(gone: lifecycle.RecordingGone) -> Exception:
    if gone.recording.deleted_at is not None:
        return Http404()
    return ApiError(409, "too_late", gone.message)


# --- keep or delete ---------------------------------------------------------------------------


class KeepView(TenantAPIView):
    @extend_schema(
        tags=[TAG_DECIDE],
        operation_id="recordings_keep",
        summary="Keep a Playback recording (the push prompt's 'keep')",
        description=(
            "The answer to the keep-or-delete prompt. The recording becomes saved (`colour` dark_blue) and "
            "the subscription's retention applies: 30 or 90 days, or the 100,000-minute quota (the oldest "
            "saved ones go first when it is full). Keeping a kept recording changes nothing.\n\n"
            "400: not a Playback recording, or the user no longer has a Playback subscription. "
            "403: not the user's own call (a listener's team member's). 409 `too_late`: its 3 days passed."
        ),
        request=None,
        responses={
            200: OpenApiResponse(
                RecordingDetailSerializer,
                description="Kept",
                examples=[
                    OpenApiExample(
                        "Kept",
                        value={
                            "id": _ID,
                            "kind": "playback",
                            "colour": "dark_blue",
                            "saved": True,
                            "decision_pending": False,
                            "expires_at": "2027-02-27T09:15:41+01:00",
                            "…": "the other fields of GET /api/v1/recordings/{id}",
                        },
                    )
                ],
            ),
            **errors(400, 401, 403, 404),
            409: error_response(
                409,
                "Too late to keep it",
                examples=[
                    OpenApiExample(
                        "too_late",
                        value=error_body(
                            "too_late", "The time to keep this recording has passed; it is being deleted."
                        ),
                    )
                ],
            ),
        },
    )
    def post(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        try:
            kept = lifecycle.keep_recording(recording=recording, acting_user=request.user)
        except lifecycle.RecordingGone as gone:
            raise _gone(gone) from None
        kept.owner = request.user
        return Response(RecordingDetailSerializer(kept).data)


class RecordingDeleteMixin:
    @extend_schema(
        tags=[TAG_DECIDE],
        operation_id="recordings_delete",
        summary="Delete a Playback recording (the push prompt's 'delete')",
        description=(
            "Deletes the recording at once: the audio, the waveform, labels, comments and share links. "
            "Afterwards every URL of the recording answers 404. Standard recordings are kept by the "
            "customer's retention rule and cannot be deleted here (400)."
        ),
        responses={204: None, **errors(400, 401, 403, 404)},
    )
    def delete(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        try:
            lifecycle.delete_recording(recording=recording, acting_user=request.user)
        except lifecycle.RecordingGone as gone:
            raise _gone(gone) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- playback ---------------------------------------------------------------------------------


class StreamUrlSerializer(serializers.Serializer):
    url = serializers.URLField(
        help_text=(
            "Give it to the audio player with the same `Authorization: Bearer <token>` header; "
            "it works for this user and this token only."
        )
    )
    expires_at = serializers.DateTimeField(
        help_text="Ask for a new URL after this (the player may be paused)."
    )
    mime = serializers.CharField(help_text="The audio's type, e.g. audio/mpeg.")
    duration_ms = serializers.IntegerField()


class StreamUrlView(TenantAPIView):
    @extend_schema(
        tags=[TAG_PLAY],
        operation_id="recordings_stream",
        summary="A short-lived streaming URL to play the recording",
        description=(
            "Recordings are streamed, never downloaded. The URL is bound to this user, this recording "
            "and the token that asked for it, works for "
            f"{int(settings.STREAM_URL_TTL.total_seconds())} seconds, answers HTTP Range "
            "requests (seeking) and is served `inline` with `Cache-Control: no-store`. Each URL counts "
            "as one playback in the customer's access log. No download URL exists.\n\n"
            "**The URL alone does not play.** The player must send the same "
            "`Authorization: Bearer <token>` header with every request of the URL (Android: "
            "ExoPlayer/Media3 `DefaultHttpDataSource.Factory().setDefaultRequestProperties`; iOS: "
            "`AVURLAsset` with the `AVURLAssetHTTPHeaderFieldsKey` option). After log-out or revocation "
            "of the token, deactivation, or the end of the customer's service it answers 403."
        ),
        request=None,
        responses={
            200: OpenApiResponse(
                StreamUrlSerializer,
                examples=[
                    OpenApiExample(
                        "URL",
                        value={
                            "url": f"https://app.hiprecorder.nl/api/v1/recordings/{_ID}/audio?t=0f8f…:1tQx…",
                            "expires_at": "2026-11-29T16:07:00+01:00",
                            "mime": "audio/mpeg",
                            "duration_ms": 218000,
                        },
                    )
                ],
            ),
            **errors(401, 403, 404),
            409: error_response(
                409,
                "No audio yet",
                examples=[
                    OpenApiExample(
                        "no_audio", value=error_body("no_audio", "This recording has no audio (yet).")
                    )
                ],
            ),
        },
    )
    def post(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        if not recording.storage_key:
            raise ApiError(409, "no_audio", "This recording has no audio (yet).")
        token = streaming.issue_stream_token(user=request.user, recording=recording, api_token=request.auth)
        path = reverse("api:recording_audio", args=[recording.pk])
        return Response(
            {
                "url": request.build_absolute_uri(f"{path}?t={token}"),
                "expires_at": timezone.now() + timedelta(seconds=streaming._ttl_seconds()),
                "mime": recording.mime or "audio/mpeg",
                "duration_ms": recording.duration_ms,
            }
        )


class AudioView(TenantAPIView):
    """The audio behind a streaming URL: the URL's signed token names the user, the recording and
    the API token that asked for it, and the request must carry that same live API token (a URL
    alone never plays). Every refusal is 403 ``stream_denied``, without a byte; a recording the
    user may not hear (any longer) is 404."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            exc = ApiError(
                403,
                "stream_denied",
                gettext(
                    "Send the app's token of the person who asked for this playback link: "
                    "'Authorization: Bearer <token>'."
                ),
            )
        return super().handle_exception(exc)

    @extend_schema(
        tags=[TAG_PLAY],
        operation_id="recordings_audio",
        summary="The audio (Range requests; from a streaming URL only, with the Authorization header)",
        description=(
            "Not called directly: use the `url` of `POST /api/v1/recordings/{id}/stream`, **with the "
            "same `Authorization: Bearer <token>` header** as the request that asked for it (the native "
            "players of Android and iOS send headers; see that operation). Answers 200 or 206 "
            "(`Range: bytes=…`) with `Content-Disposition: inline`; 403 `stream_denied` when the header "
            "is missing, the token is revoked or another one than the one that asked for the URL, the "
            "user is deactivated or the customer's service ended, or the URL expired or is not the "
            "user's; 404 when the recording is gone or the user may no longer hear it; 416 when the "
            "range lies outside the file or its numbers are absurd (more than 18 digits)."
        ),
        parameters=[
            OpenApiParameter(
                "t", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True, description="The token."
            )
        ],
        responses={
            (200, "audio/mpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="The whole recording"),
            (206, "audio/mpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="The requested range"),
            403: error_response(
                403,
                "No live token of the URL's user and sign-in, expired, or not this user's",
                examples=[
                    OpenApiExample(
                        "expired",
                        value=error_body("stream_denied", "The playback link has expired; reload the page."),
                    ),
                    OpenApiExample(
                        "no_token",
                        value=error_body(
                            "stream_denied",
                            "Send the app's token of the person who asked for this playback link: "
                            "'Authorization: Bearer <token>'.",
                        ),
                    ),
                ],
            ),
            404: error_response(404),
            (416, "audio/mpeg"): OpenApiResponse(description="The range lies outside the file"),
        },
    )
    def get(self, request: Request, recording_id: uuid.UUID) -> HttpResponse:
        try:
            grant = streaming.verify_stream_token(
                request.query_params.get("t", ""),
                recording_id=recording_id,
                user=request.user,
                api_token=request.auth,
            )
        except streaming.StreamTokenError as exc:
            raise ApiError(403, "stream_denied", str(exc)) from None
        recording = get_recording_for_user(request.user, recording_id)  # may they hear it (still)?
        playback = streaming.log_playback(
            request=request._request, recording=recording, grant=grant, via="app", user=request.user
        )
        response = streaming.range_response(request._request, recording)
        return streaming.audit_when_sent(response, request=request._request, playback=playback)


# --- labels -----------------------------------------------------------------------------------


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class LabelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="Up to 40 characters; spaces are tidied.")


_LABEL = {
    "id": "9b2e4f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "name": "complaint",
    "created_at": "2026-11-29T10:00:00+01:00",
}


class LabelListView(TenantAPIView):
    @extend_schema(
        tags=[TAG_LABELS],
        operation_id="labels_list",
        summary="A recording's labels",
        responses={
            200: OpenApiResponse(
                LabelSerializer(many=True), examples=[OpenApiExample("Labels", value=[_LABEL])]
            ),
            **errors(401, 403, 404),
        },
        description="Labels are shared: everybody who may hear the recording sees and edits them.",
    )
    def get(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        return Response(LabelSerializer(recording.labels.all(), many=True).data)

    @extend_schema(
        tags=[TAG_LABELS],
        operation_id="labels_add",
        summary="Label a recording",
        description="Adding a label the recording already has (in any letter case) returns the existing one.",
        request=LabelInputSerializer,
        examples=[OpenApiExample("Label", request_only=True, value={"name": "complaint"})],
        responses={
            201: OpenApiResponse(LabelSerializer, examples=[OpenApiExample("Label", value=_LABEL)]),
            **errors(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        data = _valid(LabelInputSerializer, request)
        label = social.add_label(recording=recording, name=data["name"], acting_user=request.user)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetailView(TenantAPIView):
    @extend_schema(
        tags=[TAG_LABELS],
        operation_id="labels_remove",
        summary="Take a label off a recording",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request: Request, recording_id: uuid.UUID, label_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        label = get_object_or_404(recording.labels, pk=label_id)
        social.remove_label(label=label, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelSuggestionsView(TenantAPIView):
    @extend_schema(
        tags=[TAG_LABELS],
        operation_id="labels_suggestions",
        summary="Labels the user used before (for autocomplete)",
        parameters=[
            OpenApiParameter(
                "prefix", OpenApiTypes.STR, OpenApiParameter.QUERY, description="Starting with this."
            )
        ],
        responses={
            200: OpenApiResponse(
                {"type": "array", "items": {"type": "string"}},
                examples=[OpenApiExample("Suggestions", value=["complaint", "contract", "follow-up"])],
            ),
            **errors(401, 403),
        },
        description="Alphabetical, at most 50.",
    )
    def get(self, request: Request) -> Response:
        prefix = request.query_params.get("prefix", "")[:40]
        return Response(social.label_suggestions(user=request.user, prefix=prefix, limit=50))


# --- comments ---------------------------------------------------------------------------------


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "text", "position_ms", "author", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_author(self, comment: Comment) -> dict[str, Any] | None:
        return PersonSerializer(comment.author).data if comment.author else None


class CommentInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10_000, help_text="Up to 2,000 characters.")
    position_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text="Where in the recording (ms), or null."
    )


class CommentEditSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10_000, help_text="Up to 2,000 characters.")


_COMMENT = {
    "id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
    "text": "Customer asks for a callback about the invoice.",
    "position_ms": 65000,
    "author": _USER,
    "created_at": "2026-11-29T10:05:00+01:00",
    "updated_at": "2026-11-29T10:05:00+01:00",
}


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _comment_of(recording: Recording, comment_id: uuid.UUID) -> Comment:
    return get_object_or_404(recording.comments.select_related("author", "recording"), pk=comment_id)


class CommentListView(TenantAPIView):
    @extend_schema(
        tags=[TAG_COMMENTS],
        operation_id="comments_list",
        summary="A recording's comments, oldest first",
        description="Everybody who may hear the recording reads and writes its comments.",
        responses={
            200: OpenApiResponse(
                CommentSerializer(many=True), examples=[OpenApiExample("Comments", value=[_COMMENT])]
            ),
            **errors(401, 403, 404),
        },
    )
    def get(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        comments = recording.comments.select_related("author")
        return Response(CommentSerializer(comments, many=True).data)

    @extend_schema(
        tags=[TAG_COMMENTS],
        operation_id="comments_add",
        summary="Comment on a recording, optionally at a position",
        request=CommentInputSerializer,
        examples=[
            OpenApiExample(
                "At 1:05",
                request_only=True,
                value={"text": "Customer asks for a callback.", "position_ms": 65000},
            )
        ],
        responses={
            201: OpenApiResponse(CommentSerializer, examples=[OpenApiExample("Comment", value=_COMMENT)]),
            **errors(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        data = _valid(CommentInputSerializer, request)
        comment = social.add_comment(
            recording=recording,
            text=data["text"],
            position_ms=data.get("position_ms"),
            acting_user=request.user,
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentDetailView(TenantAPIView):
    @extend_schema(
        tags=[TAG_COMMENTS],
        operation_id="comments_edit",
        summary="Change a comment's text (its author only)",
        request=CommentEditSerializer,
        examples=[OpenApiExample("Edit", request_only=True, value={"text": "Callback done."})],
        responses={
            200: OpenApiResponse(CommentSerializer, examples=[OpenApiExample("Comment", value=_COMMENT)]),
            **errors(400, 401, 403, 404),
        },
    )
    def patch(self, request: Request, recording_id: uuid.UUID, comment_id: uuid.UUID) -> Response:
        comment = _comment_of(get_recording_for_user(request.user, recording_id), comment_id)
        data = _valid(CommentEditSerializer, request)
        comment = social.edit_comment(comment=comment, text=data["text"], acting_user=request.user)
        return Response(CommentSerializer(comment).data)

    @extend_schema(
        tags=[TAG_COMMENTS],
        operation_id="comments_delete",
        summary="Remove a comment (its author or the recording's owner)",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request: Request, recording_id: uuid.UUID, comment_id: uuid.UUID) -> Response:
        comment = _comment_of(get_recording_for_user(request.user, recording_id), comment_id)
        social.delete_comment(comment=comment, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- share links ------------------------------------------------------------------------------


class ShareSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()
    has_pin = serializers.BooleanField(read_only=True)
    opens = serializers.IntegerField(read_only=True, source="open_count", default=0)
    pin_failures = serializers.IntegerField(
        read_only=True, default=0, help_text="Wrong PINs typed since the current PIN was set."
    )
    last_pin_failure = serializers.DateTimeField(read_only=True, allow_null=True, default=None)
    pin_locked = serializers.BooleanField(
        read_only=True,
        source="is_pin_locked",
        help_text="Ten wrong PINs within an hour lock the link for an hour (set a new PIN in the portal).",
    )

    class Meta:
        model = ShareLink
        fields = [
            "id",
            "created_at",
            "expires_at",
            "revoked_at",
            "active",
            "has_pin",
            "show_party",
            "show_details",
            "show_labels",
            "show_comments",
            "opens",
            "pin_failures",
            "last_pin_failure",
            "pin_locked",
        ]
        read_only_fields = fields

    def get_active(self, share: ShareLink) -> bool:
        return share.is_active()


class ShareInputSerializer(serializers.Serializer):
    expires_in = serializers.ChoiceField(
        choices=list(social.SHARE_EXPIRY_CHOICES), default=social.SHARE_EXPIRY_DEFAULT
    )
    pin = serializers.CharField(
        required=False, allow_blank=True, max_length=20, help_text="4 to 8 digits, optional."
    )
    show_party = serializers.BooleanField(default=False, help_text="Show the other party's number.")
    show_details = serializers.BooleanField(default=True, help_text="Show date and duration.")
    show_labels = serializers.BooleanField(default=False)
    show_comments = serializers.BooleanField(default=False)


class IssuedShareSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The public page; shown only now (only its hash is stored).")
    share = ShareSerializer()


class ShareOpenSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()


_SHARE = {
    "id": "8c7b6a59-4d3e-4f2a-9b1c-0d9e8f7a6b5c",
    "created_at": "2026-11-29T10:00:00+01:00",
    "expires_at": "2026-12-06T10:00:00+01:00",
    "revoked_at": None,
    "active": True,
    "has_pin": False,
    "show_party": False,
    "show_details": True,
    "show_labels": False,
    "show_comments": False,
    "opens": 2,
    "pin_failures": 0,
    "last_pin_failure": None,
    "pin_locked": False,
}


def _shares_of(recording: Recording) -> Any:
    from django.db.models import Count

    return social.with_pin_failures(recording.share_links.all()).annotate(open_count=Count("opens"))


def _share_of(recording: Recording, share_id: uuid.UUID) -> ShareLink:
    return get_object_or_404(_shares_of(recording), pk=share_id)


class ShareListView(TenantAPIView):
    @extend_schema(
        tags=[TAG_SHARES],
        operation_id="shares_list",
        summary="The share links of one of the user's recordings",
        description="Newest first, revoked and expired ones included (with `active` false). Owner only.",
        responses={
            200: OpenApiResponse(
                ShareSerializer(many=True), examples=[OpenApiExample("Shares", value=[_SHARE])]
            ),
            **errors(401, 403, 404),
        },
    )
    def get(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        return Response(ShareSerializer(_shares_of(recording), many=True).data)

    @extend_schema(
        tags=[TAG_SHARES],
        operation_id="shares_create",
        summary="Share a recording: a public, expiring link",
        description=(
            "Only the recording's owner shares it. The page behind the URL streams the recording (never "
            "a download) until the link expires (`expires_in`: 1h, 1d, 7d, 30d) or is revoked; with a "
            "`pin`, visitors must enter it. The URL is shown only in this answer."
        ),
        request=ShareInputSerializer,
        examples=[
            OpenApiExample("A week, with PIN", request_only=True, value={"expires_in": "7d", "pin": "4821"})
        ],
        responses={
            201: OpenApiResponse(
                IssuedShareSerializer,
                examples=[
                    OpenApiExample(
                        "Share",
                        value={"url": "https://app.hiprecorder.nl/s/Qm9vb…", "share": {**_SHARE, "opens": 0}},
                    )
                ],
            ),
            **errors(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        data = _valid(ShareInputSerializer, request)
        issued = social.create_share(recording=recording, acting_user=request.user, **data)
        share = _share_of(recording, issued.share.pk)
        url = request.build_absolute_uri(reverse("share_page", args=[issued.token]))
        return Response({"url": url, "share": ShareSerializer(share).data}, status=status.HTTP_201_CREATED)


class ShareRevokeView(TenantAPIView):
    @extend_schema(
        tags=[TAG_SHARES],
        operation_id="shares_revoke",
        summary="Revoke a share link (it stops working at once)",
        description="Revoking a revoked link changes nothing. Owner only.",
        request=None,
        responses={
            200: OpenApiResponse(
                ShareSerializer,
                examples=[
                    OpenApiExample(
                        "Revoked",
                        value={**_SHARE, "active": False, "revoked_at": "2026-11-29T11:00:00+01:00"},
                    )
                ],
            ),
            **errors(401, 403, 404),
        },
    )
    def post(self, request: Request, recording_id: uuid.UUID, share_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        social.revoke_share(share=_share_of(recording, share_id), acting_user=request.user)
        return Response(ShareSerializer(_share_of(recording, share_id)).data)


class ShareOpensView(TenantAPIView):
    @extend_schema(
        tags=[TAG_SHARES],
        operation_id="shares_opens",
        summary="When a share link was opened",
        description="Newest first, at most 200. Owner only.",
        responses={
            200: OpenApiResponse(
                ShareOpenSerializer(many=True),
                examples=[
                    OpenApiExample(
                        "Opens",
                        value=[
                            {
                                "at": "2026-11-29T12:00:00+01:00",
                                "ip": "203.0.113.7",
                                "user_agent": "Mozilla/5.0",
                            }
                        ],
                    )
                ],
            ),
            **errors(401, 403, 404),
        },
    )
    def get(self, request: Request, recording_id: uuid.UUID, share_id: uuid.UUID) -> Response:
        share = _share_of(_owned(request, recording_id), share_id)
        return Response(ShareOpenSerializer(share.opens.all()[:200], many=True).data)
