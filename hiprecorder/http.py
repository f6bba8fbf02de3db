"""Typed requests, so views say what they may rely on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from tenants.models import Tenant, User


class AuthenticatedRequest(HttpRequest):
    user: User
    tenant: Tenant | None
    htmx: HtmxDetails


class TenantRequest(AuthenticatedRequest):
    """A request of a signed-in customer user: ``tenant`` is set and its scope is active."""

    tenant: Tenant
