"""Log-in rules: username and password only, no sign-up, no way in for an ended customer."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from django.conf import settings
from django.contrib.auth import get_user_model
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
        """The session's user, with their tenant (every signed-in request reads it: the tenant
        scope, the check below, the language) and Playback subscription (the portal's pages ask
        whether they have one) in the same query."""
        model = get_user_model()
        try:
            user = model._default_manager.select_related("tenant", "playback_subscription").get(pk=user_id)
        except model.DoesNotExist:
            return None
        # An existing session stops working the moment the service ends.
        return user if self.user_can_authenticate(user) else None


class AccountAdapter(DefaultAccountAdapter):
    def add_message(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        """A message for a signed-in customer user is in their language, not the browser's:
        "Successfully signed in as ..." is written while the log-in request still speaks the
        browser's language, and read on the next page, which speaks the person's."""
        from django.utils import translation

        from tenants.language import preferred_language

        user = getattr(request, "user", None)
        language = preferred_language(user) if user is not None and getattr(user, "tenant_id", None) else None
        if language not in dict(settings.LANGUAGES):
            super().add_message(request, *args, **kwargs)
            return
        with translation.override(language):
            super().add_message(request, *args, **kwargs)

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # customer admins create users

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """Support staff have no portal: they land in the admin (which asks for their second
        factor), not on the portal's 403."""
        if getattr(request.user, "is_support_staff", False):
            from django.urls import NoReverseMatch, reverse

            try:
                return reverse("admin:index")
            except NoReverseMatch:  # a process without the admin (HIPRECORDER_SURFACE)
                pass
        return super().get_login_redirect_url(request)
