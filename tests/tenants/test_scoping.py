from __future__ import annotations

import pytest

from recordings.models import Call, Recording
from tenants.models import Licence, PbxKey, Team
from tenants.scoping import TenantScopeError, tenant_scope
from tests.base import Personas


@pytest.mark.parametrize("model", [Team, Licence, PbxKey, Call, Recording])
def test_tenant_owned_tables_refuse_to_query_without_a_scope(personas: Personas, model: type) -> None:
    with pytest.raises(TenantScopeError):
        list(model.objects.all())


def test_scope_shows_only_its_own_tenants_rows(personas: Personas) -> None:
    from tenants import services

    services.create_team(tenant=personas.tenant_b, name="Globex support")
    with tenant_scope(personas.tenant_a):
        assert list(Team.objects.values_list("name", flat=True)) == ["Sales"]
    with tenant_scope(personas.tenant_b):
        assert list(Team.objects.values_list("name", flat=True)) == ["Globex support"]
        assert not Team.objects.filter(pk=personas.sales.pk).exists()
    assert Team.objects.unscoped().count() == 2


def test_scope_is_restored_after_the_block(personas: Personas) -> None:
    with tenant_scope(personas.tenant_a):
        with tenant_scope(personas.tenant_b):
            assert Team.objects.count() == 0
        assert Team.objects.count() == 1
    with pytest.raises(TenantScopeError):
        Team.objects.count()


def test_creating_a_row_for_another_tenant_inside_a_scope_is_refused(personas: Personas) -> None:
    with tenant_scope(personas.tenant_a), pytest.raises(TenantScopeError):
        Team.objects.create(tenant=personas.tenant_b, name="Sneaky")
    assert not Team.objects.unscoped().filter(name="Sneaky").exists()


def test_reverse_relations_are_scoped_too(personas: Personas) -> None:
    with pytest.raises(TenantScopeError):
        list(personas.admin.calls.all())
    with tenant_scope(personas.tenant_a):
        assert list(personas.admin.calls.all()) == []


def test_a_service_handed_another_tenants_object_refuses_and_writes_nothing(personas: Personas) -> None:
    from recordings import social
    from recordings.models import Label
    from tests.factories import make_recording

    other = make_recording(personas.charlie)
    with tenant_scope(personas.tenant_a), pytest.raises(TenantScopeError):
        social.add_label(recording=other, name="Gezien", acting_user=personas.users["always"])
    assert not Label.objects.unscoped().filter(recording=other).exists()


def test_a_service_works_in_its_objects_scope_and_enters_it_only_when_none_is_active(
    personas: Personas,
) -> None:
    from tenants.scoping import active_tenant_id_or_none, service_scope

    with service_scope(personas.tenant_b) as entered:  # an edge calling the service directly
        assert entered == personas.tenant_b.pk == active_tenant_id_or_none()
    assert active_tenant_id_or_none() is None
    with tenant_scope(personas.tenant_a), service_scope(personas.tenant_a.pk) as same:
        assert same == personas.tenant_a.pk
    with (
        tenant_scope(personas.tenant_a),
        pytest.raises(TenantScopeError),
        service_scope(str(personas.tenant_b.pk)),
    ):
        pass  # pragma: no cover - refused before the block
    with pytest.raises(TenantScopeError), service_scope(None):  # tenant-less: no scope at all
        pass  # pragma: no cover
