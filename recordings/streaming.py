"""Streaming recordings for playback: short-lived signed URLs and the Range-serving response.

Recordings are never offered as downloads. Every audio response is ``Content-Disposition:
inline`` with ``Cache-Control: no-store``, answers HTTP Range requests (206 with a correct
``Content-Range``, 416 when unsatisfiable), and is reached only through a URL whose token is
bound to one person (or one share link) and one recording and expires after
``settings.STREAM_URL_TTL``.

How the bytes leave the server:

- on disk (the embedded default): the file is opened, seeked to the range and handed to the
  WSGI server as a length-limited file object, so gunicorn ``sendfile()``s exactly the range
  (other servers read it in blocks); nothing is read to the end of the file per request;
- ``settings.STREAM_X_ACCEL_PREFIX`` set (production behind nginx): the response carries only
  ``X-Accel-Redirect`` to an ``internal`` nginx location, which serves the ranges itself;
- S3: a ranged ``GetObject`` through the server's own credentials, relayed in blocks; the bucket
  URL never reaches the browser.

The services here are used by the portal views and by the mobile API.
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.core import signing
from django.core.files.storage import storages
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse

from recordings.models import PlaybackAccess, Recording, ShareLink
from tenants.models import User

_USER_SALT = "recordings.stream.user"
_SHARE_SALT = "recordings.stream.share"
BLOCK_SIZE = 64 * 1024


class StreamTokenError(Exception):
    """The stream token is malformed, expired, or not for this recording."""


@dataclass(frozen=True)
class StreamGrant:
    """What a valid token allows: ``subject`` (user id or share id) may stream ``recording_id``.
    ``nonce`` identifies one issued URL, so one playback is logged once however often it seeks."""

    kind: str  # "user" or "share"
    subject: str
    recording_id: str
    nonce: str


def _ttl_seconds() -> int:
    return int(settings.STREAM_URL_TTL.total_seconds())


def issue_stream_token(*, user: User, recording: Recording) -> str:
    """A token letting ``user`` (and nobody else) stream ``recording`` for STREAM_URL_TTL."""
    value = f"{user.pk}.{recording.pk}.{secrets.token_urlsafe(9)}"
    return signing.TimestampSigner(salt=_USER_SALT).sign(value)


def issue_share_stream_token(*, share: ShareLink) -> str:
    value = f"{share.pk}.{share.recording_id}.{secrets.token_urlsafe(9)}"
    return signing.TimestampSigner(salt=_SHARE_SALT).sign(value)


def _verify(token: str, salt: str, kind: str, recording_id: uuid.UUID | str) -> StreamGrant:
    try:
        value = signing.TimestampSigner(salt=salt).unsign(token, max_age=_ttl_seconds())
    except signing.SignatureExpired:
        raise StreamTokenError("The playback link has expired; reload the page.") from None
    except signing.BadSignature:
        raise StreamTokenError("The playback link is not valid.") from None
    parts = value.split(".")
    if len(parts) != 3 or parts[1] != str(recording_id):
        raise StreamTokenError("The playback link is for another recording.")
    return StreamGrant(kind=kind, subject=parts[0], recording_id=parts[1], nonce=parts[2])


def verify_stream_token(token: str, *, recording_id: uuid.UUID | str) -> StreamGrant:
    """The grant of a user stream token for ``recording_id``; StreamTokenError otherwise.
    The caller must still check that the grant's user is the requesting user and may hear it."""
    return _verify(token, _USER_SALT, "user", recording_id)


def verify_share_stream_token(token: str, *, recording_id: uuid.UUID | str) -> StreamGrant:
    return _verify(token, _SHARE_SALT, "share", recording_id)


def stream_url(*, user: User, recording: Recording) -> str:
    """The player's audio URL (relative), valid for STREAM_URL_TTL, for ``user`` only."""
    token = issue_stream_token(user=user, recording=recording)
    return f"{reverse('recording_audio', args=[recording.pk])}?t={token}"


# --- the access log ---------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    # Behind a proxy, SecurityMiddleware/the proxy sets REMOTE_ADDR correctly (we do not trust
    # X-Forwarded-For from the client).
    return request.META.get("REMOTE_ADDR") or None


def log_playback(
    *,
    request: HttpRequest,
    recording: Recording,
    grant: StreamGrant,
    via: str,
    user: User | None = None,
    share: ShareLink | None = None,
) -> bool:
    """Write one access-log row per issued stream URL (the first request using it; the seeks
    that follow are the same playback). Returns whether a row was written."""
    from django.core.cache import cache

    if not cache.add(f"stream-played:{grant.kind}:{grant.nonce}", 1, timeout=_ttl_seconds() + 60):
        return False
    PlaybackAccess.objects.create(
        recording=recording,
        user=user,
        share=share,
        via=via,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )
    from recordings.social import audit_event

    audit_event(
        tenant=recording.tenant,
        actor=user,
        action="recording.played",
        target=recording,
        detail={"via": via, "share": str(share.pk) if share else None},
        request=request,
    )
    return True


# --- Range requests ---------------------------------------------------------------------------

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` that ``header`` asks of a ``size``-byte file.

    None means "send the whole file with 200" (no header, a malformed one, or several ranges,
    which RFC 9110 allows a server to ignore). Unsatisfiable raises ``Unsatisfiable`` (416).
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first_s, last_s = match.groups()
    if first_s == "" and last_s == "":
        return None
    if first_s == "":  # suffix: the last N bytes
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_s)
    if last_s and int(last_s) < first:
        return None  # syntactically invalid: ignore the header
    if first >= size:
        raise Unsatisfiable
    last = int(last_s) if last_s else size - 1
    return first, min(last, size - 1)


class _RangeFile:
    """A file object that yields exactly ``length`` bytes from ``start`` of an open file.

    It exposes ``fileno()`` and ``seek()`` (and the raw file sits at ``start``), so a WSGI
    server's ``wsgi.file_wrapper`` can ``sendfile()`` the range without Python copying it; the
    response's Content-Length tells gunicorn how many bytes to send.
    """

    def __init__(self, raw: BinaryIO, start: int, length: int) -> None:
        self._raw = raw
        self._remaining = length
        raw.seek(start)

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if size is None or size < 0 or size > self._remaining:
            size = self._remaining
        data = self._raw.read(size)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._raw.fileno()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def seekable(self) -> bool:
        return False  # so FileResponse does not measure the file: we set Content-Length ourselves

    def close(self) -> None:
        self._raw.close()


class _S3Body:
    """A ranged GetObject body, read in blocks."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int = -1) -> bytes:
        return self._body.read(size if size and size > 0 else None)

    def close(self) -> None:
        self._body.close()


def _common_headers(response: HttpResponse, recording: Recording) -> HttpResponse:
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "no-store, private"
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def range_response(request: HttpRequest, recording: Recording) -> HttpResponse:
    """Serve ``recording``'s audio for ``request`` (GET with an optional Range header)."""
    storage = storages["recordings"]
    content_type = recording.mime or "audio/mpeg"
    prefix = getattr(settings, "STREAM_X_ACCEL_PREFIX", "")
    if prefix:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + recording.storage_key.lstrip("/")
        return _common_headers(response, recording)

    local_path = _local_path(storage, recording.storage_key)
    if local_path is not None:
        raw = open(local_path, "rb")  # noqa: SIM115 - closed by the response
        size = os.fstat(raw.fileno()).st_size
    else:
        raw = None
        size = recording.size_bytes or storage.size(recording.storage_key)

    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        if raw is not None:
            raw.close()
        response = HttpResponse(status=416, content_type=content_type)
        response["Content-Range"] = f"bytes */{size}"
        return _common_headers(response, recording)

    first, last = byte_range if byte_range is not None else (0, size - 1)
    length = max(0, last - first + 1)
    if raw is not None:
        response: HttpResponse = FileResponse(_RangeFile(raw, first, length), content_type=content_type)
    else:
        body = _s3_get(storage, recording.storage_key, first, last) if length else None
        response = (
            StreamingHttpResponse(_s3_iter(body), content_type=content_type)
            if body is not None
            else HttpResponse(b"", content_type=content_type)
        )
    response["Content-Length"] = str(length)
    if byte_range is not None:
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _common_headers(response, recording)


def _local_path(storage: Any, key: str) -> str | None:
    try:
        return storage.path(key)
    except NotImplementedError:
        return None


def _s3_get(storage: Any, key: str, first: int, last: int) -> Any:
    client = storage.connection.meta.client
    answer = client.get_object(
        Bucket=storage.bucket_name, Key=storage._normalize_name(key), Range=f"bytes={first}-{last}"
    )
    return answer["Body"]


def _s3_iter(body: Any) -> Any:
    try:
        while chunk := body.read(BLOCK_SIZE):
            yield chunk
    finally:
        body.close()
