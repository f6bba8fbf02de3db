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

The portal's audio URL is served ahead of the session, authentication, tenant, locale, messages
and CSP middleware (:class:`PortalAudioMiddleware`): its signed token already names the user and
the recording, carries a binding to the browser session it was issued to, and expires within
minutes. A token's first request in a process checks the user and the recording and writes the
access log in one statement; the seeks that follow touch no database at all.

The access log (who, which recording, when, from where). A playback is one issued stream URL:
its first request writes one ``PlaybackAccess`` row, and only one across every process, since the
row keeps the URL's nonce under a unique constraint (``INSERT … ON CONFLICT (stream_nonce) DO
NOTHING``; any other error fails the request). The row is committed before the first byte: when
it cannot be written, nothing is sent. The hash-chained audit-log entry ``recording.played`` is
written *after the last byte*, when the server closes the response (:func:`audit_when_sent`).
Appending to a tenant's chain is serialised per tenant and was most of a new playback's cost
before its first byte (bench/README.md, Portal). The access row is the fail-closed record the
issue asks for; the audit entry mirrors it. If that write fails (or the worker dies between the
last byte and it), the playback stays in the access log, and the failure is logged as an error.
Not a Celery task: sending one is a broker round trip per playback, and a broker outage would
then hold up playback instead of only the audit entry.

The services here are used by the portal views and by the mobile API.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import connections, router
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from recordings.models import PlaybackAccess, Recording, ShareLink
from tenants.models import User

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
    session: str = ""  # the binding to the browser session it was issued to ("" : none)


def _ttl_seconds() -> int:
    return int(settings.STREAM_URL_TTL.total_seconds())


def session_binding(session_key: str | None) -> str:
    """What a token keeps of the session it was issued to: a keyed hash of the session key (the
    key itself must not travel in URLs). "" without a session."""
    if not session_key:
        return ""
    return salted_hmac("recordings.stream.session", session_key, algorithm="sha256").hexdigest()[:32]


def issue_stream_token(*, user: User, recording: Recording, session_key: str | None = None) -> str:
    """A token letting ``user`` (and nobody else) stream ``recording`` for STREAM_URL_TTL; with
    ``session_key`` (the portal), bound to that browser session too."""
    value = f"{user.pk}.{recording.pk}.{secrets.token_urlsafe(9)}.{session_binding(session_key)}"
    return signing.TimestampSigner(salt=_USER_SALT).sign(value)


def issue_share_stream_token(*, share: ShareLink) -> str:
    value = f"{share.pk}.{share.recording_id}.{secrets.token_urlsafe(9)}."
    return signing.TimestampSigner(salt=_SHARE_SALT).sign(value)


def _verify(token: str, salt: str, kind: str, recording_id: uuid.UUID | str) -> StreamGrant:
    signer = signing.TimestampSigner(salt=salt)
    try:
        value = signer.unsign(token, max_age=_ttl_seconds())
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
        session=parts[3],
    )


def verify_stream_token(token: str, *, recording_id: uuid.UUID | str) -> StreamGrant:
    """The grant of a user stream token for ``recording_id``; StreamTokenError otherwise.
    The caller must still check that the grant's user is the requesting user and may hear it."""
    return _verify(token, _USER_SALT, "user", recording_id)


def verify_share_stream_token(token: str, *, recording_id: uuid.UUID | str) -> StreamGrant:
    return _verify(token, _SHARE_SALT, "share", recording_id)


def stream_url(*, user: User, recording: Recording, session_key: str | None = None) -> str:
    """The player's audio URL (relative), valid for STREAM_URL_TTL, for ``user`` (and the browser
    session ``session_key``) only."""
    token = issue_stream_token(user=user, recording=recording, session_key=session_key)
    return f"{reverse('recording_audio', args=[recording.pk])}?t={token}"


# --- the access log ---------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    # Behind a proxy, SecurityMiddleware/the proxy sets REMOTE_ADDR correctly (we do not trust
    # X-Forwarded-For from the client).
    return request.META.get("REMOTE_ADDR") or None


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
    meta = PlaybackAccess._meta
    return [
        meta.get_field(name).get_db_prep_save(values[name], connection)
        for name in _ACCESS_COLUMNS
        if name in values
    ]


def _access_columns(qn: Callable[[str], str]) -> str:
    meta = PlaybackAccess._meta
    return ", ".join(qn(meta.get_field(name).column) for name in _ACCESS_COLUMNS)


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
        f"ON CONFLICT ({qn(meta.get_field('stream_nonce').column)}) DO NOTHING RETURNING {qn(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return Playback(row[0], recording.tenant_id) if row is not None else None


def audit_playback(*, tenant_id: uuid.UUID | str, access_id: int, request: HttpRequest | None = None) -> None:
    """The audit-log entry ``recording.played`` of the playback whose access row is ``access_id``."""
    from recordings.social import audit_event
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant_id):
        access = PlaybackAccess.objects.select_related("user", "tenant", "recording").get(pk=access_id)
        audit_event(
            tenant=access.tenant,
            actor=access.user,
            action="recording.played",
            target=access.recording,
            detail={"via": access.via, "share": str(access.share_id) if access.share_id else None},
            request=request,
        )


def audit_when_sent(
    response: HttpResponse, *, request: HttpRequest, playback: Playback | None
) -> HttpResponse:
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
    response._resource_closers.append(write_entry)
    return response


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


@dataclass(frozen=True)
class AudioFile:
    """What serving a recording's bytes needs of it (kept per token by the portal's fast path)."""

    storage_key: str
    mime: str
    size_bytes: int


def range_response(request: HttpRequest, recording: Recording | AudioFile) -> HttpResponse:
    """Serve ``recording``'s audio for ``request`` (GET with an optional Range header).
    Http404 when the file is gone (deleted since the URL was issued)."""
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


# --- the portal's audio, ahead of the middleware stack ------------------------------------------


class _Grants:
    """Per process: the tokens whose first request was authorised here (nonce -> the file), for
    STREAM_URL_TTL. The seeks of one playback are served from this without a database query."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[float, AudioFile]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, nonce: str) -> AudioFile | None:
        with self._lock:
            item = self._items.get(nonce)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[nonce]
                return None
            return item[1]

    def put(self, nonce: str, audio: AudioFile) -> None:
        with self._lock:
            self._items[nonce] = (time.monotonic() + _ttl_seconds(), audio)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def forget(self, nonce: str) -> None:
        with self._lock:
            self._items.pop(nonce, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


GRANTS = _Grants()


def _names(qn: Callable[[str], str]) -> dict[str, str]:
    """The quoted table and column names the SQL of this module uses, from the models' metadata."""
    from tenants.models import Team, Tenant

    rec, usr, ten, acc = Recording._meta, User._meta, Tenant._meta, PlaybackAccess._meta
    members, listeners = Team._meta.get_field("members"), Team._meta.get_field("listeners")
    names = {
        "recording": qn(rec.db_table),
        "user": qn(usr.db_table),
        "tenant": qn(ten.db_table),
        "access": qn(acc.db_table),
        "access_id": qn(acc.pk.column),
        "access_columns": _access_columns(qn),
        "members": qn(members.m2m_db_table()),
        "members_team": qn(members.m2m_column_name()),
        "members_user": qn(members.m2m_reverse_name()),
        "listeners": qn(listeners.m2m_db_table()),
        "listeners_team": qn(listeners.m2m_column_name()),
        "listeners_user": qn(listeners.m2m_reverse_name()),
    }
    for prefix, meta, fields in (
        ("r", rec, ("id", "tenant", "owner", "kind", "deleted_at", "storage_key", "mime", "size_bytes")),
        ("u", usr, ("id", "tenant", "role", "is_active")),
        ("t", ten, ("id", "status")),
        ("a", acc, ("tenant", "recording", "stream_nonce")),
    ):
        for name in fields:
            names[f"{prefix}_{name}"] = qn(meta.get_field(name).column)
    return names


def visible_sql(qn: Callable[[str], str]) -> tuple[str, list[Any]]:
    """``RecordingQuerySet.visible_to`` as an SQL condition on the recording ``r`` and the user
    ``u`` (same tenant, live, own, or for listeners a standard recording of a member of a team they
    listen to), and its parameters. tests/portal/test_stream_access_log.py compares the two over
    every persona and kind of recording, so they cannot drift apart."""
    from recordings.models import Kind
    from tenants.models import Role

    sql = (  # noqa: S608 (names from _meta, values bound)
        "(r.{r_deleted_at} IS NULL AND r.{r_tenant} = u.{u_tenant} AND (r.{r_owner} = u.{u_id} "
        "OR (u.{u_role} = %s AND r.{r_kind} = %s AND EXISTS ("
        "SELECT 1 FROM {members} m, {listeners} l WHERE l.{listeners_team} = m.{members_team} "
        "AND m.{members_user} = r.{r_owner} AND l.{listeners_user} = u.{u_id}))))"
    ).format(**_names(qn))
    return sql, [Role.LISTENER.value, Kind.STANDARD.value]


def _first_request_sql(connection: Any) -> tuple[str, str, list[Any]]:
    """The SQL of a token's first request in a process (:func:`_authorise`): the statement that
    writes the access row only if the person may hear the recording (and returns the row's id,
    the file and the tenant), and the same check alone (returning the file).

    Both take ``[recording id, user id, active status, *rule_params]``, the INSERT after
    the row's via, at, ip, user agent and nonce. Raw SQL (a dangerous construct per
    CONTRIBUTING): one round trip instead of a user query, a recording query and an INSERT,
    which were most of a short playback's cost (bench/README.md, Portal). It is tenant-safe by
    itself (the recording must be in the user's tenant); names come from the models' metadata,
    every value is a bound parameter. Who may hear what is :func:`visible_sql` (``rule_params``
    are its parameters)."""
    qn = connection.ops.quote_name
    names = _names(qn)
    rule, rule_params = visible_sql(qn)
    where = (
        "FROM {recording} r, {user} u, {tenant} t WHERE r.{r_id} = %s AND u.{u_id} = %s "
        "AND t.{t_id} = u.{u_tenant} AND u.{u_is_active} AND t.{t_status} = %s AND r.{r_storage_key} <> '' "
    ).format(**names) + f"AND {rule}"
    file_of_row = ", ".join(
        "(SELECT x.{col} FROM {recording} x WHERE x.{r_id} = {access}.{a_recording})".format(  # noqa: S608
            col=names[c], **names
        )
        for c in ("r_storage_key", "r_mime", "r_size_bytes")
    )
    insert = (
        "INSERT INTO {access} ({access_columns}) "
        "SELECT r.{r_tenant}, r.{r_id}, u.{u_id}, NULL, %s, %s, %s, %s, %s "
    ).format(**names) + (
        f"{where} ON CONFLICT ({names['a_stream_nonce']}) DO NOTHING "
        f"RETURNING {names['access_id']}, {file_of_row}, {names['access']}.{names['a_tenant']}"
    )
    check = "SELECT r.{r_storage_key}, r.{r_mime}, r.{r_size_bytes} ".format(**names) + where
    return insert, check, rule_params


_SQL: dict[str, tuple[str, str, list[Any]]] = {}


def _authorise(
    request: HttpRequest, grant: StreamGrant, recording_id: str
) -> tuple[AudioFile, Playback | None] | None:
    """A token's first request in this process: the user is active in an active tenant and may
    still hear the recording (``visible_to``), and the playback's access row is written — one
    statement (:func:`_first_request_sql`), committed when it returns, before any byte. An
    access row for this URL already there (another worker served its first request): the same
    check without a row. None: not allowed (the full view then answers why)."""
    from tenants.models import Tenant

    connection = connections[router.db_for_write(PlaybackAccess)]
    if connection.alias not in _SQL:
        _SQL[connection.alias] = _first_request_sql(connection)
    insert, check, rule_params = _SQL[connection.alias]
    try:
        keys = [
            Recording._meta.pk.get_db_prep_value(recording_id, connection),
            User._meta.pk.get_db_prep_value(grant.subject, connection),
            Tenant.Status.ACTIVE.value,
            *rule_params,
        ]
    except ValidationError:
        return None
    with connection.cursor() as cursor:
        cursor.execute(insert, [*_access_values(connection, request, grant, "portal"), *keys])
        row = cursor.fetchone()
        if row is not None:
            return AudioFile(row[1], row[2], row[3]), Playback(row[0], row[4])
        cursor.execute(check, keys)
        row = cursor.fetchone()
    return (AudioFile(row[0], row[1], row[2]), None) if row is not None else None


def serve_portal_audio(request: HttpRequest, recording_id: str) -> HttpResponse | None:
    """The player's audio for a valid token presented with the session it was issued to; None
    when that is not the case (the full view answers: 403, 404, the log-in page)."""
    try:
        grant = verify_stream_token(request.GET.get("t", ""), recording_id=recording_id)
    except StreamTokenError:
        return None
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if not grant.session or not constant_time_compare(grant.session, session_binding(session_key)):
        return None
    playback = None
    audio = GRANTS.get(grant.nonce)
    if audio is None:
        authorised = _authorise(request, grant, recording_id)
        if authorised is None:
            return None
        audio, playback = authorised
        GRANTS.put(grant.nonce, audio)
    try:
        response = range_response(request, audio)
    except Http404:  # deleted since: the full view says so
        GRANTS.forget(grant.nonce)
        return None
    return audit_when_sent(response, request=request, playback=playback)


class PortalAudioMiddleware:
    """Serves ``recording_audio`` GETs before the rest of the middleware stack (place it right
    after SecurityMiddleware), like WhiteNoise serves static files: a Range request of the player
    costs a signature check and a ``sendfile()``, not a session, a user, a tenant, a locale, a
    CSP nonce and a message store. Anything it cannot serve goes down the stack to the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path_info.endswith("/audio"):
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match is not None and match.url_name == "recording_audio":
                response = serve_portal_audio(request, str(match.kwargs["recording_id"]))
                if response is not None:
                    return response
        return self.get_response(request)
