from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from recordings import privacy
from tenants import services
from tenants.audit import AuditEntry
from tenants.models import LegalBasis
from tenants.scoping import tenant_scope
from tests.base import Personas


@pytest.fixture
def fresh(db: None) -> object:
    tenant = services.create_tenant(name="Fresh BV", slug="fresh")
    user = services.create_user(tenant=tenant, username="fred", password=None)
    return tenant, user


def test_recording_cannot_be_switched_on_without_a_purpose(fresh: tuple) -> None:
    tenant, user = fresh
    with pytest.raises(ValidationError, match="purpose"):
        services.set_licence(user=user, mode="always")
    with pytest.raises(ValidationError, match="purpose"):
        services.set_playback_subscription(user=user, tier="days_30")
    services.set_licence(user=user, mode="never")  # "never" records nothing: allowed
    privacy.update_register(
        tenant=tenant, acting_user=None, purpose="Quality", legal_basis=LegalBasis.CONSENT
    )
    assert services.set_licence(user=user, mode="always").mode == "always"


def test_purpose_cannot_be_emptied_while_recording_is_on(personas: Personas) -> None:
    with pytest.raises(ValidationError) as info:
        privacy.update_register(tenant=personas.tenant_a, acting_user=personas.admin, purpose="  ")
    assert "purpose" in info.value.message_dict
    assert privacy.get_register(personas.tenant_a).has_purpose  # nothing half-applied


def test_legitimate_interest_needs_its_argument(fresh: tuple) -> None:
    tenant, _user = fresh
    with pytest.raises(ValidationError) as info:
        privacy.update_register(
            tenant=tenant, acting_user=None, purpose="Proof", legal_basis=LegalBasis.LEGITIMATE_INTEREST
        )
    assert "legitimate_interest" in info.value.message_dict
    assert not privacy.get_register(tenant).has_purpose


def test_unknown_legal_basis_is_refused(personas: Personas) -> None:
    with pytest.raises(ValidationError):
        privacy.update_register(tenant=personas.tenant_a, acting_user=personas.admin, legal_basis="whim")


def test_changes_are_audited_with_the_fields(personas: Personas) -> None:
    privacy.update_register(
        tenant=personas.tenant_a,
        acting_user=personas.admin,
        sub_processors="S3 in Frankfurt",
        announce_recording=False,
    )
    with tenant_scope(personas.tenant_a):
        entry = AuditEntry.objects.get(action="privacy.register.change")
    assert entry.actor_label == "alice"
    assert entry.detail == {"fields": ["sub_processors", "announce_recording"]}
    personas.tenant_a.refresh_from_db()
    assert personas.tenant_a.announce_recording is False


def test_admin_edits_the_register_in_the_portal(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    url = reverse("privacy:register")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "purpose": "Proof of orders",
            "legal_basis": "legitimate_interest",
            "legitimate_interest": "Orders are placed by phone.",
            "data_subjects": "Customers",
            "sub_processors": "SeaweedFS",
            "announce_recording": "on",
        },
    )
    assert response.status_code == 302
    assert privacy.get_register(personas.tenant_a).purpose == "Proof of orders"
    # A bad post shows the error and changes nothing.
    response = client.post(
        url,
        {"purpose": "", "legal_basis": "legitimate_interest", "data_subjects": "x", "sub_processors": "y"},
    )
    assert response.status_code == 200
    # Acme's pages are Dutch (the tenant's language); either reading is accepted.
    assert b"cannot be empty" in response.content or b"mag niet leeg zijn" in response.content
    assert privacy.get_register(personas.tenant_a).purpose == "Proof of orders"


def test_the_exported_document_comes_from_the_real_settings(client: Client, personas: Personas) -> None:
    services.update_tenant_settings(tenant=personas.tenant_a, retention_days=45, announce_recording=False)
    client.force_login(personas.admin)
    markdown = client.get(reverse("privacy:register_markdown"))
    assert markdown.status_code == 200
    assert markdown["Content-Type"].startswith("text/markdown")
    text = markdown.content.decode()
    # Acme's pages are Dutch (the tenant's language): either reading is accepted.
    assert "45 days after the call" in text or "45 dagen na het gesprek" in text
    assert "No announcement is played" in text or "Bellers horen geen aankondiging" in text
    assert "Customer admins: 1" in text or "Beheerders: 1" in text
    assert "Listeners (standard recordings of their teams' members): 1" in text or (
        "Meeluisteraars (standaardopnamen van de leden van hun teams): 1" in text
    )
    assert privacy.get_register(personas.tenant_a).purpose in text
    services.update_tenant_settings(tenant=personas.tenant_a, retention_days=120)
    html = client.get(reverse("privacy:register_document")).content.decode()
    assert "120 days after the call" in html or "120 dagen na het gesprek" in html
    assert "Acme BV" in html


def test_staff_policy_template_is_filled_in(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    response = client.get(reverse("privacy:staff_policy"))
    assert response.status_code == 200
    assert privacy.get_register(personas.tenant_a).purpose.encode() in response.content
    assert (
        b"Callers hear an announcement" in response.content
        or b"Bellers horen een aankondiging" in response.content
    )


@pytest.mark.parametrize(
    "name",
    [
        "overview",
        "register",
        "register_markdown",
        "register_document",
        "staff_policy",
        "audit_log",
        "subjects",
    ],
)
def test_privacy_pages_are_for_customer_admins_only(client: Client, personas: Personas, name: str) -> None:
    url = reverse(f"privacy:{name}")
    assert client.get(url).status_code == 302  # anonymous: to log-in
    for person in (personas.listener, personas.users["always"], personas.support):
        client.force_login(person)
        assert client.get(url).status_code == 403, person
    client.force_login(personas.charlie)
    response = client.get(url, follow=True)  # the access log: a redirect to Manage → Audit log
    assert response.status_code == 200
    assert b"Acme" not in response.content


def test_wrong_methods_are_refused(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    assert client.post(reverse("privacy:overview")).status_code == 405
    assert client.get(reverse("privacy:subject_erase")).status_code == 405
    assert client.put(reverse("privacy:register")).status_code == 405


def test_the_announcement_setting_reaches_the_phone_system(client: Client, personas: Personas) -> None:
    """Informing callers: the admin switches the announcement in the register; the telephony
    interface's answer to the next call says so."""
    import json

    from tests.recordings.rpi_support import iso

    key = services.create_pbx_key(tenant=personas.tenant_a, name="PBX").secret
    pbx = Client(headers={"authorization": f"Bearer {key}"})

    def announce(call_id: str) -> bool:
        from django.utils import timezone

        body = {
            "call_id": call_id,
            "user": personas.users["always"].pbx_id,
            "direction": "inbound",
            "local_number": "+31201234567",
            "remote_number": "+31612345678",
            "leg": "fixed",
            "started_at": iso(timezone.now().replace(microsecond=0)),
        }
        response = pbx.post("/rpi/v1/calls", json.dumps(body), content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()["announce"]

    assert announce("c-1") is True
    client.force_login(personas.admin)
    register = privacy.get_register(personas.tenant_a)
    response = client.post(
        reverse("privacy:register"),
        {
            "purpose": register.purpose,
            "legal_basis": register.legal_basis,
            "legitimate_interest": register.legitimate_interest,
            "data_subjects": register.data_subjects,
            "sub_processors": register.sub_processors,
            # announce_recording unticked
        },
    )
    assert response.status_code == 302
    assert announce("c-2") is False
