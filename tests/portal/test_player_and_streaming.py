"""The player and streaming: short-lived tokens bound to person and recording, Range, no download."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from recordings import streaming
from recordings.models import PlaybackAccess, Recording
from tests.base import Personas
from tests.factories import make_recording
from tests.streams import player_audio_url, streamed_bytes


@pytest.fixture
def rec(personas: Personas) -> Recording:
    return make_recording(personas.users["always"], paused_at=2)


def test_player_page_shows_details_waveform_markers_and_no_download(
    client: Client, personas: Personas, rec: Recording
) -> None:
    client.force_login(personas.users["always"])
    html = client.get(reverse("player", args=[rec.pk])).content.decode()
    assert 'controlslist="nodownload' in html
    assert "download" not in html.replace("nodownload", "")
    assert html.count('class="pause-marker"') == 1
    assert "data-waveform" in html
    assert rec.remote_number in html


def test_full_and_ranged_streaming(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    data = (streaming_source := streamed_bytes(client.get(url)))
    assert len(data) == rec.size_bytes
    full = client.get(url)
    assert full.status_code == 200
    assert full["Content-Disposition"] == "inline"
    assert "no-store" in full["Cache-Control"]
    assert full["Accept-Ranges"] == "bytes"
    assert full["Content-Type"] == "audio/mpeg"
    assert int(full["Content-Length"]) == rec.size_bytes
    streamed_bytes(full)

    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{rec.size_bytes}"
    assert part["Content-Length"] == "100"
    assert streamed_bytes(part) == streaming_source[100:200]

    tail = client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206
    assert streamed_bytes(tail) == streaming_source[-50:]

    open_end = client.get(url, headers={"Range": f"bytes={rec.size_bytes - 10}-"})
    assert streamed_bytes(open_end) == streaming_source[-10:]

    beyond_end = client.get(url, headers={"Range": f"bytes=10-{rec.size_bytes + 1000}"})
    assert beyond_end["Content-Range"] == f"bytes 10-{rec.size_bytes - 1}/{rec.size_bytes}"
    assert streamed_bytes(beyond_end) == streaming_source[10:]

    bad = client.get(url, headers={"Range": f"bytes={rec.size_bytes}-"})
    assert bad.status_code == 416
    assert bad["Content-Range"] == f"bytes */{rec.size_bytes}"
    assert "attachment" not in bad.get("Content-Disposition", "")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=5-", (5, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes=9-3", None),
        ("items=0-5", None),
        ("bytes=0-5,10-20", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert streaming.parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-160", "bytes=-0"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(streaming.Unsatisfiable):
        streaming.parse_range(header, 100)


def test_token_is_bound_to_the_person(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    # the listener may hear this recording, but not through someone else's URL
    other = Client()
    other.force_login(personas.listener)
    assert other.get(url).status_code == 403
    assert Client().get(url).status_code == 403  # anonymous: refused (an audio element cannot log in)
    outsider = Client()
    outsider.force_login(personas.charlie)
    assert outsider.get(url).status_code in {403, 404}


def test_token_is_bound_to_the_recording(client: Client, personas: Personas, rec: Recording) -> None:
    other = make_recording(personas.users["always"])
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    token = url.split("t=")[1]
    assert client.get(reverse("recording_audio", args=[other.pk]) + f"?t={token}").status_code == 403
    assert client.get(reverse("recording_audio", args=[rec.pk]) + "?t=forged").status_code == 403
    assert client.get(reverse("recording_audio", args=[rec.pk])).status_code == 403


def test_token_expires(client: Client, personas: Personas, rec: Recording, settings: object) -> None:
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + settings.STREAM_URL_TTL + dt.timedelta(seconds=5)):  # type: ignore[attr-defined]
        assert client.get(url).status_code == 403


def test_lost_access_stops_streaming(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    Recording.objects.unscoped().filter(pk=rec.pk).update(deleted_at=dt.datetime.now(tz=dt.UTC))
    assert client.get(url).status_code == 404


def test_every_playback_is_logged_once_however_often_it_seeks(
    client: Client, personas: Personas, rec: Recording
) -> None:
    user = personas.users["always"]
    client.force_login(user)
    url = player_audio_url(client, rec)
    for rng in ("bytes=0-", "bytes=500-", "bytes=1000-1100"):
        streamed_bytes(client.get(url, headers={"Range": rng}, REMOTE_ADDR="192.0.2.7"))
    accesses = list(PlaybackAccess.objects.unscoped().filter(recording=rec))
    assert len(accesses) == 1
    assert accesses[0].user == user and accesses[0].via == "portal" and accesses[0].ip == "192.0.2.7"
    streamed_bytes(client.get(player_audio_url(client, rec)))  # a second playback (a new player page)
    assert PlaybackAccess.objects.unscoped().filter(recording=rec).count() == 2


def test_a_deleted_recording_stops_mid_playback(client: Client, personas: Personas, rec: Recording) -> None:
    from recordings.lifecycle import delete_recording_objects

    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    first = client.get(url, headers={"Range": "bytes=0-9"})
    assert first.status_code == 206 and len(streamed_bytes(first)) == 10
    delete_recording_objects(recordings=[rec], reason="user_deleted")
    assert client.get(url, headers={"Range": "bytes=10-19"}).status_code == 404


def test_the_url_plays_only_in_the_session_that_asked_for_it(
    client: Client, personas: Personas, rec: Recording
) -> None:
    """Bound to the session it was issued to: another session, even of the same person, a
    forged cookie and no cookie get 403 and no byte."""
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    elsewhere = Client()
    elsewhere.force_login(personas.users["always"])
    assert elsewhere.cookies["sessionid"].value != client.cookies["sessionid"].value
    forged = Client()
    forged.cookies["sessionid"] = "not-the-session"
    for browser in (elsewhere, forged, Client()):
        response = browser.get(url, headers={"Range": "bytes=0-9"})
        assert response.status_code == 403 and not getattr(response, "streaming", False)
    assert not PlaybackAccess.objects.unscoped().filter(recording=rec).exists()
    response = client.get(url, headers={"Range": "bytes=0-9"})
    assert response.status_code == 206 and len(streamed_bytes(response)) == 10


def test_a_deactivated_person_cannot_start_a_playback(
    client: Client, personas: Personas, rec: Recording
) -> None:
    user = personas.users["always"]
    client.force_login(user)
    url = player_audio_url(client, rec)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(url).status_code == 403
    assert not PlaybackAccess.objects.unscoped().filter(recording=rec).exists()


def test_listener_plays_a_team_members_recording(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.listener)
    response = client.get(player_audio_url(client, rec), headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert len(streamed_bytes(response)) == 10


def test_listener_cannot_open_recordings_outside_their_teams(client: Client, personas: Personas) -> None:
    outside = make_recording(personas.outsider)
    playback = make_recording(personas.playback["days_30"])
    client.force_login(personas.listener)
    assert client.get(reverse("player", args=[outside.pk])).status_code == 404
    assert client.get(reverse("player", args=[playback.pk])).status_code == 404


def test_x_accel_redirect_mode(client: Client, personas: Personas, rec: Recording, settings: object) -> None:
    settings.STREAM_X_ACCEL_PREFIX = "/_recordings/"  # type: ignore[attr-defined]
    client.force_login(personas.users["always"])
    response = client.get(player_audio_url(client, rec))
    assert response["X-Accel-Redirect"] == f"/_recordings/{rec.storage_key}"
    assert response["Content-Disposition"] == "inline"
    assert response.content == b""


def test_range_file_sends_only_the_range(personas: Personas, rec: Recording) -> None:
    from django.core.files.storage import FileSystemStorage, storages

    if not isinstance(storages["recordings"], FileSystemStorage):
        pytest.skip("the sendfile path is for recordings on local disk; S3 streams by ranged GET")
    path = storages["recordings"].path(rec.storage_key)
    with open(path, "rb") as fh:
        whole = fh.read()
    raw = open(path, "rb")  # noqa: SIM115
    ranged = streaming._RangeFile(raw, 10, 20)
    assert raw.tell() == 10  # a sendfile()-ing server starts here
    assert ranged.read(1_000_000) == whole[10:30]
    assert ranged.read(10) == b""
    ranged.close()
