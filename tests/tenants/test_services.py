from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from recordings import products
from tenants import services
from tenants.audit import AuditEntry
from tenants.models import Licence, PbxKey, PlaybackSubscription, Role, User
from tenants.scoping import tenant_scope
from tests.base import Personas


def test_a_user_with_a_licence_cannot_get_a_playback_subscription(personas: Personas) -> None:
    user = personas.users["always"]
    with pytest.raises(ValidationError, match="Call Recording licence"):
        services.set_playback_subscription(user=user, tier="days_30")
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=user).mode == "always"
        assert not PlaybackSubscription.objects.filter(user=user).exists()


def test_a_playback_user_cannot_get_a_licence(personas: Personas) -> None:
    user = personas.playback["days_90"]
    with pytest.raises(ValidationError, match="Playback subscription"):
        services.set_licence(user=user, mode="always")
    with tenant_scope(personas.tenant_a):
        assert not Licence.objects.filter(user=user).exists()


def test_model_validation_refuses_a_second_product_too(personas: Personas) -> None:
    user = personas.playback["days_30"]
    licence = Licence(tenant=personas.tenant_a, user=user, mode="always")
    with pytest.raises(ValidationError, match="Playback subscription"):
        licence.full_clean()


def test_changing_the_mode_keeps_one_licence(personas: Personas) -> None:
    user = personas.users["never"]
    services.set_licence(user=user, mode="on_demand")
    with tenant_scope(personas.tenant_a):
        assert list(Licence.objects.filter(user=user).values_list("mode", flat=True)) == ["on_demand"]


def test_unknown_mode_and_tier_are_refused(personas: Personas) -> None:
    with pytest.raises(ValidationError, match="Unknown recording mode"):
        services.set_licence(user=personas.no_product, mode="sometimes")
    with pytest.raises(ValidationError, match="Unknown retention tier"):
        services.set_playback_subscription(user=personas.no_product, tier="forever")
    with tenant_scope(personas.tenant_a):
        assert not Licence.objects.filter(user=personas.no_product).exists()
        assert not PlaybackSubscription.objects.filter(user=personas.no_product).exists()


def test_pbx_id_is_unique_per_tenant_but_not_across_tenants(personas: Personas) -> None:
    with pytest.raises(ValidationError, match="already used"):
        services.create_user(tenant=personas.tenant_a, username="dup", password="x" * 12, pbx_id="100")
    assert not User.objects.filter(username="dup").exists()
    # Tenant B's Charlie also has 100; another id in B is fine.
    services.create_user(tenant=personas.tenant_b, username="bob-b", password="x" * 12, pbx_id="101")


def test_unknown_role_is_refused(personas: Personas) -> None:
    with pytest.raises(ValidationError, match="Unknown role"):
        services.create_user(tenant=personas.tenant_a, username="x", password=None, role="boss")


def test_team_people_must_be_of_the_same_tenant(personas: Personas) -> None:
    with pytest.raises(ValidationError, match="not in this team's tenant"):
        services.set_team_people(team=personas.sales, members=[personas.charlie], listeners=[])
    assert personas.charlie not in personas.sales.members.all()


def test_pbx_key_is_stored_only_as_a_hash_and_authenticates(personas: Personas) -> None:
    issued = services.create_pbx_key(tenant=personas.tenant_a, name="Main PBX", acting_user=personas.admin)
    row = PbxKey.objects.unscoped().get(pk=issued.key.pk)
    stored = " ".join(str(getattr(row, f.attname)) for f in PbxKey._meta.concrete_fields)
    assert issued.secret not in stored
    # The random part after "hip_<prefix>_" (it may itself contain "_", so not split("_")[2]).
    random_part = issued.secret.removeprefix(f"{services.PBX_KEY_PREFIX}_{issued.key.prefix}_")
    assert len(random_part) >= 40 and random_part not in stored
    assert services.authenticate_pbx_key(issued.secret) == row
    assert services.authenticate_pbx_key(issued.secret + "x") is None
    assert services.authenticate_pbx_key(issued.secret[:-1]) is None
    assert services.authenticate_pbx_key("nonsense") is None


def test_revoked_keys_and_ended_tenants_do_not_authenticate(personas: Personas) -> None:
    issued = services.create_pbx_key(tenant=personas.tenant_a, name="Main PBX")
    services.revoke_pbx_key(key=issued.key)
    assert services.authenticate_pbx_key(issued.secret) is None
    other = services.create_pbx_key(tenant=personas.tenant_b, name="B")
    personas.tenant_b.status = "ended"
    personas.tenant_b.save()
    assert services.authenticate_pbx_key(other.secret) is None


def test_tenant_settings_are_validated(personas: Personas) -> None:
    with pytest.raises(ValidationError):
        services.update_tenant_settings(tenant=personas.tenant_a, retention_days=0)
    with pytest.raises(ValidationError, match="cannot be changed"):
        services.update_tenant_settings(tenant=personas.tenant_a, slug="hijack")
    personas.tenant_a.refresh_from_db()
    assert personas.tenant_a.retention_days == 90
    services.update_tenant_settings(tenant=personas.tenant_a, retention_days=30, announce_recording=False)
    personas.tenant_a.refresh_from_db()
    assert (personas.tenant_a.retention_days, personas.tenant_a.announce_recording) == (30, False)


def test_country_must_be_a_known_region(db: None) -> None:
    with pytest.raises(ValidationError, match="Unknown country"):
        services.create_tenant(name="X", slug="x", country="ZZ")


def test_support_staff_have_no_tenant(personas: Personas) -> None:
    assert personas.support.is_support_staff
    assert personas.support.tenant_id is None
    assert personas.admin.role == Role.ADMIN and not personas.admin.is_staff


# --- the services own the whole write: the change and its audit entry, in one transaction -----


def _entries(personas: Personas, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.unscoped().filter(tenant=personas.tenant_a, action=action).order_by("seq"))


def test_adding_a_person_writes_the_audit_entry_with_the_admin_as_actor(personas: Personas) -> None:
    user = services.add_user(
        tenant=personas.tenant_a,
        username="newbie",
        role=Role.USER,
        email="nico@acme.example",
        acting_user=personas.admin,
        request=RequestFactory().post("/manage/users"),
    )
    assert not user.has_usable_password()  # they set it through the link sent to them
    [entry] = _entries(personas, "manage.user.create")
    assert (entry.actor_id, entry.target_id, entry.detail) == (
        personas.admin.pk,
        str(user.pk),
        {"role": "user"},
    )


def test_a_refused_change_writes_neither_the_change_nor_an_entry(personas: Personas) -> None:
    team = services.create_team(tenant=personas.tenant_a, name="Support", acting_user=personas.admin)
    assert [e.detail for e in _entries(personas, "manage.team.create")] == [{"name": "Support"}]
    member = personas.users["always"]
    with pytest.raises(ValidationError, match="already exists"):
        services.update_team(
            team=team, name="Sales", members=[member], listeners=[], acting_user=personas.admin
        )  # the rename is refused after nothing: the members stay as they were
    team.refresh_from_db()
    assert team.name == "Support" and not team.members.exists()
    assert _entries(personas, "manage.team.update") == []
    services.update_team(
        team=team, name="Helpdesk", members=[member], listeners=[], acting_user=personas.admin
    )
    assert [e.detail for e in _entries(personas, "manage.team.update")] == [{"members": 1, "listeners": 0}]


def test_the_systems_own_changes_are_not_audited(personas: Personas) -> None:
    before = AuditEntry.objects.unscoped().filter(tenant=personas.tenant_a).count()
    issued = services.create_pbx_key(tenant=personas.tenant_a, name="Demo")
    services.revoke_pbx_key(key=issued.key)
    assert AuditEntry.objects.unscoped().filter(tenant=personas.tenant_a).count() == before
    services.revoke_pbx_key(key=issued.key, acting_user=personas.admin)
    [entry] = _entries(personas, "manage.pbx_key.revoke")
    assert entry.detail == {"prefix": issued.key.prefix}


def test_a_product_change_is_written_with_its_audit_entry(personas: Personas) -> None:
    user = personas.playback["days_30"]
    change = products.set_user_product(
        user=user, product="licence", setting="always", acting_user=personas.admin
    )
    assert change.subscription_removed and change.tier_before == "days_30" and change.tier_after is None
    [entry] = _entries(personas, "manage.user.product")
    assert entry.detail == {"before": "playback:days_30", "after": "licence:always"}
    with pytest.raises(ValidationError, match="Unknown recording mode"):
        products.set_user_product(
            user=user, product="licence", setting="sometimes", acting_user=personas.admin
        )
    assert len(_entries(personas, "manage.user.product")) == 1
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=user).mode == "always"
