"""Large objects reach S3 in parts of AWS_S3_PART_MB, one after another, and arrive whole."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid

import pytest
from django.core.files import File

from recordings.capture import recordings_storage

pytestmark = pytest.mark.real_services


def test_a_long_upload_goes_in_parts_and_arrives_whole(settings: object) -> None:
    storage = recordings_storage()
    part = settings.AWS_S3_PART_MB * 1024 * 1024  # type: ignore[attr-defined]
    size = 2 * part + 12345  # three parts, the last one short
    with tempfile.TemporaryFile() as body:
        body.write(os.urandom(size))
        body.seek(0)
        expected = hashlib.sha256(body.read()).hexdigest()
        body.seek(0)
        key = storage.save(f"tests/parts-{uuid.uuid4().hex}", File(body))
    try:
        head = storage.connection.meta.client.head_object(Bucket=storage.bucket_name, Key=key)
        assert head["ContentLength"] == size
        # A multipart object's ETag is the MD5 of its parts' MD5s, followed by "-<parts>".
        assert head["ETag"].strip('"').endswith("-3")
        with storage.open(key, "rb") as stored:
            assert hashlib.sha256(stored.read()).hexdigest() == expected
    finally:
        storage.delete(key)
