"""Data subject requests: find, metadata export, and the four-eyes access copy (erasure:
test_erase.py). A subject is the other party of a call: the tenant's own numbers are refused."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recordings import privacy
from recordings.models import Kind, PlaybackAccess, Recording
from tenants.audit import AuditEntry
from tenants.models import AccessCopy, AccessCopyNotice
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.privacy.factory import approved_access_copy, make_recording, requested_access_copy, second_admin

CALLER = "+31612345678"
OWN_LINE = "+31201234567"  # the tenant's line in every recording the factory makes


@pytest.fixture
def calls(personas: Personas) -> dict:
    mine = [make_recording(personas.users["always"], remote_number=CALLER) for _ in range(2)]
    private = make_recording(personas.playback["days_30"], remote_number=CALLER, kind=Kind.PLAYBACK)
    other = make_recording(personas.users["always"], remote_number="+31687654321")
    colleague = make_recording(personas.outsider, remote_number="+31100000000")
    globex = make_recording(personas.charlie, remote_number=CALLER)
    return {
        "mine": [*mine, private],
        "private": private,
        "other": other,
        "colleague": colleague,
        "globex": globex,
    }


def _token(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def test_numbers_are_read_in_national_form_and_bad_ones_refused(personas: Personas) -> None:
    assert privacy.normalise_number("06 12345678", personas.tenant_a) == CALLER
    assert privacy.normalise_number("+31 6 1234 5678", personas.tenant_a) == CALLER
    for bad in ["", "hello", "12"]:
        with pytest.raises(ValidationError):
            privacy.normalise_number(bad, personas.tenant_a)


def test_find_recordings_with_the_number_as_other_party_in_the_own_tenant_only(
    personas: Personas, calls: dict
) -> None:
    with tenant_scope(personas.tenant_a):
        found = set(privacy.recordings_involving(personas.tenant_a, CALLER).values_list("id", flat=True))
    assert found == {r.id for r in calls["mine"]}


@pytest.mark.parametrize("typed", [OWN_LINE, "020 123 4567", "+31 (0)20-123 45 67", "0031201234567"])
def test_the_tenants_own_number_is_refused_however_it_is_written(
    client: Client, personas: Personas, calls: dict, typed: str
) -> None:
    """The old attack: the tenant's own line matched every recording of every user."""
    with pytest.raises(ValidationError) as refused:
        privacy.subject_number(typed, personas.tenant_a)
    assert "number" in refused.value.error_dict
    client.force_login(personas.admin)
    page = client.get(reverse("privacy:subjects"), {"number": typed})
    assert "number" in page.context["form"].errors
    assert "recordings" not in page.context
    assert client.get(reverse("privacy:subject_csv"), {"number": typed}).status_code == 400
    assert client.get(reverse("privacy:subject_json"), {"number": typed}).status_code == 400
    second_admin(personas.admin)
    response = client.post(reverse("privacy:subject_access_copy"), {"number": typed, "reason": "letter"})
    assert response.status_code == 400
    assert AccessCopy.objects.unscoped().count() == 0
    with pytest.raises(ValidationError):
        privacy.erase_subject(
            tenant=personas.tenant_a, number=typed, confirmed_count=6, acting_user=personas.admin
        )
    with tenant_scope(personas.tenant_a):
        assert Recording.objects.live().count() == 5


_SEPARATORS = st.sampled_from(["", " ", "-", ".", "  ", " - "])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=st.sampled_from(["0", "+31", "0031", "+31 (0)", "+31(0)"]),
    separators=st.lists(_SEPARATORS, min_size=9, max_size=9),
    padding=st.sampled_from(["", " ", "\t", "\n"]),
)
def test_no_way_of_writing_the_own_line_gets_through(
    personas: Personas, calls: dict, prefix: str, separators: list[str], padding: str
) -> None:
    """Any formatting phonenumbers reads as the tenant's line is that line, and refused."""
    digits = "201234567"
    typed = padding + prefix + "".join(d + sep for d, sep in zip(digits, separators, strict=True)) + padding
    with pytest.raises(ValidationError) as refused:
        privacy.subject_number(typed, personas.tenant_a)
    assert "number" in refused.value.error_dict


def test_a_users_extension_and_a_line_seen_only_in_calls_are_refused(personas: Personas) -> None:
    from recordings.models import Call

    with pytest.raises(ValidationError, match="extension"):
        privacy.subject_number("201", personas.tenant_a)  # user_always's phone-system id
    # A second line of the tenant, known only from a call without a recording yet.
    with tenant_scope(personas.tenant_a):
        Call.objects.create(
            pbx_call_id="line-2",
            user=personas.users["always"],
            direction="outbound",
            leg="fixed",
            local_number="+31101234567",
            remote_number=CALLER,
            started_at=timezone.now(),
            kind="standard",
            record=False,
            announce=False,
        )
    with pytest.raises(ValidationError, match="own numbers"):
        privacy.subject_number("010 123 4567", personas.tenant_a)
    # Another tenant's line is a party like any other for this tenant.
    assert privacy.subject_number(OWN_LINE, personas.tenant_b) == OWN_LINE


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


# --- the access copy: four eyes ------------------------------------------------------------------


def test_with_one_admin_no_access_copy_can_be_made(client: Client, personas: Personas, calls: dict) -> None:
    with pytest.raises(ValidationError, match="second administrator"):
        privacy.request_access_copy(
            tenant=personas.tenant_a, number=CALLER, reason="letter", acting_user=personas.admin
        )
    client.force_login(personas.admin)
    page = client.get(reverse("privacy:subjects"), {"number": CALLER})
    assert page.context["four_eyes_possible"] is False
    assert reverse("privacy:subject_access_copy").encode() not in page.content  # no request form
    response = client.post(reverse("privacy:subject_access_copy"), {"number": CALLER, "reason": "letter"})
    assert response.status_code == 400
    assert AccessCopy.objects.unscoped().count() == 0


def test_a_request_needs_a_reason_and_an_admin(personas: Personas, calls: dict) -> None:
    second_admin(personas.admin)
    with pytest.raises(ValidationError) as refused:
        privacy.request_access_copy(
            tenant=personas.tenant_a, number=CALLER, reason=" ", acting_user=personas.admin
        )
    assert "reason" in refused.value.error_dict
    with pytest.raises(ValidationError, match="administrator"):
        privacy.request_access_copy(
            tenant=personas.tenant_a, number=CALLER, reason="letter", acting_user=personas.listener
        )
    with pytest.raises(ValidationError, match="no recordings"):
        privacy.request_access_copy(
            tenant=personas.tenant_a, number="+31611111119", reason="letter", acting_user=personas.admin
        )
    assert AccessCopy.objects.unscoped().count() == 0


def test_four_eyes_the_requester_cannot_approve_and_a_second_admin_can(
    client: Client, personas: Personas, calls: dict
) -> None:
    bob = second_admin(personas.admin)
    client.force_login(personas.admin)
    response = client.post(
        reverse("privacy:subject_access_copy"), {"number": "06 12345678", "reason": "E-mail of 1 Dec"}
    )
    assert response.status_code == 302 and response.url == reverse("privacy:access_copies")
    with tenant_scope(personas.tenant_a):
        copy = AccessCopy.objects.get()
        assert (copy.number, copy.created_by, copy.reason, copy.state) == (
            CALLER,
            personas.admin,
            "E-mail of 1 Dec",
            "pending",
        )
        assert copy.token_hash is None  # no link exists before the approval
        assert set(copy.recordings.values_list("pk", flat=True)) == {r.pk for r in calls["mine"]}
    approve = reverse("privacy:access_copy_approve", args=[copy.pk])

    # The requester: refused, in the service and on the page.
    with translation.override("en"), pytest.raises(ValidationError, match="four eyes"):
        privacy.approve_access_copy(tenant=personas.tenant_a, copy_id=copy.pk, acting_user=personas.admin)
    assert client.post(approve).status_code == 302
    assert client.get(approve).status_code == 405
    listing = client.get(reverse("privacy:access_copies"))
    assert reverse("privacy:access_copy_approve", args=[copy.pk]).encode() not in listing.content
    # Other roles: 403; another tenant's admin: 404.
    for person in (personas.listener, personas.users["always"], personas.playback["days_30"]):
        client.force_login(person)
        assert client.post(approve).status_code == 403
        assert client.get(reverse("privacy:access_copies")).status_code == 403
    client.force_login(personas.charlie)
    assert client.post(approve).status_code == 404
    with pytest.raises(Http404):
        privacy.approve_access_copy(tenant=personas.tenant_b, copy_id=copy.pk, acting_user=personas.charlie)
    copy.refresh_from_db()
    assert copy.approved_at is None and copy.token_hash is None

    # The second admin approves: the link is shown to them, once.
    client.force_login(bob)
    listing = client.get(reverse("privacy:access_copies"))
    assert approve.encode() in listing.content
    response = client.post(approve)
    assert response.status_code == 200
    token = _token(response.context["link"])
    copy.refresh_from_db()
    assert copy.approved_by == bob and copy.state == "approved"
    assert copy.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert copy.expires_at == copy.approved_at + privacy.ACCESS_COPY_TTL
    with tenant_scope(personas.tenant_a):
        assert AuditEntry.objects.filter(
            action="privacy.subject.access_copy_request", actor_id=personas.admin.pk
        ).exists()
        approval = AuditEntry.objects.get(action="privacy.subject.access_copy_approve")
        assert approval.actor_id == bob.pk and approval.detail["playback_users_told"] == 1
    # Approved once only.
    with translation.override("en"), pytest.raises(ValidationError, match="approved already"):
        privacy.approve_access_copy(tenant=personas.tenant_a, copy_id=copy.pk, acting_user=bob)
    # The page says, in the admins' language (Dutch for Acme), who requested and who approved.
    client.force_login(personas.admin)
    listing = client.get(reverse("privacy:access_copies")).content.decode()
    assert "door alice op" in listing and "door bob op" in listing
    assert "E-mail of 1 Dec" in listing


def test_the_access_copy_holds_the_audio_a_manifest_and_writes_the_access_log(
    client: Client, personas: Personas, calls: dict
) -> None:
    issued = approved_access_copy(personas.admin, CALLER)
    path = reverse("privacy:access_copy", args=[issued.token])
    person = Client()  # the caller, not signed in
    page = person.get(path)
    assert page.status_code == 200  # a page first: link scanners do not use it up
    assert b"alice" in page.content and b"bob" in page.content
    assert person.get(path).status_code == 200
    with tenant_scope(personas.tenant_a):
        assert not PlaybackAccess.objects.exists()

    download = person.post(path, HTTP_USER_AGENT="the person's browser")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = archive.namelist()
    audio = sorted(n for n in names if n != privacy.MANIFEST_NAME)
    assert len(audio) == 3 and privacy.MANIFEST_NAME in names
    stored = {}
    for recording in calls["mine"]:
        with storages["recordings"].open(recording.storage_key) as handle:
            stored[str(recording.pk)] = handle.read()

    manifest = json.loads(archive.read(privacy.MANIFEST_NAME))
    assert manifest["for_number"] == CALLER
    assert (manifest["requested_by"], manifest["approved_by"]) == ("alice", "bob")
    assert manifest["reason"] and manifest["requested_at"] and manifest["approved_at"] and manifest["made_at"]
    entries = {entry["recording_id"]: entry for entry in manifest["recordings"]}
    assert set(entries) == set(stored)
    for rec_id, entry in entries.items():
        data = archive.read(entry["file"])
        assert data == stored[rec_id]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size_bytes"] == len(data)
        assert entry["remote_number"] == CALLER
    copy = AccessCopy.objects.unscoped().get(pk=issued.copy.pk)
    assert copy.manifest == manifest and copy.state == "used"  # the product keeps its own copy

    # One access-log row per recording in the ZIP, in the playback log.
    with tenant_scope(personas.tenant_a):
        rows = list(PlaybackAccess.objects.all())
        assert len(rows) == len(audio)
        assert {str(row.recording_id) for row in rows} == set(entries)
        assert {row.via for row in rows} == {PlaybackAccess.Via.ACCESS_COPY}
        assert all(row.user_id is None and row.user_agent == "the person's browser" for row in rows)
        assert (
            AuditEntry.objects.filter(
                action="privacy.subject.access_copy_download", detail={"recordings": 3}
            ).count()
            == 1
        )

    # Once only.
    assert person.post(path).status_code == 404
    assert person.get(path).status_code == 404
    with tenant_scope(personas.tenant_a):
        assert PlaybackAccess.objects.count() == 3


def test_a_recording_erased_before_the_download_is_neither_in_the_zip_nor_logged(
    personas: Personas, calls: dict
) -> None:
    from recordings import lifecycle

    issued = approved_access_copy(personas.admin, CALLER)
    lifecycle.delete_recording(recording=calls["private"], acting_user=personas.playback["days_30"])
    response = Client().post(reverse("privacy:access_copy", args=[issued.token]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read(privacy.MANIFEST_NAME))
    assert len(manifest["recordings"]) == 2 == len(archive.namelist()) - 1
    with tenant_scope(personas.tenant_a):
        assert PlaybackAccess.objects.count() == 2


def test_a_pending_request_has_no_link_and_expires(personas: Personas, calls: dict) -> None:
    copy = requested_access_copy(personas.admin, CALLER)
    AccessCopy.objects.unscoped().filter(pk=copy.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="expired"):
        privacy.approve_access_copy(
            tenant=personas.tenant_a, copy_id=copy.pk, acting_user=second_admin(personas.admin)
        )
    copy.refresh_from_db()
    assert copy.approved_at is None and copy.state == "expired"
    with tenant_scope(personas.tenant_a):
        assert not AccessCopyNotice.objects.exists()


def test_an_approved_copy_expires_and_wrong_tokens_get_nothing(personas: Personas, calls: dict) -> None:
    issued = approved_access_copy(personas.admin, CALLER)
    client = Client()
    assert client.get(reverse("privacy:access_copy", args=["x" * 43])).status_code == 404
    AccessCopy.objects.unscoped().filter(pk=issued.copy.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get(reverse("privacy:access_copy", args=[issued.token])).status_code == 404
    assert client.post(reverse("privacy:access_copy", args=[issued.token])).status_code == 404
    with tenant_scope(personas.tenant_a):
        assert not PlaybackAccess.objects.exists()


def test_access_copy_of_an_ended_tenant_does_not_open(personas: Personas, calls: dict) -> None:
    issued = approved_access_copy(personas.admin, CALLER)
    personas.tenant_a.status = "ended"
    personas.tenant_a.save()
    assert Client().post(reverse("privacy:access_copy", args=[issued.token])).status_code == 404


def test_the_playback_user_is_told_when_the_copy_is_approved(
    client: Client, personas: Personas, calls: dict
) -> None:
    owner = personas.playback["days_30"]
    copy = requested_access_copy(personas.admin, CALLER)
    with tenant_scope(personas.tenant_a):
        assert not AccessCopyNotice.objects.exists()  # a request alone tells nobody
    privacy.approve_access_copy(
        tenant=personas.tenant_a, copy_id=copy.pk, acting_user=second_admin(personas.admin)
    )
    with tenant_scope(personas.tenant_a):
        notice = AccessCopyNotice.objects.get()  # the Playback user only (the others are standard)
    assert (notice.user, notice.recordings, notice.access_copy_id) == (owner, 1, copy.pk)

    client.force_login(owner)
    home = client.get(reverse("home")).content.decode()
    assert CALLER in home and "alice" in home and "bob" in home
    assert reverse("privacy:notice_seen", args=[notice.pk]) in home
    # Nobody else sees it or can mark it read.
    other = Client()
    other.force_login(personas.users["always"])
    assert reverse("privacy:notice_seen", args=[notice.pk]) not in other.get(reverse("home")).content.decode()
    assert other.post(reverse("privacy:notice_seen", args=[notice.pk])).status_code == 404
    assert client.get(reverse("privacy:notice_seen", args=[notice.pk])).status_code == 405
    # Read: it leaves the page; the entry stays.
    assert client.post(reverse("privacy:notice_seen", args=[notice.pk])).status_code == 302
    assert (
        reverse("privacy:notice_seen", args=[notice.pk]) not in client.get(reverse("home")).content.decode()
    )
    notice.refresh_from_db()
    assert notice.seen_at is not None
    # The admins see who was told.
    admin = Client()
    admin.force_login(personas.admin)
    assert owner.username in admin.get(reverse("privacy:access_copies")).content.decode()


def test_subject_pages_refuse_other_roles(client: Client, personas: Personas, calls: dict) -> None:
    second_admin(personas.admin)
    client.force_login(personas.listener)
    assert client.get(reverse("privacy:subject_csv"), {"number": CALLER}).status_code == 403
    assert (
        client.post(reverse("privacy:subject_access_copy"), {"number": CALLER, "reason": "x"}).status_code
        == 403
    )
    assert (
        client.post(reverse("privacy:subject_erase"), {"number": CALLER, "confirmed_count": 3}).status_code
        == 403
    )
    assert AccessCopy.objects.unscoped().count() == 0


def test_the_register_and_staff_policy_describe_the_access_copy(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)  # Acme's pages are in Dutch
    for name in ("privacy:register_document", "privacy:register_markdown"):
        body = client.get(reverse(name)).content.decode()
        assert "recht op inzage, art. 15 AVG" in body and "tweede" in body, name
    assert "twee beheerders akkoord" in client.get(reverse("privacy:staff_policy")).content.decode()


def test_a_second_admin_can_refuse_and_the_requester_withdraw(
    client: Client, personas: Personas, calls: dict
) -> None:
    bob = second_admin(personas.admin)
    refused = requested_access_copy(personas.admin, CALLER)
    withdrawn = requested_access_copy(personas.admin, CALLER)
    client.force_login(bob)
    assert client.get(reverse("privacy:access_copy_refuse", args=[refused.pk])).status_code == 405
    assert client.post(reverse("privacy:access_copy_refuse", args=[refused.pk])).status_code == 302
    client.force_login(personas.charlie)
    assert client.post(reverse("privacy:access_copy_refuse", args=[withdrawn.pk])).status_code == 404
    client.force_login(personas.listener)
    assert client.post(reverse("privacy:access_copy_refuse", args=[withdrawn.pk])).status_code == 403
    client.force_login(personas.admin)
    assert client.post(reverse("privacy:access_copy_refuse", args=[withdrawn.pk])).status_code == 302
    refused.refresh_from_db()
    withdrawn.refresh_from_db()
    assert (refused.state, refused.refused_by, withdrawn.state, withdrawn.refused_by) == (
        "refused",
        bob,
        "refused",
        personas.admin,
    )
    # No link can be made for a refused request, and nobody is told.
    with translation.override("en"), pytest.raises(ValidationError, match="refused"):
        privacy.approve_access_copy(tenant=personas.tenant_a, copy_id=refused.pk, acting_user=bob)
    refused.refresh_from_db()
    assert refused.token_hash is None and refused.approved_at is None
    with tenant_scope(personas.tenant_a):
        assert not AccessCopyNotice.objects.exists()
        entries = AuditEntry.objects.filter(action="privacy.subject.access_copy_refuse").order_by("seq")
        assert [(e.actor_id, e.detail["withdrawn"]) for e in entries] == [
            (bob.pk, False),
            (personas.admin.pk, True),
        ]
    listing = client.get(reverse("privacy:access_copies")).content.decode()
    assert "Geweigerd door bob" in listing and "Geweigerd door alice" in listing
