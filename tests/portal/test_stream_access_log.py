"""The playback access log: one row per issued stream URL, written before the first byte, naming
who really listened; the audit-log entry after the last byte."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from recordings import social, streaming
from recordings.models import PlaybackAccess, Recording
from tenants.audit import AuditEntry
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.streams import player_audio_url, streamed_bytes


def _accesses(recording: Recording) -> list[PlaybackAccess]:
    return list(PlaybackAccess.objects.unscoped().filter(recording=recording))


def _played(recording: Recording) -> list[AuditEntry]:
    return list(AuditEntry.objects.unscoped().filter(action="recording.played", target_id=str(recording.pk)))


@pytest.fixture
def rec(personas: Personas) -> Recording:
    return make_recording(personas.users["always"])


# --- one row per issued URL, before the bytes ------------------------------------------------------


def test_exactly_one_access_row_per_url_however_often_it_seeks(
    client: Client, personas: Personas, rec: Recording
) -> None:
    """Each Range request of one URL (in any worker) checks again but does not log the playback
    again; a new player page is a new playback."""
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    for rng in ("bytes=0-9", "bytes=10-19", "bytes=20-"):
        response = client.get(url, headers={"Range": rng})
        assert response.status_code == 206
        streamed_bytes(response)
    accesses = _accesses(rec)
    assert len(accesses) == 1 and accesses[0].stream_nonce.startswith("user:")
    assert len(_played(rec)) == 1
    streamed_bytes(client.get(player_audio_url(client, rec)))  # a new player page: a new playback
    assert len(_accesses(rec)) == 2 and len(_played(rec)) == 2


def test_the_database_keeps_one_row_per_url(personas: Personas, rec: Recording) -> None:
    with tenant_scope(rec.tenant_id):
        PlaybackAccess.objects.create(recording=rec, via="portal", stream_nonce="user:abc")
        with pytest.raises(IntegrityError), transaction.atomic():
            PlaybackAccess.objects.create(recording=rec, via="app", stream_nonce="user:abc")
        PlaybackAccess.objects.create(recording=rec, via="portal")  # rows of before: no nonce
        PlaybackAccess.objects.create(recording=rec, via="portal")


def test_the_access_row_is_there_before_the_first_byte_and_the_audit_entry_after_the_last(
    client: Client, personas: Personas, rec: Recording
) -> None:
    user = personas.users["always"]
    client.force_login(user)
    url = player_audio_url(client, rec)
    response = client.get(url, REMOTE_ADDR="192.0.2.9", headers={"User-Agent": "Player/1"})
    assert response.status_code == 200
    access = PlaybackAccess.objects.unscoped().get(recording=rec)  # nothing sent yet
    assert (access.user, access.via, access.ip, access.user_agent) == (
        user,
        "portal",
        "192.0.2.9",
        "Player/1",
    )
    assert _played(rec) == []
    assert streamed_bytes(response)  # sent: the server closes the response
    entry = AuditEntry.objects.unscoped().get(action="recording.played")
    assert entry.actor_id == user.pk and entry.target_id == str(rec.pk) and entry.ip == "192.0.2.9"
    assert entry.tenant_id == rec.tenant_id and entry.detail == {"via": "portal", "share": None}


def test_a_failing_audit_write_keeps_the_access_row_and_the_playback(
    client: Client, personas: Personas, rec: Recording, monkeypatch: pytest.MonkeyPatch, caplog: object
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(streaming, "log_event", broken)
    client.force_login(personas.users["always"])
    with caplog.at_level(logging.ERROR, logger="recordings.streaming"):  # type: ignore[attr-defined]
        response = client.get(player_audio_url(client, rec), headers={"Range": "bytes=0-99"})
        assert response.status_code == 206 and len(streamed_bytes(response)) == 100
    assert len(_accesses(rec)) == 1 and _played(rec) == []
    assert "recording.played not written" in caplog.text  # type: ignore[attr-defined]


def test_no_byte_leaves_when_the_access_row_cannot_be_written(
    client: Client, personas: Personas, rec: Recording
) -> None:
    def refuse(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("INSERT INTO") and PlaybackAccess._meta.db_table in sql:
            raise DatabaseError("the access log is unavailable")
        return execute(sql, params, many, context)

    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    with connection.execute_wrapper(refuse), pytest.raises(DatabaseError):
        client.get(url, headers={"Range": "bytes=0-9"})
    assert _accesses(rec) == [] and _played(rec) == []
    response = client.get(url, headers={"Range": "bytes=0-9"})  # the log is back: it plays, logged
    assert response.status_code == 206 and len(streamed_bytes(response)) == 10 and len(_accesses(rec)) == 1


# --- a first request that is not allowed logs nothing ----------------------------------------------


def test_a_listener_who_lost_the_team_logs_nothing(
    client: Client, personas: Personas, rec: Recording
) -> None:
    client.force_login(personas.listener)
    url = player_audio_url(client, rec)
    personas.sales.listeners.remove(personas.listener)
    assert client.get(url).status_code == 404
    assert _accesses(rec) == [] and _played(rec) == []


def test_a_deleted_recording_logs_nothing(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    Recording.objects.unscoped().filter(pk=rec.pk).update(deleted_at=dt.datetime.now(tz=dt.UTC))
    assert client.get(url).status_code == 404
    assert _accesses(rec) == []


def test_an_ended_tenant_logs_nothing(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    Tenant.objects.filter(pk=rec.tenant_id).update(status=Tenant.Status.ENDED)
    assert client.get(url).status_code != 206
    assert _accesses(rec) == []


def test_someone_elses_session_or_an_expired_url_logs_nothing(
    client: Client, personas: Personas, rec: Recording, settings: object
) -> None:
    import time_machine

    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    other = Client()
    other.force_login(personas.listener)  # may hear the recording, but not through this URL
    assert other.get(url).status_code == 403
    later = dt.datetime.now(tz=dt.UTC) + settings.STREAM_URL_TTL + dt.timedelta(seconds=5)  # type: ignore[attr-defined]
    with time_machine.travel(later):
        assert client.get(url).status_code == 403
    assert _accesses(rec) == []


def test_a_share_links_playback_is_logged_once_and_audited_after_the_bytes(
    personas: Personas, rec: Recording
) -> None:
    with tenant_scope(rec.tenant_id):
        issued = social.create_share(recording=rec, acting_user=personas.users["always"], expires_in="7d")
    share, token = issued.share, issued.token
    stranger = Client()
    page = stranger.get(reverse("share_page", args=[token])).content.decode()
    audio = re.search(r'<audio id="audio"[^>]*src="([^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    first = stranger.get(audio, headers={"Range": "bytes=0-9"})
    assert first.status_code == 206 and _played(rec) == []
    assert len(streamed_bytes(first)) == 10
    for rng in ("bytes=10-19", "bytes=-5"):
        streamed_bytes(stranger.get(audio, headers={"Range": rng}))
    access = PlaybackAccess.objects.unscoped().get(recording=rec)
    assert access.via == "share" and access.share == share and access.stream_nonce.startswith("share:")
    (entry,) = _played(rec)
    assert entry.actor_id is None and entry.detail == {"via": "share", "share": str(share.pk)}
