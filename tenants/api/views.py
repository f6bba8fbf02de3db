"""Sign-in (username, password, TOTP code → a device token), the devices' tokens, the user."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from hiprecorder.api import (
    ApiError,
    TenantAPIView,
    error_body,
    error_response,
    errors,
    mfa_setup_required,
    must_set_up_mfa,
)
from tenants import services
from tenants.api.serializers import (
    ApiTokenSerializer,
    IssuedTokenSerializer,
    LoginSerializer,
    MeSerializer,
    MeUpdateSerializer,
)
from tenants.api.tokens import issue_api_token, revoke_api_token
from tenants.models import ApiToken, PlaybackTier, User
from tenants.signins import APP, log_failed_sign_in

AUTH_TAG = "Sign-in and devices"


class LoginUsernameThrottle(ScopedRateThrottle):
    """Guessing one account's password from many addresses: count attempts per username too."""

    scope_attr = "throttle_username_scope"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        if not isinstance(username, str) or not username.strip():
            return None
        # Hashed: a username may hold any character, a cache key may not.
        ident = hashlib.sha256(username.strip().lower()[:150].encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle, LoginUsernameThrottle]
    throttle_scope = "api_login"
    throttle_username_scope = "api_login_username"

    @extend_schema(
        tags=[AUTH_TAG],
        operation_id="login",
        summary="Sign in: exchange username and password (and TOTP code) for a device token",
        description=(
            "Send the user's portal username and password and a name for the device. A user who has "
            "turned on two-factor authentication (TOTP) in the portal must also send `totp_code`; without "
            "it the answer is 401 `totp_required` (ask for the code and send everything again).\n\n"
            "The token in the answer is shown only once: keep it in the device's keychain/keystore and "
            "send it as `Authorization: Bearer <token>` on every other request. Each sign-in makes a new "
            "token (one per device), listed in `GET /api/v1/auth/tokens`.\n\n"
            "Attempts are limited per address and per username (429 `throttled` with `Retry-After`)."
        ),
        request=LoginSerializer,
        examples=[
            OpenApiExample(
                "Sign in",
                request_only=True,
                value={
                    "username": "anna",
                    "password": "correct horse battery",
                    "device_name": "Anna's iPhone",
                },
            ),
            OpenApiExample(
                "Sign in with a TOTP code",
                request_only=True,
                value={
                    "username": "anna",
                    "password": "correct horse battery",
                    "totp_code": "123456",
                    "device_name": "Anna's iPhone",
                },
            ),
        ],
        responses={
            201: OpenApiResponse(
                IssuedTokenSerializer,
                description="Signed in",
                examples=[
                    OpenApiExample(
                        "Token",
                        response_only=True,
                        value={
                            "token": "hipapp_1a2b3c4d_XyZ…",
                            "device": {
                                "id": "7d1f2a3e-0b4c-4d5e-8f90-123456789abc",
                                "name": "Anna's iPhone",
                                "created_at": "2026-11-29T16:02:00+01:00",
                                "last_used_at": None,
                                "current": False,
                            },
                        },
                    )
                ],
            ),
            400: error_response(400),
            401: error_response(
                401,
                "Wrong username or password, or a TOTP code is needed or wrong",
                examples=[
                    OpenApiExample(
                        "invalid_credentials",
                        value=error_body("invalid_credentials", "The username or password is wrong."),
                    ),
                    OpenApiExample(
                        "totp_required",
                        value=error_body("totp_required", "Enter the code of your authenticator app."),
                    ),
                    OpenApiExample(
                        "invalid_totp", value=error_body("invalid_totp", "The authenticator code is wrong.")
                    ),
                ],
            ),
            403: error_response(
                403,
                "Support staff, or a customer admin who must first set up an authenticator app in the portal",
                examples=[
                    OpenApiExample(
                        "no_app_access",
                        value=error_body("no_app_access", "Support staff have no app access."),
                    ),
                    OpenApiExample(
                        "mfa_setup_required",
                        value=error_body(
                            "mfa_setup_required",
                            "Customer admins protect their account with an authenticator app: "
                            "set it up in the portal first.",
                        ),
                    ),
                ],
            ),
            429: error_response(429),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None:
            raise ApiError(401, "invalid_credentials", "The username or password is wrong.")
        totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if totp is not None:
            code = data.get("totp_code") or ""
            if not code:
                raise ApiError(401, "totp_required", "Enter the code of your authenticator app.")
            if not TOTP(totp).validate_code(code):
                # The password was right: worth an entry (the password never is in one).
                log_failed_sign_in(username=user.username, via=APP, reason="totp", request=request._request)
                raise ApiError(401, "invalid_totp", "The authenticator code is wrong.")
        if user.tenant_id is None:
            raise ApiError(403, "no_app_access", "Support staff have no app access.")
        if must_set_up_mfa(user):
            raise mfa_setup_required()
        issued = issue_api_token(
            user=user, name=data["device_name"], acting_user=user, request=request._request
        )
        body = {"token": issued.secret, "device": ApiTokenSerializer(issued.token).data}
        return Response(body, status=status.HTTP_201_CREATED)


def _token_of(request: Request, token_id: uuid.UUID) -> ApiToken:
    """The user's own token (another user's or tenant's and a missing one: the same 404)."""
    return get_object_or_404(ApiToken, pk=token_id, user=request.user, revoked_at__isnull=True)


class TokenListView(TenantAPIView):
    @extend_schema(
        tags=[AUTH_TAG],
        operation_id="tokens_list",
        summary="The user's signed-in devices",
        description="Every device token of the signed-in user that is not revoked, newest first.",
        responses={
            200: OpenApiResponse(
                ApiTokenSerializer(many=True),
                examples=[
                    OpenApiExample(
                        "Two devices",
                        value=[
                            {
                                "id": "7d1f2a3e-0b4c-4d5e-8f90-123456789abc",
                                "name": "Anna's iPhone",
                                "created_at": "2026-11-29T16:02:00+01:00",
                                "last_used_at": "2026-11-29T17:40:12+01:00",
                                "current": True,
                            },
                            {
                                "id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                                "name": "Old Android",
                                "created_at": "2026-03-02T09:00:00+01:00",
                                "last_used_at": "2026-06-11T12:00:00+02:00",
                                "current": False,
                            },
                        ],
                    )
                ],
            ),
            **errors(401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        tokens = ApiToken.objects.filter(user=request.user, revoked_at__isnull=True)
        return Response(ApiTokenSerializer(tokens, many=True, context={"request": request}).data)


class TokenDetailView(TenantAPIView):
    @extend_schema(
        tags=[AUTH_TAG],
        operation_id="tokens_revoke",
        summary="Sign a device out (revoke its token)",
        description="Ends the token at once; the device's next request gets 401.",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request: Request, token_id: uuid.UUID) -> Response:
        revoke_api_token(
            token=_token_of(request, token_id), acting_user=request.user, request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutView(TenantAPIView):
    @extend_schema(
        tags=[AUTH_TAG],
        operation_id="logout",
        summary="Sign this device out",
        description="Revokes the token this request was made with.",
        request=None,
        responses={204: None, **errors(401, 403)},
    )
    def post(self, request: Request) -> Response:
        revoke_api_token(token=request.auth, acting_user=request.user, request=request._request, how="logout")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _quota(user: User) -> dict[str, Any] | None:
    """The 100,000-minute tier's use, counted as the lifecycle counts it when it enforces it."""
    from recordings import lifecycle

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
    def get(self, request: Request) -> Response:
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
    def patch(self, request: Request) -> Response:
        serializer = MeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.set_user_language(
            user=request.user, language=serializer.validated_data["language"], acting_user=request.user
        )
        return Response(MeSerializer(user, context={"quota": _quota(user)}).data)
