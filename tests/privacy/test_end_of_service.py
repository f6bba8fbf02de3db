"""The end of a customer's service: everything goes, with a report that proves it."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse

from recordings import privacy
from recordings.models import Call, Recording
from tenants.audit import AuditEntry
from tenants.models import DeletionReport, Tenant, User
from tests.base import Personas, login, login_support
from tests.privacy.factory import approved_access_copy, make_recording


def _acme_objects(personas: Personas) -> list[str]:
    return privacy.storage_objects_of(personas.tenant_a.pk)


@pytest.fixture
def data(personas: Personas) -> dict:
    recs = [make_recording(personas.users["always"]) for _ in range(5)]
    recs.append(make_recording(personas.playback["days_30"], kind="playback"))
    globex = make_recording(personas.charlie)
    # An orphan object (a raw upload a crashed worker left behind) is found and swept too.
    orphan = storages["recordings"].save(
        f"tenants/{personas.tenant_a.pk}/uploads/orphan.wav", ContentFile(b"RIFF" + b"\0" * 64)
    )
    approved_access_copy(personas.admin, "+31612345678")
    return {"recs": recs, "globex": globex, "orphan": orphan}


def test_support_staff_end_the_service_and_the_tenant_is_emptied(
    client: Client, personas: Personas, data: dict, django_capture_on_commit_callbacks: object
) -> None:
    alice = Client()
    login(alice, "alice")
    assert alice.get("/").status_code == 200
    assert len(_acme_objects(personas)) == 7

    login_support(client, personas.support)
    changelist = reverse("admin:tenants_tenant_changelist")
    form = {"action": "end_service", "_selected_action": [str(personas.tenant_a.pk)]}
    confirm = client.post(changelist, form)
    assert confirm.status_code == 200  # a confirmation page first; nothing happened yet
    assert b"cannot be undone" in confirm.content
    assert Tenant.objects.get(pk=personas.tenant_a.pk).status == "active"

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        done = client.post(changelist, {**form, "confirm": "yes"})
    assert done.status_code == 302

    report = DeletionReport.objects.get(tenant=personas.tenant_a)
    assert report.status == DeletionReport.Status.DONE
    assert report.verified
    assert report.objects_remaining == 0 and report.rows_remaining == 0
    assert report.counts["recordings"] == 6
    assert report.counts["storage_objects_at_start"] == 7
    assert report.counts["storage_objects_swept"] == 1  # the orphan
    assert report.requested_by == "sam"
    assert report.started_at and report.finished_at and report.runs == 1
    # The report holds no personal data: no names, numbers or storage keys.
    text = json.dumps(privacy.deletion_report_document(report))
    for personal in ["alice", "user_always", "+316", "+3120", "tenants/", ".opus"]:
        assert personal not in text, personal

    assert _acme_objects(personas) == []
    tenant_id = personas.tenant_a.pk
    for model in privacy.tenant_owned_models():
        assert not model.objects.unscoped().filter(tenant_id=tenant_id).exists(), model
    assert not User.objects.filter(tenant_id=tenant_id).exists()
    assert not Recording.objects.unscoped().filter(tenant_id=tenant_id).exists()
    assert not Call.objects.unscoped().filter(tenant_id=tenant_id).exists()
    # Nobody of the tenant gets in any more; the old session stopped working.
    assert alice.get("/").status_code == 302
    # Globex is untouched.
    assert storages["recordings"].exists(data["globex"].storage_key)
    assert Recording.objects.unscoped().filter(tenant=personas.tenant_b).count() == 1
    assert User.objects.filter(username="charlie").exists()
    # The audit chain of the tenant records who ended it, and stays whole.
    entries = AuditEntry.objects.unscoped().filter(tenant_id=tenant_id)
    # (who: support staff's id; the name, address and browser are erased with the tenant's data)
    assert entries.filter(action="support.tenant.end_service", actor_id=personas.support.pk).exists()
    assert not entries.exclude(actor_label="").exists()
    assert entries.filter(action="support.tenant.purged", detail__status="done").exists()
    from tenants.audit import verify_all

    assert verify_all() == []
    # The report is visible to support staff in the admin.
    page = client.get(reverse("admin:tenants_deletionreport_change", args=[report.pk]))
    assert page.status_code == 200


def test_purge_resumes_after_an_interruption(
    personas: Personas, data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recordings import lifecycle

    real = lifecycle.delete_recording_objects
    calls = {"n": 0}

    def dies_on_the_second_batch(**kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")  # what a SIGKILL leaves behind: a half-done purge
        return real(**kwargs)

    monkeypatch.setattr(lifecycle, "delete_recording_objects", dies_on_the_second_batch)
    privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    with pytest.raises(SystemExit):
        privacy.purge_tenant(tenant_id=personas.tenant_a.pk, batch=2)
    report = DeletionReport.objects.get(tenant=personas.tenant_a)
    assert report.status == DeletionReport.Status.RUNNING
    assert report.counts["recordings"] == 2
    assert len(_acme_objects(personas)) == 5

    monkeypatch.setattr(lifecycle, "delete_recording_objects", real)
    report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk, batch=2)
    assert report.status == DeletionReport.Status.DONE and report.verified
    assert report.runs == 2
    assert report.counts["recordings"] == 6
    assert _acme_objects(personas) == []
    # Running it again is harmless.
    assert privacy.purge_tenant(tenant_id=personas.tenant_a.pk).runs == 2


def test_an_object_that_cannot_be_deleted_fails_the_report(
    personas: Personas, data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = storages["recordings"]
    real_delete = store.delete

    def refuses_the_orphan(name: str) -> None:
        if name == data["orphan"]:
            raise PermissionError("read-only object")
        real_delete(name)

    monkeypatch.setattr(type(store), "delete", lambda self, name: refuses_the_orphan(name))
    privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    assert report.status == DeletionReport.Status.FAILED
    assert report.objects_remaining == 1 and not report.verified
    monkeypatch.undo()
    report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)  # run again once storage works
    assert report.verified and report.runs == 2


def test_only_support_staff_end_a_service(personas: Personas) -> None:
    with pytest.raises(ValidationError):
        privacy.end_service(tenant=personas.tenant_a, acting_user=personas.admin)
    assert Tenant.objects.get(pk=personas.tenant_a.pk).status == "active"
    assert not DeletionReport.objects.exists()


def test_an_active_tenant_is_never_purged(personas: Personas, data: dict) -> None:
    with pytest.raises((ValidationError, DeletionReport.DoesNotExist)):
        privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    assert len(_acme_objects(personas)) == 7


def test_customers_cannot_reach_the_action(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    response = client.post(
        reverse("admin:tenants_tenant_changelist"),
        {"action": "end_service", "_selected_action": [str(personas.tenant_a.pk)], "confirm": "yes"},
    )
    assert response.status_code == 302 and "login" in response["Location"]
    assert Tenant.objects.get(pk=personas.tenant_a.pk).status == "active"


def test_the_purged_demo_tenant_reports_zero_objects_left(db: None) -> None:
    """The issue's "done when": a tenant built by ``manage.py demo``, with recordings and a raw
    upload in storage (S3 in the real-services run) and people in its audit log, purged: the
    report shows zero objects and rows left and no personal data in the log, and proves it."""
    import io

    from django.core.management import call_command
    from django.test import RequestFactory

    from tenants.audit import log_event, verify_all

    call_command("demo", "--json", stdout=io.StringIO())
    demo = Tenant.objects.get(slug="demo")
    for username in ["always", "on_demand", "playback_days_30"]:
        make_recording(User.objects.get(username=username))
    storages["recordings"].save(f"tenants/{demo.pk}/uploads/raw.wav", ContentFile(b"RIFF" + b"\0" * 64))
    admin = User.objects.get(username="admin")
    browser = RequestFactory().get("/", REMOTE_ADDR="192.0.2.55", HTTP_USER_AGENT="DemoBrowser/1")
    log_event(tenant=demo, actor=admin, action="manage.team.create", detail={"name": "Demo"}, request=browser)
    support = User.objects.create_user(username="sam", password="x" * 12, is_staff=True)
    assert len(privacy.storage_objects_of(demo.pk)) == 4

    privacy.end_service(tenant=demo, acting_user=support, request=browser)
    report = privacy.purge_tenant(tenant_id=demo.pk)

    document = privacy.deletion_report_document(report)
    assert document["verified"] is True
    assert document["objects_remaining"] == 0 and document["rows_remaining"] == 0
    assert document["audit_entries_with_personal_data"] == 0
    assert document["counts"]["recordings"] == 3
    assert document["counts"]["storage_objects_at_start"] == 4
    assert privacy.storage_objects_of(demo.pk) == []  # listed again here, not taken from the report
    assert not User.objects.filter(tenant=demo).exists()
    entries = AuditEntry.objects.unscoped().filter(tenant_id=demo.pk)
    assert entries.exists() and not entries.exclude(actor_label="").exists()
    assert not entries.filter(ip__isnull=False).exists() and not entries.exclude(user_agent="").exists()
    assert verify_all() == []
