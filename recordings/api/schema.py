"""The OpenAPI description of the app's recording actions (``recordings/api/actions.py``): one
``extend_schema`` decorator per operation, named after its view and method, so the views read as
code and this module as the API's documentation."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)

from hiprecorder.api import error_body, error_response, errors
from recordings.api.serializers import (
    CommentEditSerializer,
    CommentInputSerializer,
    CommentSerializer,
    IssuedShareSerializer,
    LabelInputSerializer,
    LabelSerializer,
    RecordingDetailSerializer,
    ShareInputSerializer,
    ShareOpenSerializer,
    ShareSerializer,
    StreamUrlSerializer,
)

TAG_DECIDE = "Keep or delete"
TAG_PLAY = "Playback"
TAG_LABELS = "Labels"
TAG_COMMENTS = "Comments"
TAG_SHARES = "Share links"
_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_USER = {"id": "0f8fad5b-d9cb-469f-a165-70867728950e", "username": "anna", "display_name": "Anna de Vries"}


KEEP_POST = extend_schema(
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


RECORDING_DELETE_DELETE = extend_schema(
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


STREAM_URL_POST = extend_schema(
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
                OpenApiExample("no_audio", value=error_body("no_audio", "This recording has no audio (yet)."))
            ],
        ),
    },
)


AUDIO_GET = extend_schema(
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


_LABEL = {
    "id": "9b2e4f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "name": "complaint",
    "automatic": False,
    "created_at": "2026-11-29T10:00:00+01:00",
}
_AUTOMATIC_LABEL = {
    "id": "1c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f",
    "name": "opzeggen",
    "automatic": True,
    "created_at": "2026-11-29T09:16:02+01:00",
}


LABEL_LIST_GET = extend_schema(
    tags=[TAG_LABELS],
    operation_id="labels_list",
    summary="A recording's labels",
    responses={
        200: OpenApiResponse(
            LabelSerializer(many=True), examples=[OpenApiExample("Labels", value=[_AUTOMATIC_LABEL, _LABEL])]
        ),
        **errors(401, 403, 404),
    },
    description=(
        "Labels are shared: everybody who may hear the recording sees and edits them. A label with "
        "`automatic: true` was put by one of the customer's keyword alerts when the transcript was "
        "stored (the portal shows it with “(trefwoordmelding)”); it can be removed like any label."
    ),
)


LABEL_LIST_POST = extend_schema(
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


LABEL_DETAIL_DELETE = extend_schema(
    tags=[TAG_LABELS],
    operation_id="labels_remove",
    summary="Take a label off a recording",
    responses={204: None, **errors(401, 403, 404)},
)


LABEL_SUGGESTIONS_GET = extend_schema(
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


_COMMENT = {
    "id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
    "text": "Customer asks for a callback about the invoice.",
    "position_ms": 65000,
    "author": _USER,
    "created_at": "2026-11-29T10:05:00+01:00",
    "updated_at": "2026-11-29T10:05:00+01:00",
}


COMMENT_LIST_GET = extend_schema(
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


COMMENT_LIST_POST = extend_schema(
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


COMMENT_DETAIL_PATCH = extend_schema(
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


COMMENT_DETAIL_DELETE = extend_schema(
    tags=[TAG_COMMENTS],
    operation_id="comments_delete",
    summary="Remove a comment (its author or the recording's owner)",
    responses={204: None, **errors(401, 403, 404)},
)


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


SHARE_LIST_GET = extend_schema(
    tags=[TAG_SHARES],
    operation_id="shares_list",
    summary="The share links of one of the user's recordings",
    description="Newest first, revoked and expired ones included (with `active` false). Owner only.",
    responses={
        200: OpenApiResponse(ShareSerializer(many=True), examples=[OpenApiExample("Shares", value=[_SHARE])]),
        **errors(401, 403, 404),
    },
)


SHARE_LIST_POST = extend_schema(
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


SHARE_REVOKE_POST = extend_schema(
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


SHARE_OPENS_GET = extend_schema(
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
