"""PUT /rpi/v1/calls/{id}/audio: formats, replays, size limit, streaming, and what is refused."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.test import RequestFactory

from recordings import rpi
from recordings.models import Call
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, assert_error, opus_bytes, stored_keys, wav_bytes

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


@pytest.fixture
def call(pbx: Pbx, personas: Personas):
    started = pbx.start(personas.users["always"].pbx_id, seconds_ago=60)
    return started.sent["call_id"], started.started


def call_row(personas: Personas, call_id: str) -> Call:
    with tenant_scope(personas.tenant_a):
        return Call.objects.get(pbx_call_id=call_id)


def assert_untouched(personas: Personas, call_id: str) -> None:
    row = call_row(personas, call_id)
    assert (row.upload_key, row.upload_sha256, row.uploaded_at) == ("", "", None)
    assert stored_keys() == []


@pytest.mark.parametrize(
    "body",
    [
        wav_bytes(2.0, rate=8000, channels=1),
        wav_bytes(2.0, rate=16000, channels=2),
    ],
)
def test_wav_is_stored_raw_while_the_call_runs(pbx: Pbx, personas: Personas, call, body: bytes) -> None:
    call_id, _ = call
    response = pbx.audio(call_id, body)
    assert response.status_code == 201
    import hashlib

    assert response.json()["sha256"] == hashlib.sha256(body).hexdigest()
    row = call_row(personas, call_id)
    assert stored_keys() == [row.upload_key]
    assert row.upload_key.startswith(f"tenants/{personas.tenant_a.id}/uploads/")
    assert row.upload_size == len(body)


def test_opus_is_accepted(pbx: Pbx, personas: Personas, call) -> None:
    call_id, _ = call
    assert pbx.audio(call_id, opus_bytes(2.0), content_type="audio/ogg").status_code == 201
    assert call_row(personas, call_id).upload_content_type == "audio/ogg"


def test_same_bytes_again_200_different_bytes_409(pbx: Pbx, personas: Personas, call) -> None:
    call_id, _ = call
    assert pbx.audio(call_id, wav_bytes(2.0)).status_code == 201
    before = call_row(personas, call_id)
    assert pbx.audio(call_id, wav_bytes(2.0)).status_code == 200
    assert_error(pbx.audio(call_id, wav_bytes(3.0)), 409, "audio_exists")
    after = call_row(personas, call_id)
    assert (after.upload_key, after.upload_sha256) == (before.upload_key, before.upload_sha256)
    assert stored_keys() == [before.upload_key]


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"this is not audio at all" * 100, "audio/wav", "unsupported_audio"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 200, "audio/wav", "unsupported_audio"),
        (b"OggS" + b"\x00" * 500, "audio/ogg", "unsupported_audio"),
        (wav_bytes(1.0, rate=44100), "audio/wav", "unsupported_audio"),  # not 8/16 kHz
        (b"", "audio/wav", None),  # (the test client drops the type of an empty body)
        (wav_bytes(1.0), "audio/ogg", "content_type_mismatch"),
        (wav_bytes(1.0), "text/plain", "unsupported_content_type"),
        (wav_bytes(1.0), "application/octet-stream", "unsupported_content_type"),
        (wav_bytes(1.0), "audio/mpeg", "unsupported_content_type"),
    ],
)
def test_not_audio_or_wrong_type_is_415(pbx: Pbx, personas: Personas, call, body, content_type, code) -> None:
    call_id, _ = call
    assert_error(pbx.audio(call_id, body, content_type=content_type), 415, code)
    assert_untouched(personas, call_id)


@pytest.mark.parametrize("offset", ["-5", "abc", "1.5"])
def test_bad_offset_header_is_400(pbx: Pbx, personas: Personas, call, offset: str) -> None:
    call_id, _ = call
    assert_error(pbx.audio(call_id, wav_bytes(1.0), offset_ms=offset), 400, "invalid_audio_offset_ms")
    assert_untouched(personas, call_id)


def test_over_the_limit_by_content_length_is_413(pbx: Pbx, personas: Personas, call, settings) -> None:
    call_id, _ = call
    settings.RPI_MAX_AUDIO_BYTES = 10_000
    assert_error(pbx.audio(call_id, wav_bytes(2.0)), 413, "audio_too_large")
    assert_untouched(personas, call_id)


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    def readline(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_413_comes_before_reading_the_body(pbx: Pbx, personas: Personas, call, settings) -> None:
    call_id, _ = call
    settings.RPI_MAX_AUDIO_BYTES = 10_000
    request = RequestFactory().generic(
        "PUT",
        f"/rpi/v1/calls/{call_id}/audio",
        data=b"",
        content_type="audio/wav",
        HTTP_AUTHORIZATION=f"Bearer {pbx.key}",
    )
    request.META["CONTENT_LENGTH"] = str(10**12)
    request._stream = Unreadable()
    response = rpi.upload(request, call_id=call_id)
    assert_error(response, 413, "audio_too_large")
    assert_untouched(personas, call_id)


class Chunked(io.RawIOBase):
    """A chunked body (no Content-Length) of ``size`` bytes that records how much was read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        self.given += n
        return b"\x00" * n


def test_chunked_body_over_the_limit_is_413_while_streaming(
    pbx: Pbx, personas: Personas, call, settings
) -> None:
    call_id, _ = call
    settings.RPI_MAX_AUDIO_BYTES = 200_000
    request = RequestFactory().generic(
        "PUT",
        f"/rpi/v1/calls/{call_id}/audio",
        data=b"",
        content_type="audio/wav",
        HTTP_AUTHORIZATION=f"Bearer {pbx.key}",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    request.META.pop("CONTENT_LENGTH", None)
    request.META["CONTENT_TYPE"] = "audio/wav"
    body = Chunked(10**9)
    request.META["wsgi.input"] = body
    response = rpi.upload(request, call_id=call_id)
    assert_error(response, 413, "audio_too_large")
    assert body.given <= 200_000 + 64 * 1024  # stopped at the limit, not at the end
    assert_untouched(personas, call_id)


def test_chunked_body_within_the_limit_is_stored(pbx: Pbx, personas: Personas, call) -> None:
    call_id, _ = call
    request = RequestFactory().generic(
        "PUT",
        f"/rpi/v1/calls/{call_id}/audio",
        data=b"",
        content_type="audio/wav",
        HTTP_AUTHORIZATION=f"Bearer {pbx.key}",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    request.META.pop("CONTENT_LENGTH", None)
    request.META["CONTENT_TYPE"] = "audio/wav"
    request.META["wsgi.input"] = io.BytesIO(wav_bytes(2.0))
    assert rpi.upload(request, call_id=call_id).status_code == 201
    assert call_row(personas, call_id).upload_size == len(wav_bytes(2.0))


def test_unknown_call_and_other_tenant_are_404(pbx: Pbx, pbx_b: Pbx, personas: Personas, call) -> None:
    call_id, _ = call
    assert_error(pbx.audio("nope", wav_bytes(1.0)), 404, "unknown_call")
    assert_error(pbx_b.audio(call_id, wav_bytes(1.0)), 404, "unknown_call")
    assert_untouched(personas, call_id)
