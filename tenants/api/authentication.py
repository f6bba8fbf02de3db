"""Token authentication and the API's permissions.

Kept apart from ``hiprecorder.api`` because ``REST_FRAMEWORK`` names them as defaults, and DRF
imports its defaults while ``rest_framework.views`` itself is being imported.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tenants.models import ApiToken, Role, User


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``; a missing header leaves the request anonymous (→ 401)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        from tenants.api.tokens import authenticate_api_token

        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        token = authenticate_api_token(raw.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("The token is unknown, revoked or no longer valid.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate header makes DRF answer 401 (not 403) to the unauthenticated.
        return f'{self.keyword} realm="api"'


# --- permissions -----------------------------------------------------------------------------


class IsCustomerUser(BasePermission):
    """Signed in with a token, as a user of a customer (support staff have no app)."""

    message = "This API is for customers' users."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not isinstance(user, User):
            raise exceptions.NotAuthenticated("Sign in: send 'Authorization: Bearer <token>'.")
        return user.tenant_id is not None


def role_permission(*roles: str) -> type[BasePermission]:
    class HasRole(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request: Request, view: Any) -> bool:
            return isinstance(request.user, User) and request.user.role in roles

    HasRole.__name__ = "HasRole_" + "_".join(roles)
    return HasRole


ListenerOnly = role_permission(Role.LISTENER)


ListenerOnly = role_permission(Role.LISTENER)
