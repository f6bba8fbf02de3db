from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from notifications.models import Device
from notifications.services import deactivate_device, register_device
from tenants.scoping import tenant_scope
from tests.base import Personas


def test_register_refresh_and_reactivate(personas: Personas) -> None:
    user = personas.playback["days_30"]
    device = register_device(user=user, token="tok-1", platform="android", app_version="1.0")
    deactivate_device(device=device, reason="signed_out")
    again = register_device(user=user, token="tok-1", platform="android", app_version="1.1")
    assert again.pk == device.pk and again.active and again.app_version == "1.1"


def test_a_token_moves_to_whoever_registers_it_last(personas: Personas) -> None:
    register_device(user=personas.playback["days_30"], token="tok-1", platform="ios")
    moved = register_device(user=personas.charlie, token="tok-1", platform="ios")
    assert moved.user == personas.charlie
    with tenant_scope(personas.tenant_a):
        assert not Device.objects.exists()  # the old user's prompts no longer reach that phone


@pytest.mark.parametrize(
    ("token", "platform"), [("", "ios"), ("  ", "ios"), ("a b", "ios"), ("x" * 5000, "ios"), ("tok", "nokia")]
)
def test_bad_registrations_are_refused(personas: Personas, token: str, platform: str) -> None:
    with pytest.raises(ValidationError):
        register_device(user=personas.playback["days_30"], token=token, platform=platform)
    with tenant_scope(personas.tenant_a):
        assert not Device.objects.exists()


def test_support_staff_have_no_devices(personas: Personas) -> None:
    with pytest.raises(ValidationError):
        register_device(user=personas.support, token="tok", platform="ios")
