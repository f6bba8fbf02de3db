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
        purpose_changed = bool(purpose) and purpose != register.transcription_purpose
        if purpose_changed:
            register.transcription_purpose = purpose
            register.updated_by = acting_user
            register.full_clean(exclude=["tenant", "updated_by"])
            register.save()
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if purpose_changed and locked.transcription_enabled == enabled:
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="privacy.register.change",
                target=register,
                detail={"fields": "transcription_purpose"},
                request=request,
            )
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


def update_transcript_settings(
    *,
    tenant: Tenant,
    acting_user: User,
    enabled: bool,
    purpose: str,
    redact_phone_numbers: bool,
    redact_email_addresses: bool,
    mute_redacted_audio: bool,
    request: HttpRequest | None = None,
) -> Tenant:
    """Manage → Transcripts: on or off with the purpose (:func:`set_transcription`), what is
    redacted besides BSN, IBAN and card numbers, and whether the redacted words are muted in the
    stored audio too (the unmuted original is then removed), in one transaction: all of it or
    nothing. Each applies to transcripts made from then on (stored text is never unredacted, and
    muted audio stays muted)."""
    with transaction.atomic(), service_scope(tenant):
        set_transcription(
            tenant=tenant, acting_user=acting_user, enabled=enabled, purpose=purpose, request=request
        )
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        wanted = {
            "redact_phone_numbers": redact_phone_numbers,
            "redact_email_addresses": redact_email_addresses,
        }
        changes = {name: value for name, value in wanted.items() if getattr(locked, name) != value}
        if changes:
            Tenant.objects.filter(pk=tenant.pk).update(**changes)
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="transcripts.redaction",
                target=locked,
                detail={name: "on" if value else "off" for name, value in changes.items()},
                request=request,
            )
        if locked.mute_redacted_audio != mute_redacted_audio:
            Tenant.objects.filter(pk=tenant.pk).update(mute_redacted_audio=mute_redacted_audio)
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="transcripts.mute_audio_on" if mute_redacted_audio else "transcripts.mute_audio_off",
                target=locked,
                detail={},
                request=request,
            )
    for name, value in {**wanted, "mute_redacted_audio": mute_redacted_audio}.items():
        setattr(tenant, name, value)
    return tenant
