"""What every service of tenants shares: the audit entry of a change a person asked for, and
the tenant of a person who has products."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from tenants.audit import log_event
from tenants.models import (
    Tenant,
    User,
)

if TYPE_CHECKING:
    from django.http import HttpRequest


def audit_change(
    acting_user: User | None,
    action: str,
    target: models.Model,
    request: HttpRequest | None,
    tenant: Tenant | None = None,
    **detail: Any,
) -> None:
    """The audit entry of a change a person asked for (inside the change's transaction)."""
    if acting_user is not None:
        log_event(
            tenant=tenant if tenant is not None else getattr(target, "tenant", None),
            actor=acting_user,
            action=action,
            target=target,
            detail=detail,
            request=request,
        )


def tenant_of(user: User) -> Tenant:
    tenant = user.tenant
    if tenant is None:
        raise ValidationError(_("Support staff have no products."))
    return tenant
