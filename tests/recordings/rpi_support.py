"""Helpers for telephony-interface tests: a phone-system client over Django's test client."""

from __future__ import annotations

import functools
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.test import Client

from recordings import audio

_ids = itertools.count(1)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.cache
def wav_bytes(
    seconds: float = 4.0, rate: int = 8000, channels: int = 1, kind: str = "tone", seed: int = 0
) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = audio.make_wav(
            Path(folder) / "a.wav", seconds=seconds, rate=rate, channels=channels, kind=kind, seed=seed
        )
        return path.read_bytes()


@functools.cache
def opus_bytes(seconds: float = 4.0) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return audio.make_opus(Path(folder) / "a.ogg", seconds).read_bytes()


class Pbx:
    """The phone system's side of the contract, speaking HTTP to the test server."""

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.key = key

    def _auth(self, key: str | None) -> dict[str, str]:
        key = self.key if key is None else key
        return {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}

    def post(self, path: str, body: Any, *, key: str | None = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(
            f"/rpi/v1/{path}", data=data, content_type="application/json", **self._auth(key)
        )

    def start(self, user: str, *, key: str | None = None, seconds_ago: int = 60, **fields: Any) -> Any:
        started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)
        body = {
            "call_id": f"pbx-{next(_ids):05d}",
            "user": user,
            "direction": "inbound",
            "local_number": "+31201234567",
            "remote_number": "+31612345678",
            "leg": "mobile",
            "started_at": iso(started),
            **fields,
        }
        response = self.post("calls", body, key=key)
        response.sent = body
        response.started = (
            datetime.fromisoformat(body["started_at"])
            if isinstance(body["started_at"], str) and body["started_at"].endswith("Z")
            else started
        )
        return response

    def event(self, call_id: str, type_: str, at: datetime | str, *, key: str | None = None) -> Any:
        return self.post(
            f"calls/{call_id}/events", {"type": type_, "at": at if isinstance(at, str) else iso(at)}, key=key
        )

    def end(self, call_id: str, ended_at: datetime | str, *, key: str | None = None) -> Any:
        value = ended_at if isinstance(ended_at, str) else iso(ended_at)
        return self.post(f"calls/{call_id}/end", {"ended_at": value}, key=key)

    def audio(
        self,
        call_id: str,
        body: bytes,
        *,
        content_type: str = "audio/wav",
        offset_ms: int | str | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> Any:
        headers = dict(self._auth(key))
        if offset_ms is not None:
            headers["HTTP_X_AUDIO_OFFSET_MS"] = str(offset_ms)
        headers.update(extra)
        return self.client.put(
            f"/rpi/v1/calls/{call_id}/audio", data=body, content_type=content_type, **headers
        )

    def get(self, call_id: str, *, key: str | None = None) -> Any:
        return self.client.get(f"/rpi/v1/calls/{call_id}", **self._auth(key))


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# Set by the ``pbx`` fixture to the test tenant's prefix, so a shared S3 bucket is not counted.
PREFIX = {"value": ""}


def stored_keys(prefix: str | None = None) -> list[str]:
    """Every object in the recordings storage under ``prefix`` (default: this test's tenant's)."""
    prefix = PREFIX["value"] if prefix is None else prefix
    from django.core.files.storage import storages

    storage = storages["recordings"]
    found: list[str] = []

    def walk(folder: str) -> None:
        try:
            dirs, files = storage.listdir(folder)
        except FileNotFoundError:
            return
        for name in files:
            found.append(f"{folder}/{name}" if folder else name)
        for name in dirs:
            walk(f"{folder}/{name}" if folder else name)

    walk(prefix.rstrip("/"))
    return sorted(found)
