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

Who may use a stream URL. The URL is not a bearer link: its signed token names one person, one
recording and the credential that asked for it (a keyed hash of the browser's session key for
the portal, of the API token's id for the app), and every request must carry that same live
credential: the session cookie, or ``Authorization: Bearer <token>``. Log-out, token revocation,
deactivation and the end of the tenant's service end the credential, so the URL stops at once;
a copied URL is useless to anyone else. Every request then asks the one rule of who may hear a
recording, ``RecordingQuerySet.visible_to`` (through ``recordings.access``), so a role or team
change stops it at once too. There is no per-process cache of authorised URLs (there was one,
with a raw-SQL twin of the rule, and revocation did not reach it).

The access log (who, which recording, when, from where). A playback is one issued stream URL:
its first request writes one ``PlaybackAccess`` row, and only one across every process, since the
row keeps the URL's nonce under a unique constraint (``INSERT … ON CONFLICT (stream_nonce) DO
NOTHING``; any other error fails the request). The row is committed before the first byte: when
it cannot be written, nothing is sent. The hash-chained audit-log entry ``recording.played`` is
written *after the last byte*, when the server closes the response (:func:`audit_when_sent`).
Appending to a tenant's chain is serialised per tenant and was most of a new playback's cost
before its first byte (measured: the history of bench/README.md). The access row is the
fail-closed record the issue asks for; the audit entry mirrors it. If that write fails (or the
worker dies between the last byte and it), the playback stays in the access log, and the failure
is logged as an error.
Not a Celery task: sending one is a broker round trip per playback, and a broker outage would
then hold up playback instead of only the audit entry.

The services here are used by the portal views and by the mobile API.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core import signing
from django.core.files.storage import storages
from django.db import connections, models, router
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext

from recordings.models import PlaybackAccess, Recording, ShareLink
from tenants.audit import client_ip, log_event
from tenants.models import ApiToken, User
from tenants.scoping import service_scope

log = logging.getLogger(__name__)

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
    credential: str = ""  # the binding to the session or API token that asked for it


def stream_ttl_seconds() -> int:
    """How long a streaming URL works (``settings.STREAM_URL_TTL``), in whole seconds."""
    return int(settings.STREAM_URL_TTL.total_seconds())


def _binding(kind: str, value: str) -> str:
    """A keyed hash of a credential (the key itself must not travel in URLs)."""
    digest = salted_hmac("recordings.stream.credential", f"{kind}:{value}", algorithm="sha256").hexdigest()
    return f"{kind}{digest[:32]}"


def credential_binding(*, session_key: str | None = None, api_token: ApiToken | None = None) -> str:
    """What a token keeps of the credential it was issued to: the browser session (portal) or the
    API token (app). "" without one, which no request can match."""
    if api_token is not None:
        return _binding("a", str(api_token.pk))
    if session_key:
        return _binding("s", session_key)
    return ""


def issue_stream_token(
    *,
    user: User,
    recording: Recording,
    session_key: str | None = None,
    api_token: ApiToken | None = None,
) -> str:
    """A token letting ``user`` (and nobody else) stream ``recording`` for STREAM_URL_TTL, only
    with the credential that asked for it: the browser session ``session_key`` (the portal) or
    the app's ``api_token``. ValueError without either: a URL alone never plays."""
    one_credential = (session_key is None) != (api_token is None)
    if api_token is not None and api_token.user_id != user.pk:
        one_credential = False
    binding = credential_binding(session_key=session_key, api_token=api_token)
    if not one_credential or not binding:
        raise ValueError("A stream token is bound to exactly one credential of its user.")
    value = f"{user.pk}.{recording.pk}.{secrets.token_urlsafe(9)}.{binding}"
    return signing.TimestampSigner(salt=_USER_SALT).sign(value)


def issue_share_stream_token(*, share: ShareLink) -> str:
    value = f"{share.pk}.{share.recording_id}.{secrets.token_urlsafe(9)}."
    return signing.TimestampSigner(salt=_SHARE_SALT).sign(value)


def _verify(token: str, salt: str, kind: str, recording_id: uuid.UUID | str) -> StreamGrant:
    signer = signing.TimestampSigner(salt=salt)
    try:
        value = signer.unsign(token, max_age=stream_ttl_seconds())
    except signing.SignatureExpired:
        raise StreamTokenError("The playback link has expired; reload the page.") from None
    except signing.BadSignature:
        raise StreamTokenError("The playback link is not valid.") from None
    parts = value.split(".")
    if len(parts) != 4 or parts[1] != str(recording_id):
        raise StreamTokenError("The playback link is for another recording.")
    return StreamGrant(
        kind=kind,
        subject=parts[0],
        recording_id=parts[1],
        nonce=parts[2],
        credential=parts[3],
    )


def verify_stream_token(
    token: str,
    *,
    recording_id: uuid.UUID | str,
    user: User | Any,
    session_key: str | None = None,
    api_token: ApiToken | None = None,
) -> StreamGrant:
    """The grant of a user stream token for ``recording_id``, presented by the signed-in ``user``
    with the credential of this request (the live session's key, or the authenticated API
    token); StreamTokenError when the token is malformed, expired, for another recording, not
    this person's, or issued to another credential. The caller must still check that the user
    may hear the recording (``recordings.access.get_recording_for_user``)."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise StreamTokenError(gettext("Sign in to play this recording."))
    grant = _verify(token, _USER_SALT, "user", recording_id)
    presented = credential_binding(session_key=session_key, api_token=api_token)
    if not constant_time_compare(grant.subject, str(user.pk)) or not (
        presented and constant_time_compare(grant.credential, presented)
    ):
        raise StreamTokenError(gettext("This playback link belongs to another sign-in."))
    return grant


def verify_share_stream_token(token: str, *, recording_id: uuid.UUID | str) -> StreamGrant:
    return _verify(token, _SHARE_SALT, "share", recording_id)


def stream_url(*, user: User, recording: Recording, session_key: str | None) -> str:
    """The player's audio URL (relative), valid for STREAM_URL_TTL, for ``user`` in the browser
    session ``session_key`` only."""
    token = issue_stream_token(user=user, recording=recording, session_key=session_key or "")
    return f"{reverse('recording_audio', args=[recording.pk])}?t={token}"


# --- the access log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Playback:
    """One playback's access-log row, written before its bytes: its id and its tenant."""

    access_id: int
    tenant_id: uuid.UUID | str


_ACCESS_COLUMNS = ("tenant", "recording", "user", "share", "via", "at", "ip", "user_agent", "stream_nonce")


def _access_values(
    connection: Any, request: HttpRequest, grant: StreamGrant, via: str, **ids: Any
) -> list[Any]:
    """The bound values of an access row, as the database takes them, in the order of
    :data:`_ACCESS_COLUMNS`; ``ids`` gives those of tenant, recording, user and share known here
    (without them: via, at, ip, user agent and nonce)."""
    values = {
        **ids,
        "via": via,
        "at": timezone.now(),
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        "stream_nonce": f"{grant.kind}:{grant.nonce}",
    }
    return [
        _field(PlaybackAccess, name).get_db_prep_save(values[name], connection)
        for name in _ACCESS_COLUMNS
        if name in values
    ]


def _access_columns(qn: Callable[[str], str]) -> str:
    return ", ".join(qn(_column(name)) for name in _ACCESS_COLUMNS)


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """A concrete column of ``model`` (the access row's columns are all concrete fields)."""
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


def _column(name: str) -> str:
    """The access row's column for field ``name`` (concrete fields always have one)."""
    return cast(str, _field(PlaybackAccess, name).column)


def log_playback(
    *,
    request: HttpRequest,
    recording: Recording,
    grant: StreamGrant,
    via: str,
    user: User | None = None,
    share: ShareLink | None = None,
) -> Playback | None:
    """Write the access-log row of the stream URL ``grant`` came with: one row per issued URL
    (its first request; the seeks that follow are the same playback), across every process, as
    the row's ``stream_nonce`` is unique. Committed when this returns (one statement, outside any
    transaction on the request path), so no byte leaves before it. None: this URL's playback is
    logged already. Pass the result to :func:`audit_when_sent` with the response.

    Raw SQL (a dangerous construct per CONTRIBUTING): ``INSERT … ON CONFLICT DO NOTHING
    RETURNING`` is the one statement that both writes the row and says whether it was new (the
    ORM's ``ignore_conflicts`` does not say); table and column names come from the model's
    metadata, every value is a bound parameter, and the row is the caller's tenant's (the
    recording's, which the caller has already found in its scope)."""
    connection = connections[router.db_for_write(PlaybackAccess)]
    qn = connection.ops.quote_name
    meta = PlaybackAccess._meta
    values = _access_values(
        connection,
        request,
        grant,
        via,
        tenant=recording.tenant_id,
        recording=recording.pk,
        user=user.pk if user is not None else None,
        share=share.pk if share is not None else None,
    )
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({_access_columns(qn)}) "  # noqa: S608 (names from _meta)
        f"VALUES ({', '.join(['%s'] * len(values))}) "
        f"ON CONFLICT ({qn(_column('stream_nonce'))}) DO NOTHING RETURNING {qn('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return Playback(row[0], recording.tenant_id) if row is not None else None


def audit_playback(*, tenant_id: uuid.UUID | str, access_id: int, request: HttpRequest | None = None) -> None:
    """The audit-log entry ``recording.played`` of the playback whose access row is ``access_id``."""
    with service_scope(tenant_id):
        access = PlaybackAccess.objects.select_related("user", "tenant", "recording").get(pk=access_id)
        log_event(
            tenant=access.tenant,
            actor=access.user,
            action="recording.played",
            target=access.recording,
            detail={"via": access.via, "share": str(access.share_id) if access.share_id else None},
            request=request,
        )


def audit_when_sent(
    response: HttpResponseBase, *, request: HttpRequest, playback: Playback | None
) -> HttpResponseBase:
    """Have ``response`` write ``playback``'s audit-log entry once it has been sent (when the
    server closes it), not before its first byte. The access row, written before, is the
    fail-closed record; an audit write that fails is logged and leaves it in place."""
    if playback is None:
        return response

    def write_entry() -> None:
        try:
            audit_playback(tenant_id=playback.tenant_id, access_id=playback.access_id, request=request)
        except Exception:
            log.exception("audit: recording.played not written for access row %s", playback.access_id)

    # Django runs a response's resource closers in close(), which the WSGI server calls after the
    # last byte (and before request_finished hands the database connection back).
    response._resource_closers.append(write_entry)  # type: ignore[attr-defined]  # no public hook
    return response


# --- Range requests ---------------------------------------------------------------------------

_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)
# A byte position of more digits than this is absurd (no file is 10**18 bytes): 416, and
# int() never sees it (Python refuses to convert strings of more than 4,300 digits).
MAX_RANGE_DIGITS = 18


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` that ``header`` asks of a ``size``-byte file.

    None means "send the whole file with 200" (no header, a malformed one, or several ranges,
    which RFC 9110 allows a server to ignore). Unsatisfiable raises ``Unsatisfiable`` (416),
    as does a position of more than :data:`MAX_RANGE_DIGITS` digits.
    """
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:
        return None
    first_s, last_s = match.groups()
    if first_s == "" and last_s == "":
        return None
    if len(first_s) > MAX_RANGE_DIGITS or len(last_s) > MAX_RANGE_DIGITS:
        raise Unsatisfiable
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


def _common_headers(response: HttpResponseBase, recording: Recording) -> HttpResponseBase:
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "no-store, private"
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def range_response(request: HttpRequest, recording: Recording) -> HttpResponseBase:
    """Serve ``recording``'s audio for ``request`` (GET with an optional Range header).
    Http404 when the file is gone (deleted since the URL was issued)."""
    response: HttpResponseBase
    storage = storages["recordings"]
    content_type = recording.mime or "audio/mpeg"
    prefix = getattr(settings, "STREAM_X_ACCEL_PREFIX", "")
    if prefix:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + recording.storage_key.lstrip("/")
        return _common_headers(response, recording)

    local_path = _local_path(storage, recording.storage_key)
    if local_path is not None:
        try:
            raw = open(local_path, "rb")  # noqa: SIM115 - closed by the response
        except FileNotFoundError:
            raise Http404("No such recording") from None
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
        response = FileResponse(_RangeFile(raw, first, length), content_type=content_type)
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
    """The range's body, by the server's own credentials; Http404 when the object is gone."""
    from botocore.exceptions import ClientError

    client = storage.connection.meta.client
    try:
        answer = client.get_object(
            Bucket=storage.bucket_name, Key=storage._normalize_name(key), Range=f"bytes={first}-{last}"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            raise Http404("No such recording") from None
        raise
    return answer["Body"]


def _s3_iter(body: Any) -> Any:
    try:
        while chunk := body.read(BLOCK_SIZE):
            yield chunk
    finally:
        body.close()
