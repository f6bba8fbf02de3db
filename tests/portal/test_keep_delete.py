"""Keep and delete from the portal: the home rows and the player link to the lifecycle's views."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from recordings.models import Recording
from tests.base import Personas
from tests.factories import make_recording


def test_unsaved_row_offers_keep_then_opens_the_player(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    unsaved = make_recording(pb)
    saved = make_recording(pb, saved=True)
    client.force_login(pb)
    html = client.get(reverse("home")).content.decode()
    keep_url = reverse("recording_keep", args=[unsaved.pk])
    assert f'action="{keep_url}"' in html
    assert reverse("recording_keep", args=[saved.pk]) not in html  # saved rows just open the player
    assert "data-swipe-keep" in html
    response = client.post(keep_url, {"next": reverse("player", args=[unsaved.pk])})
    assert response.status_code == 303
    assert response["Location"] == reverse("player", args=[unsaved.pk])
    unsaved.refresh_from_db()
    assert unsaved.saved
    assert "colour-dark_blue" in client.get(response["Location"]).content.decode()


def test_delete_asks_first(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    rec = make_recording(pb)
    client.force_login(pb)
    confirm = client.get(reverse("recording_delete_confirm", args=[rec.pk]))
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert f'action="{reverse("recording_delete", args=[rec.pk])}"' in html
    rec.refresh_from_db()
    assert not rec.is_deleted  # asking deletes nothing
    form = html[html.index(f'action="{reverse("recording_delete", args=[rec.pk])}"') :]
    next_url = re.search(r'name="next" value="([^"]+)"', form).group(1)
    response = client.post(reverse("recording_delete", args=[rec.pk]), {"next": next_url})
    assert response["Location"] == reverse("home")
    assert Recording.objects.unscoped().get(pk=rec.pk).is_deleted
    assert client.get(reverse("player", args=[rec.pk])).status_code == 404


def test_listeners_and_standard_recordings_have_no_delete(client: Client, personas: Personas) -> None:
    rec = make_recording(personas.users["always"])
    client.force_login(personas.listener)
    assert client.get(reverse("recording_delete_confirm", args=[rec.pk])).status_code == 403
    assert (
        reverse("recording_delete_confirm", args=[rec.pk]) not in client.get(reverse("home")).content.decode()
    )
    owner = Client()
    owner.force_login(personas.users["always"])
    assert owner.get(reverse("recording_delete_confirm", args=[rec.pk])).status_code == 403
