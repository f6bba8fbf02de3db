"""Access helpers: the one way views reach people of the request's tenant.

Another tenant's object and a missing one give the same 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponse

from hiprecorder.http import CustomerApiRequest, TenantRequest
from tenants.models import Role, Team, User


def users_of(request: TenantRequest | CustomerApiRequest) -> QuerySet[User]:
    return User.objects.filter(tenant_id=request.tenant.pk)


def get_user_for_admin(request: TenantRequest, user_id: uuid.UUID | str) -> User:
    try:
        return users_of(request).get(pk=user_id)
    except (User.DoesNotExist, ValueError, TypeError):
        raise Http404("No such user") from None


def get_team_for_admin(request: TenantRequest, team_id: uuid.UUID | str) -> Team:
    try:
        return Team.objects.get(pk=team_id)  # scoped to request.tenant by the manager
    except (Team.DoesNotExist, ValueError, TypeError):
        raise Http404("No such team") from None


def tenant_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in customer users only (anonymous: to log-in; support staff: 403)."""
    from django.contrib.auth.views import redirect_to_login

    @wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(request, "tenant", None) is None:
            raise PermissionDenied("This page is for customers' users")
        return view(request, *args, **kwargs)

    return wrapper


def role_required(*roles: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @tenant_required
        @wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.role not in roles:
                raise PermissionDenied("Your role does not allow this")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


admin_required = role_required(Role.ADMIN)
