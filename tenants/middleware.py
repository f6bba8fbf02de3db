from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from tenants.scoping import tenant_scope


class TenantMiddleware:
    """Resolve the tenant once per request and run the view inside its scope.

    ``request.tenant`` is the signed-in user's tenant, or ``None`` for anonymous visitors and
    support staff (who get no scope, so tenant-owned tables stay closed to them outside the admin's
    explicit ``unscoped()`` querysets). Token- and key-authenticated endpoints (DRF, the telephony
    interface) authenticate inside the view and enter the scope there.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        tenant = getattr(user, "tenant", None) if user.is_authenticated else None
        request.tenant = tenant  # type: ignore[attr-defined]  # read back typed as TenantRequest.tenant
        if tenant is None:
            return self.get_response(request)
        with tenant_scope(tenant):
            return self.get_response(request)


# Paths an admin without an authenticator may still reach: allauth (log-out, the MFA set-up itself),
# static files, health and language switching. The API and the telephony interface authenticate by
# token/key, not by session, and are not portal pages.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/i18n/", "/api/", "/rpi/")


class AdminMfaMiddleware:
    """Customer admins of a tenant that requires it (``Tenant.require_mfa_for_admins``, the default)
    set up an authenticator app before they reach any portal page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        tenant = getattr(request, "tenant", None)
        if (
            tenant is not None
            and tenant.require_mfa_for_admins
            and getattr(user, "is_customer_admin", False)
            and not request.path.startswith(MFA_EXEMPT_PREFIXES)
            and not _has_totp(user)
        ):
            from django.contrib import messages
            from django.shortcuts import redirect
            from django.utils.translation import gettext as _

            messages.info(
                request,
                _("Customer admins protect their account with an authenticator app. Set it up first."),
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)


def _has_totp(user: object) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class StaffMfaMiddleware:
    """Support staff reach the admin only with a second factor: an authenticator app enrolled
    (else they are sent to set one up) and answered in this session (else they are asked for a
    code). Their account opens the admin, which shows every customer's metadata."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: object, args: object, kwargs: object
    ) -> HttpResponse | None:
        match = request.resolver_match
        user = request.user
        if (
            match is None
            or "admin" not in match.namespaces
            or match.url_name in {"login", "logout"}
            or not user.is_authenticated
            or not user.is_staff
        ):
            return None
        from tenants.support import has_totp, has_verified_second_factor

        if has_verified_second_factor(request):
            return None
        from django.contrib import messages
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode
        from django.utils.translation import gettext as _

        if not has_totp(user):
            messages.info(
                request,
                _("Support staff protect their account with an authenticator app. Set it up first."),
            )
            return redirect("mfa_activate_totp")
        return redirect(f"{reverse('mfa_reauthenticate')}?{urlencode({'next': request.get_full_path()})}")
