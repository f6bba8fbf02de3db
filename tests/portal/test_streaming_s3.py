"""Streaming from the object store (SeaweedFS S3): ranged GETs by the server, never a bucket URL.

Real-services suite only (``HIPRECORDER_REAL_SERVICES=1``): the recordings storage is S3 there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse

from recordings.lifecycle import delete_recording_objects
from recordings.models import PlaybackAccess, Recording
from tests.base import Personas
from tests.factories import make_recording
from tests.streams import streamed_bytes

pytestmark = [pytest.mark.real_services, pytest.mark.django_db]


@pytest.fixture
def s3_ranges() -> Iterator[list[str]]:
    """The Range of every GetObject the server sends (botocore's own event hook, no mock)."""
    storage = storages["recordings"]
    assert type(storage).__name__ == "S3Storage"
    events = storage.connection.meta.client.meta.events
    seen: list[str] = []

    def record(params: dict[str, Any], **_kwargs: Any) -> None:
        seen.append(params.get("Range", ""))

    events.register("provide-client-params.s3.GetObject", record)
    yield seen
    events.unregister("provide-client-params.s3.GetObject", record)


def test_ranged_streaming_from_s3(client: Client, personas: Personas, s3_ranges: list[str]) -> None:
    user = personas.users["always"]
    rec = make_recording(user, seconds=8)
    with storages["recordings"].open(rec.storage_key) as handle:
        stored = handle.read()
    assert len(stored) == rec.size_bytes > 2000
    s3_ranges.clear()  # that was the test's own read
    client.force_login(user)
    page = client.get(reverse("player", args=[rec.pk])).content.decode()
    url = re.search(r'<audio id="audio"[^>]*src="([^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    # the browser gets the portal's own URL: no bucket, no endpoint, no presigned query
    endpoint = storages["recordings"].endpoint_url
    assert endpoint  # SeaweedFS
    for secret in (endpoint, settings.AWS_STORAGE_BUCKET_NAME, "X-Amz-", rec.storage_key):
        assert secret not in page
    assert url.startswith(f"/r/{rec.pk}/audio?t=")

    first = client.get(url, headers={"Range": "bytes=0-999"})  # the URL's first request
    assert first.status_code == 206
    assert first["Content-Range"] == f"bytes 0-999/{rec.size_bytes}"
    assert streamed_bytes(first) == stored[:1000]
    seek = client.get(url, headers={"Range": "bytes=1500-"})  # a seek
    assert seek.status_code == 206 and streamed_bytes(seek) == stored[1500:]
    tail = client.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and streamed_bytes(tail) == stored[-100:]
    whole = client.get(url)
    assert whole.status_code == 200 and streamed_bytes(whole) == stored
    beyond = client.get(url, headers={"Range": f"bytes={rec.size_bytes}-"})
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{rec.size_bytes}"
    for response in (first, seek, tail, whole, beyond):
        assert response["Content-Disposition"] == "inline"
        assert "no-store" in response["Cache-Control"]
        assert "Location" not in response
        assert not any(endpoint in value for value in response.headers.values())
    # exactly the asked ranges were fetched from the bucket (nothing read to the end per request)
    last = rec.size_bytes - 1
    assert s3_ranges == [
        "bytes=0-999",
        f"bytes=1500-{last}",
        f"bytes={rec.size_bytes - 100}-{last}",
        f"bytes=0-{last}",
    ]
    assert PlaybackAccess.objects.unscoped().filter(recording=rec).count() == 1

    delete_recording_objects(recordings=[rec], reason="user_deleted")
    assert client.get(url, headers={"Range": "bytes=0-9"}).status_code == 404
    assert Recording.objects.unscoped().get(pk=rec.pk).deleted_at is not None
