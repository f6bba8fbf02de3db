"""The customer environment itself: creating it, and the customer's own settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from tenants.models import (
    Tenant,
    User,
)

if TYPE_CHECKING:
    pass


def create_tenant(
    *,
    name: str,
    slug: str,
    country: str = "NL",
    language: str = Tenant.Language.DUTCH,
    retention_days: int = 90,
    announce_recording: bool = True,
    acting_user: User | None = None,
) -> Tenant:
    """Create a customer environment. The slug is its permanent, unique handle."""
    tenant = Tenant(
        name=name,
        slug=slug,
        country=country.upper(),
        language=language,
        retention_days=retention_days,
        announce_recording=announce_recording,
    )
    tenant.full_clean()
    tenant.save()
    return tenant


def update_tenant_settings(*, tenant: Tenant, acting_user: User | None = None, **changes: object) -> Tenant:
    """Change the customer's own settings: retention, announcement, language, country, name.

    A changed retention re-computes the standard recordings' expiry: that is the recordings part,
    ``recordings.products.update_tenant_settings``, which calls this and then does it."""
    allowed = {"name", "retention_days", "announce_recording", "language", "country"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(_("These settings cannot be changed here: %s") % ", ".join(sorted(unknown)))
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        for field, value in changes.items():
            setattr(tenant, field, value)
        tenant.full_clean()
        tenant.save()
    return tenant
