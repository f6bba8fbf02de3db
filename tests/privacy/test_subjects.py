"""Data subject requests: find, metadata export, access copy (erasure: test_erase.py)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants import privacy
from tenants.audit import AuditEntry
from tenants.models import AccessCopy
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.privacy.factory import make_recording

CALLER = "+31612345678"


@pytest.fixture
def calls(personas: Personas) -> dict:
    mine = [make_recording(personas.users["always"], remote_number=CALLER) for _ in range(2)]
    other = make_recording(personas.users["always"], remote_number="+31687654321")
    staff_side = make_recording(personas.outsider, local_number=CALLER, remote_number="+31100000000")
    globex = make_recording(personas.charlie, remote_number=CALLER)
    return {"mine": [*mine, staff_side], "other": other, "globex": globex}


def test_numbers_are_read_in_national_form_and_bad_ones_refused(personas: Personas) -> None:
    assert privacy.normalise_number("06 12345678", personas.tenant_a) == CALLER
    assert privacy.normalise_number("+31 6 1234 5678", personas.tenant_a) == CALLER
    for bad in ["", "hello", "12"]:
        with pytest.raises(ValidationError):
            privacy.normalise_number(bad, personas.tenant_a)


def test_find_every_recording_of_a_number_in_the_own_tenant_only(personas: Personas, calls: dict) -> None:
    with tenant_scope(personas.tenant_a):
        found = set(privacy.recordings_involving(personas.tenant_a, CALLER).values_list("id", flat=True))
    assert found == {r.id for r in calls["mine"]}


def test_search_page_shows_the_count_and_logs_the_search(
    client: Client, personas: Personas, calls: dict
) -> None:
    client.force_login(personas.admin)
    response = client.get(reverse("privacy:subjects"), {"number": "0612345678"})
    assert response.status_code == 200
    assert response.context["count"] == 3
    assert b'name="confirmed_count" value="3"' in response.content
    with tenant_scope(personas.tenant_a):
        assert AuditEntry.objects.filter(action="privacy.subject.search", detail={"recordings": 3}).exists()
    # Charlie searching the same number finds only Globex's recording.
    client.force_login(personas.charlie)
    response = client.get(reverse("privacy:subjects"), {"number": CALLER})
    assert [r.id for r in response.context["recordings"]] == [calls["globex"].id]


def test_bad_number_is_a_form_error(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    response = client.get(reverse("privacy:subjects"), {"number": "not a number"})
    assert response.status_code == 200
    assert "number" in response.context["form"].errors


def test_metadata_export_csv_and_json(client: Client, personas: Personas, calls: dict) -> None:
    client.force_login(personas.admin)
    response = client.get(reverse("privacy:subject_csv"), {"number": CALLER})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["recording_id"] for row in rows} == {str(r.id) for r in calls["mine"]}
    assert "storage_key" not in rows[0] and "sha256" not in rows[0]
    data = json.loads(client.get(reverse("privacy:subject_json"), {"number": CALLER}).content)
    assert data["number"] == CALLER
    assert len(data["recordings"]) == 3
    with tenant_scope(personas.tenant_a):
        assert AuditEntry.objects.filter(action="privacy.subject.export").count() == 2
    assert client.get(reverse("privacy:subject_csv"), {"number": "nonsense"}).status_code == 400
    assert client.get(reverse("privacy:subject_csv")).status_code == 400


def test_access_copy_is_one_time_and_holds_the_audio(client: Client, personas: Personas, calls: dict) -> None:
    client.force_login(personas.admin)
    response = client.post(reverse("privacy:subject_access_copy"), {"number": CALLER})
    assert response.status_code == 200
    link = response.context["link"]
    token = link.rstrip("/").rsplit("/", 1)[-1]
    with tenant_scope(personas.tenant_a):
        copy = AccessCopy.objects.get()
        assert copy.token_hash != token and token not in copy.token_hash  # only the hash is kept
        assert AuditEntry.objects.filter(
            action="privacy.subject.access_copy", target_id=str(copy.pk)
        ).exists()

    person = Client()  # the caller, not signed in
    path = reverse("privacy:access_copy", args=[token])
    page = person.get(path)
    assert page.status_code == 200  # a page first: link scanners do not use it up
    assert person.get(path).status_code == 200
    download = person.post(path)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = archive.namelist()
    assert "recordings.json" in names
    audio = sorted(n for n in names if n.endswith(".ogg"))
    assert len(audio) == 3
    stored = set()
    for recording in calls["mine"]:
        with storages["recordings"].open(recording.storage_key) as handle:
            stored.add(handle.read())
    assert {archive.read(n) for n in audio} == stored
    meta = json.loads(archive.read("recordings.json"))
    assert all(row["remote_number"] == CALLER or row["local_number"] == CALLER for row in meta["recordings"])
    # Once only.
    assert person.post(path).status_code == 404
    assert person.get(path).status_code == 404
    with tenant_scope(personas.tenant_a):
        assert AuditEntry.objects.filter(action="privacy.subject.access_copy_download").count() == 1


def test_access_copy_expires_and_wrong_tokens_get_nothing(personas: Personas, calls: dict) -> None:
    issued = privacy.create_access_copy(tenant=personas.tenant_a, number=CALLER, acting_user=personas.admin)
    client = Client()
    assert client.get(reverse("privacy:access_copy", args=["x" * 43])).status_code == 404
    AccessCopy.objects.unscoped().filter(pk=issued.copy.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.post(reverse("privacy:access_copy", args=[issued.token])).status_code == 404


def test_access_copy_of_an_ended_tenant_does_not_open(personas: Personas, calls: dict) -> None:
    issued = privacy.create_access_copy(tenant=personas.tenant_a, number=CALLER, acting_user=personas.admin)
    personas.tenant_a.status = "ended"
    personas.tenant_a.save()
    assert Client().post(reverse("privacy:access_copy", args=[issued.token])).status_code == 404


def test_no_access_copy_without_recordings(personas: Personas) -> None:
    with pytest.raises(ValidationError, match="no recordings"):
        privacy.create_access_copy(
            tenant=personas.tenant_a, number="+31699999999", acting_user=personas.admin
        )
    assert AccessCopy.objects.unscoped().count() == 0


def test_subject_pages_refuse_other_roles(client: Client, personas: Personas, calls: dict) -> None:
    client.force_login(personas.listener)
    assert client.get(reverse("privacy:subject_csv"), {"number": CALLER}).status_code == 403
    assert client.post(reverse("privacy:subject_access_copy"), {"number": CALLER}).status_code == 403
    assert (
        client.post(reverse("privacy:subject_erase"), {"number": CALLER, "confirmed_count": 3}).status_code
        == 403
    )
    assert AccessCopy.objects.unscoped().count() == 0
