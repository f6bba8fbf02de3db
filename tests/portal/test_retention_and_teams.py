"""Manage → Settings: the retention's guardrails (bounds, what the next sweep deletes, the
purpose above 90 days in the register, a confirmation when recordings would go); Manage → Teams:
people added through a search, the listener's reach."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recordings import products
from recordings.lifecycle import sweep_expired
from recordings.models import Kind, Recording
from tenants import services
from tenants.audit import AuditEntry
from tenants.models import ProcessingRegister, Tenant, User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import make_recording


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    client.force_login(personas.admin)
    return client


def _settings(days: int, **extra: str) -> dict[str, str]:
    return {"retention_days": str(days), "announce_recording": "on", "language": "nl", **extra}


def _ages(personas: Personas, *days_ago: int) -> None:
    user = personas.users["always"]
    for days in days_ago:
        make_recording(user, kind=Kind.STANDARD, ended_at=timezone.now() - dt.timedelta(days=days))


def _retention(personas: Personas) -> int:
    return Tenant.objects.get(pk=personas.tenant_a.pk).retention_days


@pytest.mark.parametrize("days", ["0", "-5", "5000", "3651", "12.5", "lots"])
def test_absurd_retentions_are_refused_with_a_message(admin: Client, personas: Personas, days: str) -> None:
    response = admin.post(reverse("manage_settings"), {**_settings(30), "retention_days": days})
    assert response.status_code == 400
    assert response.context["form"].errors["retention_days"]
    assert _retention(personas) == 90


def test_the_service_refuses_out_of_bounds_too(personas: Personas) -> None:
    for days in (0, 3651, True):
        with pytest.raises(ValidationError):
            products.update_tenant_settings(
                tenant=personas.tenant_a, acting_user=personas.admin, retention_days=days
            )
    assert _retention(personas) == 90


def test_a_shorter_retention_states_what_goes_then_confirms(admin: Client, personas: Personas) -> None:
    _ages(personas, 1, 20, 40, 60)
    step_one = admin.post(reverse("manage_settings"), _settings(30))
    assert step_one.status_code == 200
    preview = step_one.context["preview"]
    assert (preview.before, preview.after, preview.due_now) == (90, 30, 2)
    assert "2 standaardopnames zijn ouder dan 30 dagen" in step_one.content.decode()
    assert _retention(personas) == 90  # step one changed nothing
    done = admin.post(reverse("manage_settings"), _settings(30, confirm="1"))
    assert done.status_code == 302 and _retention(personas) == 30
    # the number was the lifecycle's: the sweep deletes exactly those
    assert sweep_expired().rows == preview.due_now
    with tenant_scope(personas.tenant_a):
        [entry] = AuditEntry.objects.filter(action="manage.settings.retention")
        assert entry.detail == {"before": 90, "after": 30, "due": 2}
        assert Recording.objects.filter(kind=Kind.STANDARD, deleted_at__isnull=True).count() == 2


def test_a_change_that_deletes_nothing_needs_no_confirmation(admin: Client, personas: Personas) -> None:
    _ages(personas, 1)
    assert admin.post(reverse("manage_settings"), _settings(60)).status_code == 302
    assert _retention(personas) == 60


def test_above_90_days_asks_for_the_purpose_and_registers_it(admin: Client, personas: Personas) -> None:
    refused = admin.post(reverse("manage_settings"), _settings(400))
    assert refused.status_code == 400 and refused.context["form"].errors["retention_purpose"]
    assert _retention(personas) == 90
    purpose = "Bewijs van telefonische orders; fiscale bewaarplicht."
    assert (
        admin.post(reverse("manage_settings"), _settings(400, retention_purpose=purpose)).status_code == 302
    )
    assert _retention(personas) == 400
    with tenant_scope(personas.tenant_a):
        register = ProcessingRegister.objects.get()
        assert register.retention_purpose == purpose and register.updated_by == personas.admin
        [entry] = AuditEntry.objects.filter(action="manage.settings.retention")
        assert entry.detail["purpose"] == purpose
    # on file now: a later change above 90 days needs no new text
    assert admin.post(reverse("manage_settings"), _settings(500)).status_code == 302


def test_the_retention_rule_is_written_once(personas: Personas) -> None:
    """The re-computed due date is the one a new recording gets (lifecycle.expiry_of)."""
    from recordings.lifecycle import expiry_of

    _ages(personas, 10)
    products.update_tenant_settings(tenant=personas.tenant_a, acting_user=personas.admin, retention_days=45)
    tenant = Tenant.objects.get(pk=personas.tenant_a.pk)
    with tenant_scope(tenant):
        rec = Recording.objects.get(kind=Kind.STANDARD)
        assert rec.expires_at == expiry_of(kind=Kind.STANDARD, ended_at=rec.ended_at, tenant=tenant)


# --- teams -------------------------------------------------------------------------------------


def test_team_search_is_short_disambiguated_and_adds_people(admin: Client, personas: Personas) -> None:
    for n in range(30):
        services.create_user(
            tenant=personas.tenant_a,
            username=f"jjansen{n}",
            password=None,
            first_name="Jan",
            last_name="Jansen",
        )
    services.create_user(tenant=personas.tenant_b, username="jjansen_b", password=None, last_name="Jansen")
    team = personas.sales
    page = admin.get(reverse("manage_team", args=[team.pk])).content.decode()
    assert "jjansen" not in page  # nobody is listed until searched for
    found = admin.get(reverse("manage_team", args=[team.pk]), {"q": "jansen"}, HTTP_HX_REQUEST="true")
    body = found.content.decode()
    assert body.count('name="members"') == 10 and "Jan Jansen (jjansen0)" in body
    assert "jjansen_b" not in body and "<html" not in body
    with tenant_scope(personas.tenant_a):
        members = [str(p.pk) for p in team.members.all()]
    jan = User.objects.get(username="jjansen0")
    saved = admin.post(
        reverse("manage_team", args=[team.pk]),
        {"name": "Sales", "members": [*members, str(jan.pk)], "listeners": [personas.listener.pk]},
    )
    assert saved.status_code == 302
    with tenant_scope(personas.tenant_a):
        assert team.members.filter(pk=jan.pk).exists()


def test_the_listeners_reach_comes_from_the_visibility_rule(admin: Client, personas: Personas) -> None:
    lisa = personas.listener
    lisa.first_name, lisa.last_name = "Anna", "de Vries"
    lisa.save()
    with tenant_scope(personas.tenant_a):
        services.create_team(
            tenant=personas.tenant_a,
            name="Support",
            members=[personas.outsider],
            listeners=[lisa, personas.admin],
        )
        team = personas.sales
        expected = team.members.count() + 1
        for person in team.members.all():
            make_recording(person, kind=Kind.STANDARD)
        make_recording(personas.outsider, kind=Kind.STANDARD)
        heard_owners = set(Recording.objects.visible_to(lisa).values_list("owner_id", flat=True))
    assert len(heard_owners) == expected
    response = admin.get(reverse("manage_team", args=[team.pk]))
    assert dict(response.context["reach"])[lisa] == expected
    body = response.content.decode()
    assert f"Anna de Vries (lisa) hoort de standaardopnames van {expected} personen" in body


def test_the_purpose_is_in_the_register_document(admin: Client, personas: Personas) -> None:
    purpose = "Fiscale bewaarplicht voor telefonische orders."
    admin.post(reverse("manage_settings"), _settings(400, retention_purpose=purpose))
    markdown = admin.get(reverse("privacy:register_markdown")).content.decode()
    document = admin.get(reverse("privacy:register_document")).content.decode()
    assert purpose in markdown and purpose in document
