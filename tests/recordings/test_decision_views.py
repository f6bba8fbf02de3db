"""Keep/delete from the portal and the demo outbox page."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from notifications.models import Device, OutboxMessage, PushPrompt
from notifications.services import register_device
from recordings import lifecycle, rules
from recordings.models import ContactRule, Kind, Recording
from tenants.models import User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import committed, make_recording, object_exists


def ready(user: User) -> Recording:
    rec = make_recording(user)
    with committed():
        lifecycle.on_playback_ready(rec)
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        return Recording.objects.get(pk=rec.pk)


def state(rec: Recording) -> Recording:
    with tenant_scope(rec.tenant_id):
        return Recording.objects.get(pk=rec.pk)


@pytest.fixture
def owner(personas: Personas) -> User:
    user = personas.playback["days_30"]
    register_device(user=user, token="demo-phone", platform="web")
    return user


def test_outbox_shows_the_prompt_and_keep_works(client: Client, personas: Personas, owner: User) -> None:
    rec = ready(owner)
    client.force_login(owner)
    page = client.get(reverse("outbox"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Gesprek bewaren?" in html and "+31612345678" in html
    assert reverse("recording_keep", args=[rec.pk]) in html
    response = client.post(reverse("recording_keep", args=[rec.pk]), {"next": "/notifications/outbox/"})
    assert response.status_code == 303 and response["Location"] == "/notifications/outbox/"
    assert state(rec).saved
    page = client.get(reverse("outbox")).content.decode()
    assert "Recording kept." in page or "Opname bewaard" in page
    assert reverse("recording_keep", args=[rec.pk]) not in page  # answered: no more buttons


def test_delete_from_the_portal_and_then_again(client: Client, personas: Personas, owner: User) -> None:
    rec = ready(owner)
    client.force_login(owner)
    response = client.post(reverse("recording_delete", args=[rec.pk]))
    assert response.status_code == 303 and response["Location"] == reverse("outbox")
    assert state(rec).is_deleted and not object_exists(rec.storage_key)
    again = client.post(reverse("recording_delete", args=[rec.pk]), follow=True)
    gone = ("already deleted", "al verwijderd")  # Acme's people read Dutch
    assert any(text in again.content.decode() for text in gone)
    keep = client.post(reverse("recording_keep", args=[rec.pk]), follow=True)
    assert any(text in keep.content.decode() for text in gone)


def test_foreign_next_is_not_followed(client: Client, personas: Personas, owner: User) -> None:
    rec = ready(owner)
    client.force_login(owner)
    response = client.post(reverse("recording_keep", args=[rec.pk]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("outbox")


@pytest.mark.parametrize("who", ["other_playback", "admin", "listener", "charlie"])
def test_other_people_get_404_and_nothing_changes(
    client: Client, personas: Personas, owner: User, who: str
) -> None:
    rec = ready(owner)
    person = {
        "other_playback": personas.playback["days_90"],
        "admin": personas.admin,
        "listener": personas.listener,
        "charlie": personas.charlie,
    }[who]
    client.force_login(person)
    for name in ("recording_keep", "recording_delete"):
        assert client.post(reverse(name, args=[rec.pk])).status_code == 404
    assert not state(rec).saved and not state(rec).is_deleted


def test_standard_recordings_are_404_here(client: Client, personas: Personas) -> None:
    user = personas.users["always"]
    rec = make_recording(user, kind=Kind.STANDARD)
    client.force_login(user)
    assert client.post(reverse("recording_delete", args=[rec.pk])).status_code == 404
    assert not state(rec).is_deleted


def test_wrong_method_and_anonymous_and_support(client: Client, personas: Personas, owner: User) -> None:
    rec = ready(owner)
    assert client.post(reverse("recording_keep", args=[rec.pk])).status_code == 302  # to log-in
    assert client.get(reverse("outbox")).status_code == 302
    client.force_login(owner)
    assert client.get(reverse("recording_keep", args=[rec.pk])).status_code == 405
    assert client.post(reverse("outbox")).status_code == 405
    client.force_login(personas.support)
    assert client.post(reverse("recording_keep", args=[rec.pk])).status_code == 403
    assert client.get(reverse("outbox")).status_code == 403


def test_outbox_lists_only_the_users_own_prompts(client: Client, personas: Personas, owner: User) -> None:
    ready(owner)
    client.force_login(personas.playback["days_90"])
    page = client.get(reverse("outbox")).content.decode()
    assert "+31612345678" not in page


def test_demo_gives_rules_and_an_outbox_phone(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("demo", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["rules"] == {"blacklist": "+31201111111", "whitelist": "+31202222222"}
    call_command("demo", "--json")  # idempotent
    for key in ("playback_days_30", "playback_days_90", "playback_minutes_100k"):
        user = User.objects.get(username=data["users"][key]["username"])
        with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
            assert rules.is_blacklisted(user, "+31201111111")
            assert rules.is_whitelisted(user, "+31202222222")
            assert ContactRule.objects.filter(user=user).count() == 2
            assert Device.objects.filter(user=user, active=True).count() == 1
    user = User.objects.get(username=data["users"]["playback_days_30"]["username"])
    rec = ready(user)
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        prompt = PushPrompt.objects.get(recording=rec)
        assert prompt.status == PushPrompt.Status.SENT
        assert OutboxMessage.objects.filter(prompt=prompt).count() == 1
