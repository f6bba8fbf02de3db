"""Log-in rules: username and password only, no sign-up, no way in for an ended customer."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from django.http import HttpRequest


class TenantAwareModelBackend(AuthenticationBackend):
    """allauth's backend, refusing users whose customer's service has ended."""

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        tenant = getattr(user, "tenant", None)
        if tenant is None:
            return bool(user.is_staff)
        return bool(tenant.is_active)

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        # An existing session stops working the moment the service ends.
        if user is not None and not self.user_can_authenticate(user):
            return None
        return user


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # customer admins create users
