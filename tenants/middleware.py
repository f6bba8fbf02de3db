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
        request.tenant = tenant  # type: ignore[attr-defined]
        if tenant is None:
            return self.get_response(request)
        with tenant_scope(tenant):
            return self.get_response(request)
