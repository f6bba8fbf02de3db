"""Switching transcripts on or off for a tenant (off by default).

Switching on asks for the purpose, which is written into the processing register (art. 30 AVG)
in the same transaction; the change is audited with the acting user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from tenants.audit import log_event
from tenants.models import ProcessingRegister, Tenant, User
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from django.http import HttpRequest


def set_transcription(
    *,
    tenant: Tenant,
    acting_user: User | None,
    enabled: bool,
    purpose: str = "",
    request: HttpRequest | None = None,
) -> Tenant:
    """Switch transcripts on (a purpose is required: given here, or already in the register) or
    off. Nothing changes when the purpose is missing."""
    purpose = purpose.strip()
    with transaction.atomic(), service_scope(tenant):
        ProcessingRegister.objects.get_or_create(tenant=tenant)
        register = ProcessingRegister.objects.select_for_update().get(tenant=tenant)
        if enabled and not (purpose or register.transcription_purpose.strip()):
            raise ValidationError(
                {
                    "transcription_purpose": _(
                        "Write down why calls are transcribed before switching transcripts on."
                    )
                }
            )
        if purpose and purpose != register.transcription_purpose:
            register.transcription_purpose = purpose
            register.updated_by = acting_user
            register.full_clean(exclude=["tenant", "updated_by"])
            register.save()
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.transcription_enabled != enabled:
            Tenant.objects.filter(pk=tenant.pk).update(transcription_enabled=enabled)
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="transcripts.enable" if enabled else "transcripts.disable",
                target=register,
                detail={"purpose": register.transcription_purpose} if enabled else {},
                request=request,
            )
    tenant.transcription_enabled = enabled
    return tenant
