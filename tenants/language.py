"""The portal's language: the person's own choice, else their tenant's; anonymous visitors get
the language cookie or the browser's preference (Django's LocaleMiddleware).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from tenants import services
from tenants.models import User


def preferred_language(user: User) -> str | None:
    if user.language:
        return user.language
    tenant = user.tenant
    return tenant.language if tenant is not None else None


class PersonLanguageMiddleware:
    """Runs after authentication: a signed-in customer user sees their language, or the tenant's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and getattr(user, "tenant_id", None):
            language = preferred_language(user)
            if language in dict(settings.LANGUAGES):
                translation.activate(language)
                request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Switch language: remembered on the person (signed in) or in the cookie (anonymous).

    The rule is ``tenants.services.set_user_language``'s, as for the app's ``PATCH /api/v1/me``;
    an unknown language changes nothing.
    """
    language = request.POST.get("language", "")
    target = request.POST.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = reverse("home")
    response = HttpResponseRedirect(target)
    user = request.user
    try:
        services.clean_language(language)
        if user.is_authenticated and getattr(user, "tenant_id", None):
            services.set_user_language(user=user, language=language, acting_user=user)
    except ValidationError:
        return response
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response
