"""Stream URLs are bound to the person and the live credential that asked for them (issue 13):
a URL alone never plays; log-out, token revocation, deactivation, a team change and the end of
the service stop it at once; the access log names who really listened; absurd Ranges are 416."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from recordings import social
from recordings.models import PlaybackAccess, Recording
from tenants.api.tokens import authenticate_api_token, issue_api_token, revoke_api_token
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.api.test_auth import assert_error
from tests.base import Personas
from tests.factories import make_recording
from tests.streams import player_audio_url, streamed_bytes

ABSURD = "bytes=" + "9" * 5000 + "-"


def _app(user: User) -> tuple[APIClient, str]:
    secret = issue_api_token(user=user, name="phone", acting_user=user).secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, secret


def _stream_url(client: APIClient, rec: Recording) -> str:
    response = client.post(f"/api/v1/recordings/{rec.pk}/stream")
    assert response.status_code == 200
    return response.json()["url"].replace("http://testserver", "")


def _accesses(rec: Recording) -> list[PlaybackAccess]:
    return list(PlaybackAccess.objects.unscoped().filter(recording=rec))


def _status(response: Any) -> int:
    """The status of an audio response, its bytes read (so the file is closed)."""
    if getattr(response, "streaming", False):
        streamed_bytes(response)
    return response.status_code


def _denied(response: Any) -> None:
    """403 stream_denied, and not one byte of audio."""
    assert not getattr(response, "streaming", False)
    assert_error(response, 403, "stream_denied")


@pytest.fixture
def rec(personas: Personas) -> Recording:
    return make_recording(personas.users["always"])


# --- the app's URL: only with the same live API token ----------------------------------------------


def test_the_app_url_plays_with_its_token_and_logs_the_real_listener(
    personas: Personas, rec: Recording
) -> None:
    listener, _secret = _app(personas.listener)
    url = _stream_url(listener, rec)
    response = listener.get(url, headers={"Range": "bytes=0-9"})
    assert response.status_code == 206 and len(streamed_bytes(response)) == 10
    (access,) = _accesses(rec)
    assert access.user == personas.listener and access.user != rec.owner and access.via == "app"


def test_the_app_url_alone_or_with_anyone_elses_token_never_plays(personas: Personas, rec: Recording) -> None:
    owner, _ = _app(personas.users["always"])
    url = _stream_url(owner, rec)
    same_person_other_device, _ = _app(personas.users["always"])
    listener, _ = _app(personas.listener)  # may hear the recording, but not through this URL
    charlie, _ = _app(personas.charlie)  # another tenant
    for client in (APIClient(), same_person_other_device, listener, charlie):
        _denied(client.get(url))
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer hipapp_nope_nope")
    _denied(bad.get(url))
    assert _accesses(rec) == []
    assert _status(owner.get(url)) == 200  # the URL itself was fine


def test_log_out_and_revocation_stop_the_app_url_at_once(personas: Personas, rec: Recording) -> None:
    user = personas.users["always"]
    client, _ = _app(user)
    url = _stream_url(client, rec)
    assert _status(client.get(url, headers={"Range": "bytes=0-9"})) == 206
    assert client.post("/api/v1/auth/logout").status_code == 204
    _denied(client.get(url, headers={"Range": "bytes=10-19"}))

    client, secret = _app(user)
    url = _stream_url(client, rec)
    with tenant_scope(user.tenant_id):
        revoke_api_token(token=authenticate_api_token(secret), acting_user=user)  # type: ignore[arg-type]
    _denied(client.get(url))


def test_deactivation_and_the_end_of_the_service_stop_the_app_url(personas: Personas, rec: Recording) -> None:
    user = personas.users["always"]
    client, _ = _app(user)
    url = _stream_url(client, rec)
    User.objects.filter(pk=user.pk).update(is_active=False)
    _denied(client.get(url))
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert _status(client.get(url, headers={"Range": "bytes=0-0"})) == 206
    Tenant.objects.filter(pk=user.tenant_id).update(status=Tenant.Status.ENDED)
    _denied(client.get(url))


def test_a_team_or_role_change_stops_the_app_url(personas: Personas, rec: Recording) -> None:
    listener, _ = _app(personas.listener)
    url = _stream_url(listener, rec)
    personas.sales.listeners.remove(personas.listener)
    assert_error(listener.get(url), 404, "not_found")
    personas.sales.listeners.add(personas.listener)
    assert _status(listener.get(url, headers={"Range": "bytes=0-0"})) == 206
    User.objects.filter(pk=personas.listener.pk).update(role=Role.USER)
    assert_error(listener.get(url), 404, "not_found")


# --- the portal's URL: only in the same live session ---------------------------------------------


def test_log_out_stops_the_portal_url_even_with_the_old_cookie(personas: Personas, rec: Recording) -> None:
    client = Client()
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    cookie = client.cookies["sessionid"].value
    assert _status(client.get(url, headers={"Range": "bytes=0-9"})) == 206
    client.logout()
    replay = Client()
    replay.cookies["sessionid"] = cookie
    for browser in (client, replay):
        response = browser.get(url)
        assert response.status_code == 403 and not getattr(response, "streaming", False)


def test_another_users_session_cannot_play_the_portal_url(personas: Personas, rec: Recording) -> None:
    client = Client()
    client.force_login(personas.users["always"])
    url = player_audio_url(client, rec)
    for person in (personas.listener, personas.charlie, personas.admin):
        other = Client()
        other.force_login(person)
        response = other.get(url)
        assert response.status_code == 403 and not getattr(response, "streaming", False)
    assert _accesses(rec) == []


def test_deactivation_team_change_and_end_of_service_stop_the_portal_url(
    personas: Personas, rec: Recording
) -> None:
    client = Client()
    client.force_login(personas.listener)
    url = player_audio_url(client, rec)
    personas.sales.listeners.remove(personas.listener)
    assert client.get(url).status_code == 404
    personas.sales.listeners.add(personas.listener)
    User.objects.filter(pk=personas.listener.pk).update(is_active=False)
    assert client.get(url).status_code == 403
    User.objects.filter(pk=personas.listener.pk).update(is_active=True)
    response = client.get(url, headers={"Range": "bytes=0-0"})
    assert response.status_code == 206
    streamed_bytes(response)
    (access,) = _accesses(rec)
    assert access.user == personas.listener and access.via == "portal"  # who listened, not the owner
    Tenant.objects.filter(pk=rec.tenant_id).update(status=Tenant.Status.ENDED)
    assert client.get(url).status_code == 403


# --- absurd Range headers: 416, not 500 -----------------------------------------------------------


def test_an_absurd_range_is_416_on_every_audio_path(personas: Personas, rec: Recording) -> None:
    portal = Client()
    portal.force_login(personas.users["always"])
    app, _ = _app(personas.users["always"])
    with tenant_scope(rec.tenant_id):
        token = social.create_share(
            recording=rec, acting_user=personas.users["always"], expires_in="7d"
        ).token
    stranger = Client()
    page = stranger.get(reverse("share_page", args=[token])).content.decode()
    share_audio = re.search(r'<audio id="audio"[^>]*src="([^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    for client, url in (
        (portal, player_audio_url(portal, rec)),
        (app, _stream_url(app, rec)),
        (stranger, share_audio),
    ):
        for header in (ABSURD, "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000):
            response = client.get(url, headers={"Range": header})
            assert response.status_code == 416, (url, header[:10])
            assert response["Content-Range"] == f"bytes */{rec.size_bytes}"
