"""Share links: created by the owner, public page shows only what was chosen, streams, revocable."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from recordings import social
from recordings.models import PlaybackAccess, Recording, ShareLink, ShareOpen
from tenants.audit import AuditEntry
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording


@pytest.fixture
def rec(personas: Personas) -> Recording:
    return make_recording(personas.users["always"], remote_number="+31699887766")


def _share_url(html: str) -> str:
    match = re.search(r'id="share-url" readonly value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_owner_creates_a_share_link_and_a_stranger_listens(
    client: Client, personas: Personas, rec: Recording
) -> None:
    owner = personas.users["always"]
    client.force_login(owner)
    with tenant_scope(rec.tenant_id):
        social.add_label(recording=rec, name="Geheim label", acting_user=owner)
        social.add_comment(recording=rec, text="Interne notitie", acting_user=owner)
    response = client.post(
        reverse("share_create", args=[rec.pk]),
        {"expires_in": "7d", "show_details": "on", "show_labels": "on"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    url = _share_url(html)
    assert "wa.me" in html and "mailto:" in html and "sms:" in html and "data-web-share" in html
    share = ShareLink.objects.unscoped().get()
    assert abs(share.expires_at - share.created_at - dt.timedelta(days=7)) < dt.timedelta(seconds=5)
    path = url.split("testserver", 1)[1]
    assert share.token_hash not in path  # only the hash is stored

    stranger = Client()
    page = stranger.get(path, REMOTE_ADDR="198.51.100.4")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Geheim label" in text
    assert "Interne notitie" not in text  # comments were not chosen
    assert "+31699887766" not in text  # nor the other party
    assert page["Cache-Control"] == "no-store"
    opens = ShareOpen.objects.unscoped().filter(share=share)
    assert opens.count() == 1 and opens[0].ip == "198.51.100.4"
    assert AuditEntry.objects.unscoped().filter(action="share.opened").count() == 1

    audio = re.search(r'<audio id="audio"[^>]*src="([^"]+)"', text).group(1).replace("&amp;", "&")
    part = stranger.get(audio, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part["Content-Disposition"] == "inline"
    assert len(b"".join(part.streaming_content)) == 100
    access = PlaybackAccess.objects.unscoped().get(recording=rec)
    assert access.via == "share" and access.share == share and access.user is None

    # the owner sees the opening on the player page
    player = client.get(reverse("player", args=[rec.pk])).content.decode()
    assert "Opened once" in player or "1 keer geopend" in player

    # revoke: the page and the audio stop working at once
    client.post(reverse("share_revoke", args=[rec.pk, share.pk]))
    assert stranger.get(path).status_code == 404
    assert stranger.get(audio).status_code == 404


def test_share_with_pin(client: Client, personas: Personas, rec: Recording) -> None:
    issued = social.create_share(recording=rec, acting_user=personas.users["always"], pin="4321")
    path = reverse("share_page", args=[issued.token])
    stranger = Client()
    first = stranger.get(path)
    assert first.status_code == 200 and 'name="pin"' in first.content.decode()
    assert "<audio" not in first.content.decode()
    assert ShareOpen.objects.unscoped().count() == 0
    assert stranger.post(path, {"pin": "1111"}).status_code == 403
    assert stranger.post(path, {"pin": "4321"}).status_code == 302
    assert "<audio" in stranger.get(path).content.decode()
    # another browser without the PIN cannot take the audio URL along
    page = stranger.get(path).content.decode()
    audio = re.search(r'src="([^"]+/audio[^"]+)"', page).group(1).replace("&amp;", "&")
    assert Client().get(audio).status_code == 403


def test_pin_attempts_are_limited(personas: Personas, rec: Recording) -> None:
    issued = social.create_share(recording=rec, acting_user=personas.users["always"], pin="2468")
    path = reverse("share_page", args=[issued.token])
    for i in range(10):  # ten clients, so that no one waits (tests/portal/test_share_pins.py)
        Client().post(path, {"pin": "0000"}, REMOTE_ADDR=f"198.51.100.{i + 1}")
    blocked = Client().post(path, {"pin": "2468"}, REMOTE_ADDR="203.0.113.1")
    assert blocked.status_code == 403 and "<audio" not in blocked.content.decode()


def test_share_expires(personas: Personas, rec: Recording) -> None:
    issued = social.create_share(recording=rec, acting_user=personas.users["always"], expires_in="1d")
    path = reverse("share_page", args=[issued.token])
    assert Client().get(path).status_code == 200
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=1, minutes=1)):
        assert Client().get(path).status_code == 404


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"expires_in": "forever"}, ValidationError),
        ({"pin": "12"}, ValidationError),
        ({"pin": "abcd"}, ValidationError),
    ],
)
def test_bad_share_input(personas: Personas, rec: Recording, kwargs: dict[str, str], error: type) -> None:
    with pytest.raises(error):
        social.create_share(recording=rec, acting_user=personas.users["always"], **kwargs)
    assert ShareLink.objects.unscoped().count() == 0


def test_only_the_owner_shares(client: Client, personas: Personas, rec: Recording) -> None:
    with pytest.raises(PermissionDenied):
        social.create_share(recording=rec, acting_user=personas.listener)
    client.force_login(personas.listener)
    assert client.post(reverse("share_create", args=[rec.pk])).status_code == 403
    assert ShareLink.objects.unscoped().count() == 0


def test_unknown_and_deleted(personas: Personas, rec: Recording) -> None:
    assert Client().get(reverse("share_page", args=["nonsense"])).status_code == 404
    issued = social.create_share(recording=rec, acting_user=personas.users["always"])
    Recording.objects.unscoped().filter(pk=rec.pk).update(deleted_at=dt.datetime.now(tz=dt.UTC))
    assert Client().get(reverse("share_page", args=[issued.token])).status_code == 404
