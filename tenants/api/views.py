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
from rest_framework import exceptions, status
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
from hiprecorder.http import CustomerApiRequest
from tenants.api.serializers import (
    ApiTokenSerializer,
    IssuedTokenSerializer,
    LoginSerializer,
)
from tenants.api.tokens import issue_api_token, revoke_api_token
from tenants.models import ApiToken
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


def _token_of(request: CustomerApiRequest, token_id: uuid.UUID) -> ApiToken:
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
    def get(self, request: CustomerApiRequest) -> Response:
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
    def delete(self, request: CustomerApiRequest, token_id: uuid.UUID) -> Response:
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
    def post(self, request: CustomerApiRequest) -> Response:
        if request.auth is None:  # pragma: no cover - ApiTokenAuthentication is the only way in
            raise exceptions.NotAuthenticated()
        revoke_api_token(token=request.auth, acting_user=request.user, request=request._request, how="logout")
        return Response(status=status.HTTP_204_NO_CONTENT)
