"""The loopback FCM server (one per session) and settings that point firebase-admin at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifications import push
from tests.notifications.fcm_server import FcmServer, write_service_account
from tests.notifications.webpush_server import WebPushServer


@pytest.fixture(scope="session")
def _fcm_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FcmServer, Path]]:
    server = FcmServer().start()
    creds = write_service_account(
        tmp_path_factory.mktemp("fcm") / "sa.json", token_uri=server.base + "/token"
    )
    yield server, creds
    server.stop()


@pytest.fixture
def fcm(_fcm_session: tuple[FcmServer, Path], settings: Any) -> Iterator[FcmServer]:
    """FCM configured (credentials file + loopback URL): the real FcmBackend is used."""
    server, creds = _fcm_session
    server.reset()
    settings.FIREBASE_CREDENTIALS_FILE = str(creds)
    settings.FCM_SEND_URL = server.send_url
    push.set_backend(None)
    yield server
    push.set_backend(None)


@pytest.fixture(scope="session")
def _webpush_session() -> Iterator[WebPushServer]:
    server = WebPushServer().start()
    yield server
    server.stop()


@pytest.fixture
def webpush_service(_webpush_session: WebPushServer, settings: Any) -> Iterator[WebPushServer]:
    """The loopback Web Push service, its host allowed (over http) for subscriptions."""
    _webpush_session.reset()
    settings.WEBPUSH_ALLOWED_HOSTS = [*settings.WEBPUSH_ALLOWED_HOSTS, _webpush_session.host]
    settings.WEBPUSH_INSECURE_HOSTS = [_webpush_session.host]
    yield _webpush_session
