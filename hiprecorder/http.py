"""Typed requests, so views say what they may rely on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.request import Request

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from tenants.models import ApiToken, Tenant, User


class AuthenticatedRequest(HttpRequest):
    user: User
    tenant: Tenant | None
    htmx: HtmxDetails


class TenantRequest(AuthenticatedRequest):
    """A request of a signed-in customer user: ``tenant`` is set and its scope is active."""

    tenant: Tenant


class CustomerApiRequest(Request):
    """A request that passed :class:`hiprecorder.api.TenantAPIView`'s checks: a customer's user
    (``IsCustomerUser``), signed in with a device token (``auth``) and inside the tenant's scope."""

    user: User
    auth: ApiToken | None
    tenant: Tenant
