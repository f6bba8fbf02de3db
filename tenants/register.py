"""The processing register's row and the rule a licence change needs from it: recording may
only be switched on once the register states why calls are recorded. (Editing and exporting the
register is privacy's: ``recordings.privacy.register``.)"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from tenants.models import Licence, PlaybackSubscription, ProcessingRegister, RecordingMode, Tenant
from tenants.scoping import service_scope


def get_register(tenant: Tenant) -> ProcessingRegister:
    with service_scope(tenant):
        register, _created = ProcessingRegister.objects.get_or_create(tenant=tenant)
    return register


def recording_is_on(tenant: Tenant) -> bool:
    """Anyone in the tenant whose calls can be recorded (a licence other than "never", or a
    Playback subscription)."""
    with service_scope(tenant):
        return (
            Licence.objects.exclude(mode=RecordingMode.NEVER).exists()
            or PlaybackSubscription.objects.exists()
        )


def require_purpose(tenant: Tenant) -> None:
    """Recording may only be switched on once the register states why calls are recorded."""
    with service_scope(tenant):
        register = ProcessingRegister.objects.filter(tenant=tenant).first()
    if register is None or not register.has_purpose:
        raise ValidationError(
            _(
                "Record the purpose of call recording in the processing register (Manage → Privacy) "
                "before switching recording on."
            )
        )
