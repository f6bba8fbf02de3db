"""The processing register (art. 30 AVG): edited by the customer admin, exported as a document
built from the real settings. (Whether recording may be switched on, and the register row itself,
are rules of ``tenants.register``: a licence change needs them.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings.lifecycle import DECISION_WINDOW
from recordings.models import Kind, Recording
from tenants.audit import log_event
from tenants.models import (
    LegalBasis,
    Licence,
    PlaybackSubscription,
    ProcessingRegister,
    RecordingMode,
    Role,
    Tenant,
    User,
)
from tenants.register import get_register, recording_is_on
from tenants.scoping import service_scope
from tenants.services import update_tenant_settings

if TYPE_CHECKING:
    from django.http import HttpRequest

# The register states the lifecycle's own decision window, never a number of its own.
UNSAVED_PLAYBACK_DAYS = DECISION_WINDOW.days

REGISTER_FIELDS = ("purpose", "legal_basis", "legitimate_interest", "data_subjects", "sub_processors")


def update_register(
    *, tenant: Tenant, acting_user: User | None, request: HttpRequest | None = None, **changes: Any
) -> ProcessingRegister:
    """Change the register (and the announcement to callers, which it documents). The purpose
    cannot be emptied while recording is on, and a legitimate interest needs its argument."""
    announce = changes.pop("announce_recording", None)
    unknown = set(changes) - set(REGISTER_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown register fields: %s") % ", ".join(sorted(unknown)))
    with transaction.atomic(), service_scope(tenant):
        ProcessingRegister.objects.get_or_create(tenant=tenant)
        register = ProcessingRegister.objects.select_for_update().get(tenant=tenant)
        changed = sorted(f for f, v in changes.items() if getattr(register, f) != v)
        for field, value in changes.items():
            setattr(register, field, value.strip() if isinstance(value, str) else value)
        if register.legal_basis not in LegalBasis.values:
            raise ValidationError({"legal_basis": _("Choose a legal basis from the list.")})
        if not register.has_purpose and recording_is_on(tenant):
            raise ValidationError(
                {
                    "purpose": _(
                        "Calls are being recorded: the purpose cannot be empty. Switch recording off first."
                    )
                }
            )
        if (
            register.has_purpose
            and register.legal_basis == LegalBasis.LEGITIMATE_INTEREST
            and not register.legitimate_interest.strip()
        ):
            raise ValidationError(
                {
                    "legitimate_interest": _(
                        "With legitimate interest as the legal basis, write down the interest and why "
                        "recording is necessary for it."
                    )
                }
            )
        register.updated_by = acting_user
        register.full_clean(exclude=["tenant", "updated_by"])
        register.save()
        if announce is not None and bool(announce) != tenant.announce_recording:
            update_tenant_settings(tenant=tenant, acting_user=acting_user, announce_recording=bool(announce))
            tenant.announce_recording = bool(announce)
            changed.append("announce_recording")
        if changed:
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="privacy.register.change",
                target=register,
                detail={"fields": changed},
                request=request,
            )
    return register


@dataclass(frozen=True)
class RetentionLine:
    product: str
    rule: str


def register_document(tenant: Tenant) -> dict[str, Any]:
    """Everything the exported register says, read from the live settings (not typed by hand)."""
    register = get_register(tenant)
    with service_scope(tenant):
        users = User.objects.filter(tenant=tenant, is_active=True)
        admins = users.filter(role=Role.ADMIN).count()
        listeners = users.filter(role=Role.LISTENER).count()
        licences = Licence.objects.exclude(mode=RecordingMode.NEVER).count()
        subscriptions = PlaybackSubscription.objects.count()
        modes = sorted(set(Licence.objects.values_list("mode", flat=True)))
        tiers = sorted(set(PlaybackSubscription.objects.values_list("tier", flat=True)))
        live = Recording.objects.live()
        counts = {
            "standard": live.filter(kind=Kind.STANDARD).count(),
            "playback": live.filter(kind=Kind.PLAYBACK).count(),
        }
    retention = [
        RetentionLine(
            _("Standard recordings (Call Recording licence)"),
            _("%(days)s days after the call, then deleted automatically") % {"days": tenant.retention_days},
        ),
        RetentionLine(
            _("Playback, not saved"),
            _("%(days)s days after the call, then deleted automatically") % {"days": UNSAVED_PLAYBACK_DAYS},
        ),
        RetentionLine(
            _("Playback, saved"),
            _("by the user's tier: 30 days, 90 days, or within a 100,000-minute quota (oldest first)"),
        ),
    ]
    return {
        "tenant": tenant,
        "register": register,
        "legal_basis": LegalBasis(register.legal_basis).label,
        "retention": retention,
        "announce": tenant.announce_recording,
        "require_mfa": tenant.require_mfa_for_admins,
        "access": {
            "admins": admins,
            "listeners": listeners,
            "licences": licences,
            "subscriptions": subscriptions,
            "modes": [RecordingMode(m).label for m in modes],
            "tiers": tiers,
        },
        "counts": counts,
        "generated_at": timezone.now(),
    }


def integrity_failures(tenant: Tenant, *, limit: int = 50) -> list[Recording]:
    """Live recordings whose stored object failed its last checksum check (newest failure first),
    for the customer admin: metadata only."""
    with service_scope(tenant):
        return list(
            Recording.objects.live()
            .filter(tenant=tenant, integrity_failed_at__isnull=False)
            .select_related("owner")
            .order_by("-integrity_failed_at", "id")[:limit]
        )
