"""The app's ``/api/v1/me``: the signed-in user's profile, language, product and quota.

Here rather than in ``tenants.api`` because the quota is counted by the recordings lifecycle.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response

from hiprecorder.api import TenantAPIView, error_body, error_response, errors
from hiprecorder.http import CustomerApiRequest
from recordings import lifecycle
from tenants import services
from tenants.api.serializers import MeSerializer, MeUpdateSerializer
from tenants.models import PlaybackTier, User


def _quota(user: User) -> dict[str, Any] | None:
    """The 100,000-minute tier's use, counted as the lifecycle counts it when it enforces it."""
    subscription = user.playback_subscription if hasattr(user, "playback_subscription") else None
    if subscription is None or subscription.tier != PlaybackTier.MINUTES_100K:
        return None
    used_ms = lifecycle.saved_usage_ms(user.pk)  # the rule's own count, not a second copy
    return {
        "used_minutes": round(used_ms / 60_000, 1),
        "limit_minutes": lifecycle.QUOTA_MINUTES,
        "warning": used_ms >= lifecycle.QUOTA_MS * lifecycle.QUOTA_WARNING_FRACTION,
    }


ME_EXAMPLE = OpenApiExample(
    "Playback user",
    value={
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "username": "anna",
        "first_name": "Anna",
        "last_name": "de Vries",
        "display_name": "Anna de Vries",
        "role": "user",
        "language": "",
        "effective_language": "nl",
        "tenant": {
            "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "name": "Acme BV",
            "language": "nl",
            "country": "NL",
        },
        "product": {"type": "playback", "mode": None, "tier": "minutes_100k"},
        "quota": {"used_minutes": 1234.5, "limit_minutes": 100000, "warning": False},
    },
)


class MeView(TenantAPIView):
    @extend_schema(
        tags=["Me"],
        operation_id="me",
        summary="The signed-in user: profile, language, product and quota",
        description=(
            "`product.type` says what the home screen shows: `licence` (standard recordings, teal), "
            "`playback` (keep-or-delete prompts; light blue until kept, dark blue once kept) or `none`. "
            "`quota` is filled for the Playback `minutes_100k` tier only."
        ),
        responses={
            200: OpenApiResponse(
                MeSerializer,
                examples=[ME_EXAMPLE],
            ),
            **errors(401, 403),
        },
    )
    def get(self, request: CustomerApiRequest) -> Response:
        user = request.user
        return Response(MeSerializer(user, context={"quota": _quota(user)}).data)

    @extend_schema(
        tags=["Me"],
        operation_id="me_update",
        summary="Change the signed-in user's language",
        description=(
            "The same setting as the portal's language switch: the user's own language for the portal, "
            'the app and push notifications. `""` follows the customer\'s language again '
            "(`effective_language` in the answer says which one applies). Only `language` can be changed "
            "here; everything else about the person is managed by the customer's admin."
        ),
        request=MeUpdateSerializer,
        examples=[
            OpenApiExample("Switch to English", request_only=True, value={"language": "en"}),
            OpenApiExample("Follow the customer's language", request_only=True, value={"language": ""}),
        ],
        responses={
            200: OpenApiResponse(
                MeSerializer, description="The user, as `GET /api/v1/me` shows them", examples=[ME_EXAMPLE]
            ),
            400: error_response(
                400,
                examples=[
                    OpenApiExample(
                        "unknown language",
                        value=error_body(
                            "invalid",
                            "Unknown language de; choose one of: nl, en.",
                            {"language": ["Unknown language de; choose one of: nl, en."]},
                        ),
                    )
                ],
            ),
            **errors(401, 403),
        },
    )
    def patch(self, request: CustomerApiRequest) -> Response:
        serializer = MeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.set_user_language(
            user=request.user, language=serializer.validated_data["language"], acting_user=request.user
        )
        return Response(MeSerializer(user, context={"quota": _quota(user)}).data)
