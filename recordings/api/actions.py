"""What the app does to a recording: keep or delete it, play it, label, comment and share it.

Every change goes through the portal's and the lifecycle's services (``recordings.lifecycle``,
``recordings.social``, ``recordings.streaming``); the views only find the recording for the user
(``recordings.access``: another tenant's, a deleted one and one the user may not hear are the
same 404) and translate the services' answers. Their OpenAPI description is in ``recordings/api/schema.py``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from hiprecorder.api import ApiError, TenantAPIView
from hiprecorder.http import CustomerApiRequest
from recordings import lifecycle, social, streaming
from recordings.access import get_recording_for_user, may_manage
from recordings.api import schema
from recordings.api.serializers import (
    CommentEditSerializer,
    CommentInputSerializer,
    CommentSerializer,
    LabelInputSerializer,
    LabelSerializer,
    RecordingDetailSerializer,
    ShareInputSerializer,
    ShareOpenSerializer,
    ShareSerializer,
)
from recordings.models import Comment, Recording, ShareLink


def _owned(request: CustomerApiRequest, recording_id: uuid.UUID) -> Recording:
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
    @schema.KEEP_POST
    def post(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        try:
            kept = lifecycle.keep_recording(recording=recording, acting_user=request.user)
        except lifecycle.RecordingGone as gone:
            raise _gone(gone) from None
        kept.owner = request.user
        return Response(RecordingDetailSerializer(kept).data)


class RecordingDeleteMixin:
    @schema.RECORDING_DELETE_DELETE
    def delete(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        try:
            lifecycle.delete_recording(recording=recording, acting_user=request.user)
        except lifecycle.RecordingGone as gone:
            raise _gone(gone) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- playback ---------------------------------------------------------------------------------


class StreamUrlView(TenantAPIView):
    @schema.STREAM_URL_POST
    def post(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        if not recording.storage_key:
            raise ApiError(409, "no_audio", "This recording has no audio (yet).")
        token = streaming.issue_stream_token(user=request.user, recording=recording, api_token=request.auth)
        path = reverse("api:recording_audio", args=[recording.pk])
        return Response(
            {
                "url": request.build_absolute_uri(f"{path}?t={token}"),
                "expires_at": timezone.now() + timedelta(seconds=streaming.stream_ttl_seconds()),
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

    @schema.AUDIO_GET
    def get(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> HttpResponseBase:
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


class LabelListView(TenantAPIView):
    @schema.LABEL_LIST_GET
    def get(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        return Response(LabelSerializer(recording.labels.all(), many=True).data)

    @schema.LABEL_LIST_POST
    def post(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        data = _valid(LabelInputSerializer, request)
        label = social.add_label(recording=recording, name=data["name"], acting_user=request.user)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetailView(TenantAPIView):
    @schema.LABEL_DETAIL_DELETE
    def delete(self, request: CustomerApiRequest, recording_id: uuid.UUID, label_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        label = get_object_or_404(recording.labels, pk=label_id)
        social.remove_label(label=label, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelSuggestionsView(TenantAPIView):
    @schema.LABEL_SUGGESTIONS_GET
    def get(self, request: CustomerApiRequest) -> Response:
        prefix = request.query_params.get("prefix", "")[:40]
        return Response(social.label_suggestions(user=request.user, prefix=prefix, limit=50))


# --- comments ---------------------------------------------------------------------------------


def _valid(serializer_class: type[serializers.Serializer], request: CustomerApiRequest) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _comment_of(recording: Recording, comment_id: uuid.UUID) -> Comment:
    return get_object_or_404(recording.comments.select_related("author", "recording"), pk=comment_id)


class CommentListView(TenantAPIView):
    @schema.COMMENT_LIST_GET
    def get(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        comments = recording.comments.select_related("author")
        return Response(CommentSerializer(comments, many=True).data)

    @schema.COMMENT_LIST_POST
    def post(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
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
    @schema.COMMENT_DETAIL_PATCH
    def patch(self, request: CustomerApiRequest, recording_id: uuid.UUID, comment_id: uuid.UUID) -> Response:
        comment = _comment_of(get_recording_for_user(request.user, recording_id), comment_id)
        data = _valid(CommentEditSerializer, request)
        comment = social.edit_comment(comment=comment, text=data["text"], acting_user=request.user)
        return Response(CommentSerializer(comment).data)

    @schema.COMMENT_DETAIL_DELETE
    def delete(self, request: CustomerApiRequest, recording_id: uuid.UUID, comment_id: uuid.UUID) -> Response:
        comment = _comment_of(get_recording_for_user(request.user, recording_id), comment_id)
        social.delete_comment(comment=comment, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- share links ------------------------------------------------------------------------------


def _shares_of(recording: Recording) -> Any:
    from django.db.models import Count

    return social.with_pin_failures(recording.share_links.all()).annotate(open_count=Count("opens"))


def _share_of(recording: Recording, share_id: uuid.UUID) -> ShareLink:
    return get_object_or_404(_shares_of(recording), pk=share_id)


class ShareListView(TenantAPIView):
    @schema.SHARE_LIST_GET
    def get(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        return Response(ShareSerializer(_shares_of(recording), many=True).data)

    @schema.SHARE_LIST_POST
    def post(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        data = _valid(ShareInputSerializer, request)
        issued = social.create_share(recording=recording, acting_user=request.user, **data)
        share = _share_of(recording, issued.share.pk)
        url = request.build_absolute_uri(reverse("share_page", args=[issued.token]))
        return Response({"url": url, "share": ShareSerializer(share).data}, status=status.HTTP_201_CREATED)


class ShareRevokeView(TenantAPIView):
    @schema.SHARE_REVOKE_POST
    def post(self, request: CustomerApiRequest, recording_id: uuid.UUID, share_id: uuid.UUID) -> Response:
        recording = _owned(request, recording_id)
        social.revoke_share(share=_share_of(recording, share_id), acting_user=request.user)
        return Response(ShareSerializer(_share_of(recording, share_id)).data)


class ShareOpensView(TenantAPIView):
    @schema.SHARE_OPENS_GET
    def get(self, request: CustomerApiRequest, recording_id: uuid.UUID, share_id: uuid.UUID) -> Response:
        share = _share_of(_owned(request, recording_id), share_id)
        return Response(ShareOpenSerializer(share.opens.all()[:200], many=True).data)
