"""``manage.py verify_recordings`` re-checks the SHA-256 recorded at processing."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime

from recordings.models import Integrity, IntegrityProblem, Recording
from tenants.audit import AuditEntry
from tenants.scoping import tenant_scope
from tests.base import Personas, login_support
from tests.privacy.factory import make_recording


def _flip_one_byte(key: str) -> None:
    store = storages["recordings"]
    with store.open(key, "rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0x01
    store.delete(key)
    from django.core.files.base import ContentFile

    assert store.save(key, ContentFile(bytes(data))) == key


def test_intact_recordings_are_verified(personas: Personas) -> None:
    recordings = [make_recording(personas.users["always"]), make_recording(personas.charlie)]
    out = io.StringIO()
    call_command("verify_recordings", stdout=out)
    assert "2 recording(s) verified" in out.getvalue()
    for recording in recordings:
        with tenant_scope(recording.tenant_id):
            assert Recording.objects.get(pk=recording.pk).verified_at is not None


def test_a_changed_byte_is_detected(personas: Personas) -> None:
    good = make_recording(personas.users["always"])
    bad = make_recording(personas.users["always"])
    _flip_one_byte(bad.storage_key)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 recording"):
        call_command("verify_recordings", stderr=err, stdout=io.StringIO())
    assert f"recording {bad.pk}: content does not match its SHA-256" in err.getvalue()
    with tenant_scope(personas.tenant_a):
        assert Recording.objects.get(pk=bad.pk).verified_at is None
        assert Recording.objects.get(pk=good.pk).verified_at is not None
        entry = AuditEntry.objects.get(action="recording.integrity_failed")
    assert entry.target_id == str(bad.pk)


def test_a_missing_object_is_detected(personas: Personas) -> None:
    lost = make_recording(personas.users["always"])
    storages["recordings"].delete(lost.storage_key)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_recordings", "--tenant", "acme", stderr=err, stdout=io.StringIO())
    assert "stored object is missing" in err.getvalue()


def test_one_tenant_only_and_unknown_tenant(personas: Personas) -> None:
    make_recording(personas.users["always"])
    bad = make_recording(personas.charlie)
    _flip_one_byte(bad.storage_key)
    out = io.StringIO()
    call_command("verify_recordings", "--tenant", "acme", stdout=out)
    assert "1 recording(s) verified" in out.getvalue()
    with pytest.raises(CommandError, match="No active tenant"):
        call_command("verify_recordings", "--tenant", "nope")


def _integrity_mark(client: Client, recording: Recording) -> str:
    """The player's integrity line ("" when there is none: it shows only when something is wrong)."""
    body = client.get(reverse("player", args=[recording.pk])).content.decode()
    assert "data-player" in body  # the player itself is there
    if '<div class="integrity">' not in body:
        return ""
    start = body.index('<div class="integrity">')
    return body[start : body.index("</div>", start)]


def test_the_player_speaks_of_integrity_only_when_it_failed(personas: Personas) -> None:
    recording = make_recording(personas.users["always"])
    client = Client()
    client.force_login(personas.users["always"])

    assert _integrity_mark(client, recording) == ""  # never checked: nothing to say

    call_command("verify_recordings", stdout=io.StringIO())
    with tenant_scope(recording.tenant_id):
        checked = Recording.objects.get(pk=recording.pk)
    assert checked.integrity == Integrity.VERIFIED
    assert _integrity_mark(client, recording) == ""  # checked and sound: nothing to say

    _flip_one_byte(recording.storage_key)
    with pytest.raises(CommandError):
        call_command("verify_recordings", stdout=io.StringIO(), stderr=io.StringIO())
    with tenant_scope(recording.tenant_id):
        failed = Recording.objects.get(pk=recording.pk)
    assert failed.integrity == Integrity.FAILED
    assert failed.verified_at is None and failed.integrity_problem == IntegrityProblem.MISMATCH
    mark = _integrity_mark(client, recording)
    assert '<strong class="integrity-failed" role="alert">' in mark  # a warning
    assert date_format(localtime(failed.integrity_failed_at), "SHORT_DATETIME_FORMAT") in mark  # its time

    # Repaired (the original bytes back): the next check passes and the warning goes.
    _flip_one_byte(recording.storage_key)
    call_command("verify_recordings", stdout=io.StringIO())
    with tenant_scope(recording.tenant_id):
        repaired = Recording.objects.get(pk=recording.pk)
    assert repaired.integrity == Integrity.VERIFIED
    assert repaired.integrity_failed_at is None and repaired.integrity_problem == ""
    assert _integrity_mark(client, recording) == ""


def test_a_missing_object_shows_as_failed_not_unchecked(personas: Personas) -> None:
    recording = make_recording(personas.users["always"])
    storages["recordings"].delete(recording.storage_key)
    with pytest.raises(CommandError):
        call_command("verify_recordings", stdout=io.StringIO(), stderr=io.StringIO())
    with tenant_scope(recording.tenant_id):
        assert Recording.objects.get(pk=recording.pk).integrity_problem == IntegrityProblem.MISSING
    client = Client()
    client.force_login(personas.users["always"])
    assert "integrity-failed" in _integrity_mark(client, recording)


def test_the_admins_see_failed_recordings(personas: Personas) -> None:
    """The customer admin (Manage → Privacy, and the access log) and support staff (the admin's
    integrity filter) see a failure; the other tenant's admin does not."""
    good = make_recording(personas.users["always"])
    bad = make_recording(personas.users["always"])
    _flip_one_byte(bad.storage_key)
    with pytest.raises(CommandError):
        call_command("verify_recordings", stdout=io.StringIO(), stderr=io.StringIO())

    client = Client()
    client.force_login(personas.admin)
    page = client.get(reverse("privacy:overview")).content.decode()
    assert 'class="card warning integrity-failures"' in page
    assert str(bad.pk) in page and str(good.pk) not in page
    client.force_login(personas.charlie)
    page = client.get(reverse("privacy:overview")).content.decode()
    assert "integrity-failures" not in page and str(bad.pk) not in page

    login_support(client, personas.support)
    changelist = reverse("admin:recordings_recording_changelist")
    failed = client.get(changelist, {"integrity": "failed"}).content.decode()
    assert str(bad.pk) in failed and str(good.pk) not in failed
    assert "⚠ FAILED: content does not match its SHA-256" in failed
    verified = client.get(changelist, {"integrity": "verified"}).content.decode()
    assert str(good.pk) in verified and str(bad.pk) not in verified
    unchecked = make_recording(personas.users["always"])
    listing = client.get(changelist, {"integrity": "unchecked"}).content.decode()
    assert str(unchecked.pk) in listing and str(bad.pk) not in listing and str(good.pk) not in listing
    assert "not checked yet" in listing
