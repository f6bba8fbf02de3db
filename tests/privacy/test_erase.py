"""Right to erasure: a counted dry run, then every recording of the number goes (one deletion path)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse

from recordings import privacy
from recordings.models import Call, Recording
from tenants.audit import AuditEntry
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.privacy.factory import make_recording

CALLER = "+31612345678"


def test_erase_after_a_dry_run_count(client: Client, personas: Personas) -> None:
    theirs = [make_recording(personas.users["always"], remote_number=CALLER) for _ in range(2)]
    keep = make_recording(personas.users["always"], remote_number="+31687654321")
    globex = make_recording(personas.charlie, remote_number=CALLER)
    client.force_login(personas.admin)
    count = client.get(reverse("privacy:subjects"), {"number": "06-12345678"}).context["count"]
    assert count == 2
    response = client.post(
        reverse("privacy:subject_erase"), {"number": "06-12345678", "confirmed_count": count}
    )
    assert response.status_code == 302
    store = storages["recordings"]
    with tenant_scope(personas.tenant_a):
        for rec in theirs:
            row = Recording.objects.get(pk=rec.pk)
            assert row.deleted_at is not None and row.deletion_reason == privacy.SUBJECT_ERASURE
            assert row.remote_number == "" and row.storage_key == ""
            assert not store.exists(rec.storage_key)
            assert Call.objects.get(pk=rec.call_id).remote_number == ""
        assert Recording.objects.get(pk=keep.pk).deleted_at is None
        entry = AuditEntry.objects.get(action="privacy.subject.erase")
        assert entry.actor_label == "alice" and entry.detail["recordings"] == 2
        assert CALLER not in str(entry.detail)  # the log does not keep the erased number
    assert store.exists(keep.storage_key) and store.exists(globex.storage_key)
    with tenant_scope(personas.tenant_b):
        assert Recording.objects.get(pk=globex.pk).deleted_at is None
    # Nothing left to find.
    assert client.get(reverse("privacy:subjects"), {"number": CALLER}).context["count"] == 0


def test_a_stale_count_erases_nothing(personas: Personas) -> None:
    make_recording(personas.users["always"], remote_number=CALLER)
    make_recording(personas.users["always"], remote_number=CALLER)  # arrived after the count of 1
    with pytest.raises(ValidationError, match="changed since you counted"):
        privacy.erase_subject(
            tenant=personas.tenant_a, number=CALLER, confirmed_count=1, acting_user=personas.admin
        )
    with tenant_scope(personas.tenant_a):
        assert Recording.objects.live().count() == 2
        assert not AuditEntry.objects.filter(action="privacy.subject.erase").exists()


def test_erase_refuses_a_bad_number(personas: Personas) -> None:
    with pytest.raises(ValidationError):
        privacy.erase_subject(
            tenant=personas.tenant_a, number="abc", confirmed_count=0, acting_user=personas.admin
        )
