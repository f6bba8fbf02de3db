from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse

from tenants.audit import AppendOnlyError, AuditEntry, log_event, verify_all
from tenants.scoping import tenant_scope
from tests.base import Personas, login_support


def _entries(chain_tenant: object) -> list[AuditEntry]:
    with tenant_scope(chain_tenant):  # type: ignore[arg-type]
        return list(AuditEntry.objects.order_by("seq"))


def test_entries_chain_per_tenant(personas: Personas) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="pytest")
    first = log_event(tenant=personas.tenant_a, actor=personas.admin, action="user.create", request=request)
    log_event(tenant=personas.tenant_b, actor=personas.charlie, action="user.create")
    second = log_event(
        tenant=personas.tenant_a, actor=personas.admin, action="licence.change", target=personas.sales
    )
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert first.ip == "192.0.2.7" and first.user_agent == "pytest"
    assert second.target_type == "tenants.team" and second.target_id == str(personas.sales.pk)
    assert [e.action for e in _entries(personas.tenant_a)] == ["user.create", "licence.change"]
    assert [e.action for e in _entries(personas.tenant_b)] == ["user.create"]
    assert verify_all() == []


def test_entries_cannot_be_changed_or_deleted(personas: Personas) -> None:
    entry = log_event(tenant=personas.tenant_a, actor=personas.admin, action="x")
    entry.action = "y"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.unscoped().filter(pk=entry.pk).update(action="y")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.unscoped().filter(pk=entry.pk).delete()


def _tamper(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize("how", ["content", "removed", "last_removed"])
def test_verify_reports_the_first_broken_link(personas: Personas, how: str) -> None:
    entries = [log_event(tenant=personas.tenant_a, actor=personas.admin, action=f"a{n}") for n in range(5)]
    call_command("verify_audit_log")  # intact
    table = AuditEntry._meta.db_table
    if how == "content":
        _tamper(f"UPDATE {table} SET action = %s WHERE id = %s", ["forged", entries[2].pk])  # noqa: S608
        expected_seq = 3
    elif how == "removed":
        _tamper(f"DELETE FROM {table} WHERE id = %s", [entries[1].pk])  # noqa: S608
        expected_seq = 2
    else:
        _tamper(f"DELETE FROM {table} WHERE id = %s", [entries[4].pk])  # noqa: S608
        expected_seq = 5
    broken = verify_all()
    assert len(broken) == 1
    assert broken[0].chain == str(personas.tenant_a.pk)
    assert broken[0].seq == expected_seq
    with pytest.raises(CommandError, match="1 audit chain"):
        call_command("verify_audit_log")


def test_support_staff_admin_changes_are_audited(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    client.post(
        reverse("admin:tenants_licence_add"),
        {"tenant": personas.tenant_a.pk, "user": personas.no_product.pk, "mode": "on_demand"},
    )
    entry = _entries(personas.tenant_a)[-1]
    assert entry.action == "support.licence.create"
    assert entry.actor_label == "sam"
    assert client.get(reverse("admin:tenants_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:tenants_auditentry_add")).status_code == 403
