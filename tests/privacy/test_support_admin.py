"""Support staff cannot listen: the admin shows recordings' metadata only."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.base import Personas, login_support
from tests.privacy.factory import make_recording


def test_support_staff_see_metadata_never_audio(client: Client, personas: Personas) -> None:
    recording = make_recording(personas.users["always"], remote_number="+31612345678")
    login_support(client, personas.support)
    listing = client.get(reverse("admin:recordings_recording_changelist"))
    assert listing.status_code == 200
    assert str(recording.pk).encode() in listing.content
    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Acme BV" in body and "user_always" in body  # metadata is there
    assert recording.storage_key not in body
    assert recording.sha256 not in body
    assert "+31612345678" not in body and "…678" in body  # numbers masked
    for marker in ["<audio", ".opus", "/stream", "/share", "download"]:
        assert marker not in body.lower(), marker
    # Read-only: nothing can be added, changed or deleted here.
    assert client.get(reverse("admin:recordings_recording_add")).status_code == 403
    assert client.post(reverse("admin:recordings_recording_delete", args=[recording.pk])).status_code == 403
    response = client.post(
        reverse("admin:recordings_recording_change", args=[recording.pk]), {"remote_number": "+31600000000"}
    )
    assert response.status_code == 403
    recording.refresh_from_db()
    assert recording.remote_number == "+31612345678"


def test_customers_do_not_reach_the_recording_admin(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    response = client.get(reverse("admin:recordings_recording_changelist"))
    assert response.status_code == 302


def test_support_staff_cannot_read_authenticator_secrets(client: Client, personas: Personas) -> None:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.get(user=personas.admin)
    secret = decrypt(authenticator.data["secret"])
    login_support(client, personas.support)
    page = client.get(reverse("admin:mfa_authenticator_change", args=[authenticator.pk]))
    assert page.status_code == 200
    assert secret not in page.content.decode()
    assert "alice" in page.content.decode()
    # Removing one (a lost phone) stays possible.
    response = client.post(
        reverse("admin:mfa_authenticator_delete", args=[authenticator.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=authenticator.pk).exists()
