"""The upload and processing path on the real object store (SeaweedFS S3 via django-storages)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import storages

from recordings.models import Call, Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, stored_keys, wav_bytes

pytestmark = [pytest.mark.real_services, pytest.mark.django_db]


def test_upload_and_processing_on_s3(pbx: Pbx, personas: Personas) -> None:
    storage = storages["recordings"]
    assert type(storage).__name__ == "S3Storage"
    started = pbx.start(personas.users["always_pause"].pbx_id)
    call_id, t0 = started.sent["call_id"], started.started
    body = wav_bytes(8.0, kind="speech-like")
    assert pbx.audio(call_id, body).status_code == 201
    with tenant_scope(personas.tenant_a):
        raw_key = Call.objects.get(pbx_call_id=call_id).upload_key
    # the raw upload is in the bucket, byte for byte
    with storage.open(raw_key) as handle:
        assert handle.read() == body
    assert pbx.event(call_id, "pause", t0 + timedelta(seconds=2)).status_code == 202
    assert pbx.event(call_id, "resume", t0 + timedelta(seconds=4)).status_code == 202
    assert pbx.end(call_id, t0 + timedelta(seconds=8)).status_code == 202
    read = pbx.get(call_id).json()
    assert read["state"] == "recorded"
    with tenant_scope(personas.tenant_a):
        recording = Recording.objects.get(call__pbx_call_id=call_id)
    assert recording.paused_spans == [[2000, 4000]]
    assert 5900 <= recording.duration_ms <= 6100
    assert not storage.exists(raw_key)
    assert stored_keys() == [recording.storage_key]
    import hashlib

    with storage.open(recording.storage_key) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == recording.sha256 == read["recording"]["sha256"]
