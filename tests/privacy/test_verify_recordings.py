"""``manage.py verify_recordings`` re-checks the SHA-256 recorded at processing."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command

from recordings.models import Recording
from tenants.audit import AuditEntry
from tenants.scoping import tenant_scope
from tests.base import Personas
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


def test_the_player_shows_verified(personas: Personas) -> None:
    from django.test import Client
    from django.urls import reverse

    recording = make_recording(personas.users["always"])
    client = Client()
    client.force_login(personas.users["always"])
    url = reverse("player", args=[recording.pk])
    # (the page is in the tenant's language: read the marker, not the word)
    assert '<span class="verified">' not in client.get(url).content.decode()
    call_command("verify_recordings", stdout=io.StringIO())
    assert '<span class="verified">' in client.get(url).content.decode()
    _flip_one_byte(recording.storage_key)
    with pytest.raises(CommandError):
        call_command("verify_recordings", stdout=io.StringIO(), stderr=io.StringIO())
    assert '<span class="verified">' not in client.get(url).content.decode()
