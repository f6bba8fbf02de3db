"""The end of service erases the personal fields of the tenant's audit log, and the chain still
verifies (hash scheme 2: personal fields behind a salted digest)."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import RequestFactory

from recordings import privacy
from tenants.audit import (
    GENESIS,
    AuditChainHead,
    AuditEntry,
    erase_personal_fields,
    log_event,
    personal_data_left,
    personal_detail_keys,
    verify_all,
    verify_chain,
)
from tenants.models import DeletionReport, User
from tests.base import Personas, login_support

TABLE = AuditEntry._meta.db_table
ACME_IP = "192.0.2.7"
ACME_UA = "AcmeBrowser/1.0 (Linux)"
GLOBEX_IP = "198.51.100.9"
GLOBEX_UA = "GlobexBrowser/2.0"
NUMBER = "+31612345678"


def _request(ip: str, agent: str) -> object:
    return RequestFactory().get("/", REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)


def _raw_rows(where: str = "", params: tuple = ()) -> list[str]:
    """The audit table's rows as the database holds them (every column), as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {TABLE} {where}", params)  # noqa: S608
        return [repr(row) for row in cursor.fetchall()]


def _tamper(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def logged(personas: Personas) -> dict:
    """Entries of both tenants carrying names, addresses, browsers and numbers."""
    acme = _request(ACME_IP, ACME_UA)
    log_event(tenant=personas.tenant_a, actor=personas.admin, action="manage.settings.update", request=acme)
    log_event(
        tenant=personas.tenant_a,
        actor=personas.admin,
        action="manage.team.create",
        target=personas.sales,
        detail={"name": personas.sales.name},
        request=acme,
    )
    log_event(
        tenant=personas.tenant_a,
        actor=personas.listener,
        action="recording.played",
        detail={"via": "portal", "caller_id": "+31 6 1234 5678", "count": 3},
        request=acme,
    )
    log_event(
        tenant=personas.tenant_a,
        actor=personas.admin,
        action="manage.contact_rule.create",
        detail={"list": "blacklist", "number": NUMBER, "contact": "jan@example.nl"},
        request=acme,
    )
    log_event(
        tenant=personas.tenant_b,
        actor=personas.charlie,
        action="manage.contact_rule.create",
        detail={"number": "+31687654321"},
        request=_request(GLOBEX_IP, GLOBEX_UA),
    )
    return {
        "acme_users": list(User.objects.filter(tenant=personas.tenant_a).values_list("username", flat=True))
    }


def test_personal_detail_values_are_recognised() -> None:
    detail = {
        "name": "Team Jan",
        "caller": "anonymous",
        "via": "portal",
        "x": "+31 6 1234 5678",
        "y": ["a", "jan@example.nl"],
        "recordings": 3,
        "since": "2026-11-29",
        "fields": ["purpose", "legal_basis"],
        "share": "7f1c0a52-3b0e-4a43-9a7b-4f1f4bca6e1e",
    }
    assert personal_detail_keys(detail) == ["caller", "name", "x", "y"]
    assert personal_detail_keys(detail, extra=["via"]) == ["caller", "name", "via", "x", "y"]


def test_entries_are_sealed_in_scheme_2(personas: Personas, logged: dict) -> None:
    entry = AuditEntry.objects.unscoped().get(chain=str(personas.tenant_a.pk), action="recording.played")
    assert entry.hash_version == 2
    assert entry.personal_keys == ["caller_id"]
    assert entry.personal_digest == entry.compute_personal_digest() and len(entry.personal_salt) == 32
    assert "caller_id" not in entry.payload()["detail"] and entry.payload()["detail"]["via"] == "portal"
    assert "actor_label" not in entry.payload() and "ip" not in entry.payload()
    assert verify_all() == []


def test_the_purge_erases_personal_fields_and_the_chain_still_verifies(
    personas: Personas, logged: dict
) -> None:
    acme_chain = str(personas.tenant_a.pk)
    globex_before = _raw_rows("WHERE chain = %s ORDER BY seq", (str(personas.tenant_b.pk),))
    assert any(ACME_IP in row and "alice" in row for row in _raw_rows())  # there before the purge

    privacy.end_service(
        tenant=personas.tenant_a, acting_user=personas.support, request=_request(ACME_IP, ACME_UA)
    )
    report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)

    # Nothing personal of Acme is left anywhere in the audit table (every column of every row).
    acme_personal = [*logged["acme_users"], "sam", ACME_IP, ACME_UA, NUMBER, "1234 5678", "jan@example.nl"]
    acme_personal.append(personas.sales.name)
    for row in _raw_rows():
        for value in acme_personal:
            assert value not in row, (value, row)
    # ... while the entries themselves are still there, saying what happened and when.
    entries = list(AuditEntry.objects.unscoped().filter(chain=acme_chain).order_by("seq"))
    assert [e.action for e in entries][:4] == [
        "manage.settings.update",
        "manage.team.create",
        "recording.played",
        "manage.contact_rule.create",
    ]
    assert all(e.personal_erased_at is not None for e in entries[:-1])
    played = entries[2]
    assert played.detail == {"via": "portal", "caller_id": None, "count": 3}
    assert played.actor_id == personas.listener.pk  # a pseudonym without its person now
    assert played.actor_display == "(erased)" and played.detail_display["caller_id"] == "(erased)"
    assert entries[-1].action == "support.tenant.purged" and not entries[-1].has_personal_data

    # The report says so; the chains verify; Globex's entries are untouched.
    assert report.verified and report.audit_entries_with_personal_data == 0
    assert report.counts["audit_entries_anonymised"] == len(entries) - 1
    assert privacy.deletion_report_document(report)["audit_entries_with_personal_data"] == 0
    assert verify_all() == []
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)
    assert "intact" in out.getvalue()
    assert _raw_rows("WHERE chain = %s ORDER BY seq", (str(personas.tenant_b.pk),)) == globex_before
    assert any(GLOBEX_IP in row and "charlie" in row and "+31687654321" in row for row in globex_before)

    # Running it again (a resumed request) is harmless and erases what was written since.
    privacy.end_service(
        tenant=personas.tenant_a, acting_user=personas.support, request=_request(ACME_IP, ACME_UA)
    )
    again = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    assert again.verified and personal_data_left(tenant_id=personas.tenant_a.pk) == 0
    assert not any(ACME_IP in row for row in _raw_rows())
    assert verify_all() == []


@pytest.fixture
def purged(personas: Personas, logged: dict) -> list[AuditEntry]:
    privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    assert verify_all() == []
    return list(AuditEntry.objects.unscoped().filter(chain=str(personas.tenant_a.pk)).order_by("seq"))


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (f"UPDATE {TABLE} SET action = 'forged' WHERE id = %s", "does not match its hash"),  # noqa: S608
        (f"UPDATE {TABLE} SET target_id = 'x' WHERE id = %s", "does not match its hash"),  # noqa: S608
        (f"UPDATE {TABLE} SET personal_digest = '{'0' * 64}' WHERE id = %s", "does not match its hash"),  # noqa: S608
        (f"UPDATE {TABLE} SET personal_keys = '[]' WHERE id = %s", "does not match its hash"),  # noqa: S608
        (f"UPDATE {TABLE} SET actor_label = 'mallory' WHERE id = %s", "written into it after"),  # noqa: S608
        (f"UPDATE {TABLE} SET personal_erased_at = NULL WHERE id = %s", "do not match their digest"),  # noqa: S608
    ],
)
def test_tampering_after_the_purge_is_detected(
    personas: Personas, purged: list[AuditEntry], sql: str, problem: str
) -> None:
    _tamper(sql, [purged[2].pk])
    broken = verify_all()
    assert len(broken) == 1
    assert broken[0].chain == str(personas.tenant_a.pk) and broken[0].seq == purged[2].seq
    assert problem in broken[0].problem
    with pytest.raises(CommandError, match="1 audit chain"):
        call_command("verify_audit_log", stderr=io.StringIO())


def test_personal_fields_of_a_live_tenant_are_protected(personas: Personas, logged: dict) -> None:
    entry = AuditEntry.objects.unscoped().get(chain=str(personas.tenant_a.pk), action="manage.team.create")
    # Changed while there: the digest no longer matches.
    _tamper(f"UPDATE {TABLE} SET ip = %s WHERE id = %s", ["203.0.113.1", entry.pk])  # noqa: S608
    assert "do not match their digest" in verify_chain(str(personas.tenant_a.pk)).problem  # type: ignore[union-attr]
    _tamper(f"UPDATE {TABLE} SET ip = %s WHERE id = %s", [ACME_IP, entry.pk])  # noqa: S608
    assert verify_all() == []
    # Erased by hand while the tenant's service has not ended: reported.
    _tamper(
        f"UPDATE {TABLE} SET actor_label = '', ip = NULL, user_agent = '', personal_salt = '', "  # noqa: S608
        "personal_erased_at = created_at WHERE id = %s",
        [entry.pk],
    )
    broken = verify_chain(str(personas.tenant_a.pk))
    assert broken is not None and "has not ended" in broken.problem
    # And the product never erases an active tenant's log.
    with pytest.raises(ValidationError, match="has not ended"):
        erase_personal_fields(tenant_id=personas.tenant_b.pk)
    assert personal_data_left(tenant_id=personas.tenant_b.pk) == 1


def _old_entry(tenant: object, seq: int, prev: str, **fields: object) -> AuditEntry:
    """An entry as scheme 1 wrote it (every field hashed directly)."""
    from django.utils import timezone

    entry = AuditEntry(
        chain=str(tenant.pk),  # type: ignore[attr-defined]
        seq=seq,
        tenant=tenant,
        created_at=timezone.now(),
        prev_hash=prev,
        hash_version=1,
        **fields,
    )
    entry.hash = entry.compute_hash()
    entry.save()
    AuditChainHead.objects.update_or_create(chain=entry.chain, defaults={"seq": seq, "last_hash": entry.hash})
    return entry


def _reseal() -> None:
    """Run the data migration that re-seals scheme-1 chains, on its own historical models."""
    import importlib

    migration = importlib.import_module("tenants.migrations.0006_audit_reseal_scheme_2")
    state = MigrationLoader(connection).project_state(("tenants", "0006_audit_reseal_scheme_2"))
    migration.reseal(state.apps, None)


def test_old_entries_verify_are_resealed_and_then_erasable(personas: Personas) -> None:
    a, b = personas.tenant_a, personas.tenant_b
    prev = GENESIS
    for n in range(3):
        prev = _old_entry(
            a,
            n + 1,
            prev,
            actor_label="alice",
            ip=ACME_IP,
            user_agent=ACME_UA,
            action=f"old{n}",
            detail={"number": NUMBER} if n == 1 else {"count": n},
        ).hash
    prev_b = GENESIS
    b_entries = []
    for n in range(3):
        b_entries.append(_old_entry(b, n + 1, prev_b, actor_label="charlie", action=f"old{n}"))
        prev_b = b_entries[-1].hash
    # Scheme-1 entries and scheme-2 entries after them verify together.
    log_event(tenant=b, actor=personas.charlie, action="new", request=_request(GLOBEX_IP, GLOBEX_UA))
    assert verify_all() == []
    _tamper(f"UPDATE {TABLE} SET action = 'forged' WHERE id = %s", [b_entries[1].pk])  # noqa: S608
    assert [(x.chain, x.seq) for x in verify_all()] == [(str(b.pk), 2)]

    _reseal()

    a_entries = list(AuditEntry.objects.unscoped().filter(chain=str(a.pk)).order_by("seq"))
    assert [e.hash_version for e in a_entries] == [2, 2, 2]
    assert a_entries[1].personal_keys == ["number"] and a_entries[1].actor_label == "alice"
    assert AuditChainHead.objects.get(chain=str(a.pk)).last_hash == a_entries[-1].hash
    # A broken chain keeps scheme 1 and its break is still reported where it was.
    b_versions = AuditEntry.objects.unscoped().filter(chain=str(b.pk)).order_by("seq")
    assert list(b_versions.values_list("hash_version", flat=True)) == [1, 1, 1, 2]
    assert [(x.chain, x.seq) for x in verify_all()] == [(str(b.pk), 2)]
    # Re-sealed entries are protected like new ones, and can be erased at the end of service.
    log_event(tenant=a, actor=personas.admin, action="newer")
    privacy.end_service(tenant=a, acting_user=personas.support)
    report = privacy.purge_tenant(tenant_id=a.pk)
    assert report.verified
    assert not any("alice" in row or NUMBER in row for row in _raw_rows("WHERE chain = %s", (str(a.pk),)))
    assert [(x.chain, x.seq) for x in verify_all()] == [(str(b.pk), 2)]


def test_the_migration_can_be_reversed(personas: Personas, logged: dict) -> None:
    """Migrating back re-links intact chains in scheme 1; forward again re-seals them."""
    import importlib

    migration = importlib.import_module("tenants.migrations.0006_audit_reseal_scheme_2")
    state = MigrationLoader(connection).project_state(("tenants", "0006_audit_reseal_scheme_2"))
    migration.unseal(state.apps, None)
    entries = AuditEntry.objects.unscoped().all()
    assert set(entries.values_list("hash_version", flat=True)) == {1}
    assert verify_all() == []
    first = entries.get(chain=str(personas.tenant_a.pk), seq=1)
    _tamper(f"UPDATE {TABLE} SET ip = %s WHERE id = %s", ["203.0.113.1", first.pk])  # noqa: S608
    assert len(verify_all()) == 1  # scheme 1 covers the address directly
    _tamper(f"UPDATE {TABLE} SET ip = %s WHERE id = %s", [ACME_IP, first.pk])  # noqa: S608
    migration.reseal(state.apps, None)
    assert set(entries.values_list("hash_version", flat=True)) == {2}
    assert verify_all() == []


def test_a_purge_with_personal_data_left_in_the_log_is_not_verified(
    personas: Personas, logged: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenants import audit

    monkeypatch.setattr(audit, "erase_personal_fields", lambda **kwargs: 0)  # a purge that forgot it
    privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    assert report.status == DeletionReport.Status.FAILED and not report.verified
    assert report.audit_entries_with_personal_data == 5
    monkeypatch.undo()
    report = privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    assert report.verified and report.audit_entries_with_personal_data == 0


def test_support_staffs_admin_history_loses_the_tenants_names(personas: Personas) -> None:
    from django.contrib.admin.models import LogEntry
    from django.test import Client
    from django.urls import reverse

    client = Client()
    login_support(client, personas.support)
    client.post(
        reverse("admin:tenants_licence_add"),
        {"tenant": personas.tenant_a.pk, "user": personas.no_product.pk, "mode": "on_demand"},
    )
    client.post(
        reverse("admin:tenants_licence_add"),
        {"tenant": personas.tenant_b.pk, "user": personas.charlie.pk, "mode": "on_demand"},
    )
    name = str(personas.no_product)
    assert LogEntry.objects.filter(object_repr__contains=name).exists()

    privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    assert report.verified and report.counts["admin_history_anonymised"] >= 1
    assert not LogEntry.objects.filter(object_repr__contains=name).exists()
    assert LogEntry.objects.filter(object_repr__contains=str(personas.charlie)).exists()  # Globex's stays
