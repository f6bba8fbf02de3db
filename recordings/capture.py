"""Capture: the services behind the telephony interface (``/rpi/v1/``).

The phone system tells us a call started, sends events, ends it and uploads the audio; this
module turns that into ``Call``/``CallEvent`` rows, a stored raw upload and, once both the end and
the audio have arrived, a ``Recording`` with one playback rendition. The contract is
``telephony-interface.md``; which events a mode allows and what audio is kept comes from
``recordings.policy`` (never decided here).

Every service runs in one transaction and locks the ``Call`` row (``select_for_update``) for its
read-modify-write, so concurrent replays of the same request cannot both apply. A refused request
raises :class:`RpiError` (HTTP status, snake_case code, human message) before anything is written.

Decisions taken where the spec is silent (the interface answers are the contract; these fill gaps):

- Field errors are ``400`` with code ``invalid_<field>`` (missing, wrong JSON type or bad value;
  the message says which). A body that is not a JSON object is ``malformed_json``.
- ``POST /calls`` again with the same ``call_id`` and the same fields (times compared as instants)
  answers ``200`` with the original answer. The same ``call_id`` with *different* fields is not a
  replay: ``409 call_id_conflict``, and nothing changes.
- ``user`` is the phone-system id (``pbx_id``) of a user of the key's tenant; none is
  ``404 unknown_user``. A deactivated user is known but has no product (``record`` false).
- ``local_number`` must be E.164 (``"anonymous"`` is for the remote party only).
- Numbers are exactly the E.164 that ``phonenumbers`` formats from them, of a possible number
  (``tenants.numbers.e164_from_phone_system``): no space, no trailing newline, no national
  ``0`` after the country code; anything else is ``400 invalid_<field>``, never stored.
- ``call_id``: 1-128 characters of ``A-Z a-z 0-9 . _ : @ -``, starting with a letter or digit,
  without ``..`` (``CALL_ID``); it is a path segment of every later request. Anything else
  (``/``, NUL, a newline, ``?``, ``#``, ``%``, a space) is ``400 invalid_call_id``, in the body of
  ``POST /calls`` and in the path of every other request.
- JSON bodies: at most ``JSON_MAX_BODY_BYTES`` (256 KiB by default; ``413 body_too_large``) and
  20 levels deep (``400 malformed_json``), checked before parsing (``hiprecorder.jsonbody``).
- Times lie in 2000 or later and have a UTC equivalent (``0001-01-01T00:00:00+23:59`` has none):
  otherwise ``400 invalid_<field>``. ``X-Audio-Offset-Ms`` is at most 2^31 - 1.
- Times must carry a UTC offset. "Now" allows ``CLOCK_SKEW`` (5 s) for the phone system's clock.
- An exact repeat of an accepted event answers ``200`` even after the call ended (a retried
  request); any other event after the end is ``409 call_ended``, checked before ``at``.
- ``end`` again with a different ``ended_at`` is ``409 call_ended``. ``ended_at`` must lie between
  ``started_at`` and now (``400 invalid_ended_at``).
- A call whose start answer was ``record: false`` refuses audio with ``409 not_recorded``
  (before the body is read). A call that ended without anything to keep (on demand without keep,
  user start without start) still takes its audio (the phone system captured it legitimately):
  the body is validated and hashed like any other, answered ``201``, and never stored.
- Upload replays: same bytes (SHA-256) again → ``200``; different bytes → ``409 audio_exists``.
- Blacklisted remote number at call start: ``record`` false, no audio taken, state ``discarded``
  (outcome ``blacklisted``) when the call ends. A number blacklisted while a Playback call was
  running is checked again at the end: the audio is then deleted and the state is ``discarded``.
- A call that ended and is kept but whose audio has not arrived yet stays ``in_progress``;
  it becomes ``processing`` once both have arrived.
- A recording that was deleted or expired reads back as ``deleted`` even if the lifecycle did not
  change the call's own state.
- Faults (issue 19): an accepted upload is deleted only if its row did not commit. A processing
  task that cannot be sent after the commit (broker down) leaves the call queued
  (``ProcessingOutbox``) and the request answers ``503`` (``hiprecorder.faults``); the phone
  system's replay sends it, and ``recordings.repair`` does if nobody replays. A call whose raw
  upload is gone ends ``failed`` with ``error_code`` ``audio_missing``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hiprecorder.tasks import registered_task
from recordings import audio, lifecycle, policy, rules
from recordings.models import Call, CallEvent, Direction, Leg, ProcessingOutbox, Recording
from tenants import numbers
from tenants.models import Licence, PlaybackSubscription, Tenant, User
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(seconds=5)
UPLOAD_CHUNK = 64 * 1024
ANONYMOUS = numbers.ANONYMOUS
# Regexes here are used with fullmatch only: ``$`` would also match before a trailing newline.
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
RFC3339_NO_OFFSET = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?")
#: The earliest time the interface accepts (a call's start, an event, an end).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: A call_id: 1-128 of ``A-Z a-z 0-9 . _ : @ -``, starting with a letter or digit, no ``..``;
#: it is a path segment of every later request, so nothing that a URL would read differently.
CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
MAX_AUDIO_OFFSET_MS = 2**31 - 1
RENDITION_EXTENSION = {"audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/ogg": "ogg"}
UPLOAD_EXTENSION = {"wav": "wav", "ogg": "ogg"}
# Temporary files: upload spools (up to RPI_MAX_AUDIO_BYTES) and processing folders, named
# "<prefix><pid>-..." so that clean_spool() can tell a dead process's leftovers from live ones.
UPLOAD_PREFIX = "rpi-upload-"
PROCESS_PREFIX = "rpi-process-"
# error_code of a call whose raw audio is gone: it can never be processed.
AUDIO_MISSING = "audio_missing"


class RpiError(Exception):
    """A refused telephony request: HTTP ``status``, snake_case ``code``, human ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _bad(field: str, message: str) -> RpiError:
    return RpiError(400, f"invalid_{field}", message)


def recordings_storage() -> Storage:
    return storages["recordings"]


# --------------------------------------------------------------------------------------------
# Field parsing
# --------------------------------------------------------------------------------------------


def _string(data: dict[str, Any], field: str, *, max_length: int = 128) -> str:
    if field not in data or data[field] is None:
        raise _bad(field, f"{field} is missing.")
    value = data[field]
    if not isinstance(value, str):
        raise _bad(field, f"{field} must be a string, not {type(value).__name__}.")
    if not value.strip():
        raise _bad(field, f"{field} must not be empty.")
    if len(value) > max_length:
        raise _bad(field, f"{field} is longer than {max_length} characters.")
    return value


def _choice(data: dict[str, Any], field: str, choices: Iterable[str]) -> str:
    value = _string(data, field)
    allowed = list(choices)
    if value not in allowed:
        raise _bad(field, f"{field} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def _number(data: dict[str, Any], field: str, *, anonymous: bool) -> str:
    value = _string(data, field, max_length=32)
    if anonymous and value == ANONYMOUS:
        return value
    try:
        return numbers.e164_from_phone_system(value)
    except numbers.InvalidNumber:
        also = ' or "anonymous"' if anonymous else ""
        raise _bad(
            field, f"{field} must be a valid number in E.164 form (e.g. +31612345678){also}; got {value!r}."
        ) from None


def check_call_id(value: str) -> str:
    """``value`` if it is a call_id of the documented safe set (``CALL_ID``), else 400."""
    if not CALL_ID.fullmatch(value) or ".." in value:
        raise _bad(
            "call_id",
            "call_id must be 1-128 characters of A-Z, a-z, 0-9 and . _ : @ -, start with a letter "
            f"or digit and hold no '..'; got {value!r}.",
        )
    return value


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 timestamp with a UTC offset (``Z`` or ``+hh:mm``)."""
    if value is None:
        raise _bad(field, f"{field} is missing.")
    if not isinstance(value, str):
        raise _bad(field, f"{field} must be an RFC 3339 string, not {type(value).__name__}.")
    if not RFC3339.fullmatch(value):
        if RFC3339_NO_OFFSET.fullmatch(value):
            raise _bad(field, f"{field} needs a UTC offset (e.g. 2026-11-29T10:00:00Z): {value!r}.")
        raise _bad(field, f"{field} is not an RFC 3339 time: {value!r}.")
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise _bad(field, f"{field} is not an RFC 3339 time: {value!r}.") from None
    if parsed.tzinfo is None:
        raise _bad(field, f"{field} needs a UTC offset (e.g. 2026-11-29T10:00:00Z): {value!r}.")
    try:
        in_utc = parsed.astimezone(UTC)  # 0001-01-01T00:00:00+23:59 lies before year 1
    except OverflowError:
        raise _bad(field, f"{field} is out of range: {value!r}.") from None
    if in_utc < EARLIEST:
        raise _bad(field, f"{field} lies before {_iso(EARLIEST)}: {value!r}.")
    return parsed


def _ms(start: datetime, at: datetime) -> int:
    return (at - start) // timedelta(milliseconds=1)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# 1. A call starts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A service's answer: the HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


def start_answer(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.pbx_call_id,
        "record": call.record,
        "kind": call.kind or None,
        "mode": call.mode or None,
        "announce": call.announce,
    }


def _product(user: User) -> tuple[str | None, str | None]:
    """(kind, mode) of ``user`` now: their licence, their Playback subscription, or neither."""
    if not user.is_active:
        return None, None
    licence = Licence.objects.filter(user=user).first()
    if licence is not None:
        return policy.Kind.STANDARD.value, licence.mode
    if PlaybackSubscription.objects.filter(user=user).exists():
        return policy.Kind.PLAYBACK.value, None
    return None, None


def start_call(*, tenant: Tenant, data: dict[str, Any]) -> Result:
    """Register a call; answer whether to record it, its kind and mode, and whether to announce.

    Kind and mode are frozen on the call at its start (a licence changed mid-call does not change
    the call). ``record`` follows the policy (no product or mode ``never``: false) and the user's
    blacklist; ``announce`` is the tenant's setting for calls that are recorded.
    """
    call_id = check_call_id(_string(data, "call_id"))
    pbx_user = _string(data, "user", max_length=32)
    direction = _choice(data, "direction", Direction.values)
    leg = _choice(data, "leg", Leg.values)
    local_number = _number(data, "local_number", anonymous=False)
    remote_number = _number(data, "remote_number", anonymous=True)
    started_at = parse_time(data.get("started_at"), "started_at")
    if started_at > timezone.now() + CLOCK_SKEW:
        raise _bad("started_at", "started_at lies in the future.")

    try:
        return _start(tenant, call_id, pbx_user, direction, leg, local_number, remote_number, started_at)
    except IntegrityError:
        # The same call_id was being started concurrently and the other request won the unique
        # index: now that its row is committed, this one is a replay (200) or a conflict (409).
        return _start(tenant, call_id, pbx_user, direction, leg, local_number, remote_number, started_at)


def _start(
    tenant: Tenant,
    call_id: str,
    pbx_user: str,
    direction: str,
    leg: str,
    local_number: str,
    remote_number: str,
    started_at: datetime,
) -> Result:
    with transaction.atomic():
        existing = Call.objects.select_for_update().filter(pbx_call_id=call_id).first()
        if existing is not None:
            same = (
                existing.user is not None
                and existing.user.pbx_id == pbx_user
                and (existing.direction, existing.leg, existing.local_number, existing.remote_number)
                == (direction, leg, local_number, remote_number)
                and existing.started_at == started_at
            )
            if not same:
                raise RpiError(
                    409,
                    "call_id_conflict",
                    f"Call {call_id} was already started with different details.",
                )
            return Result(200, start_answer(existing))
        user = User.objects.filter(tenant=tenant, pbx_id=pbx_user).first()
        if user is None:
            raise RpiError(404, "unknown_user", f"No user with phone-system id {pbx_user!r} in this tenant.")
        kind, mode = _product(user)
        record = policy.record_at_start(kind=kind, mode=mode)
        blacklisted = record and rules.is_blacklisted(user, remote_number)
        record = record and not blacklisted
        call = Call.objects.create(
            tenant=tenant,
            pbx_call_id=call_id,
            user=user,
            direction=direction,
            leg=leg,
            local_number=local_number,
            remote_number=remote_number,
            started_at=started_at,
            kind=kind,
            mode=mode,
            record=record,
            announce=record and tenant.announce_recording,
            blacklisted=blacklisted,
        )
    return Result(201, start_answer(call))


def _locked_call(call_id: str) -> Call:
    check_call_id(call_id)
    call = (
        Call.objects.select_for_update(of=("self",))
        .filter(pbx_call_id=call_id)
        .select_related("user")
        .first()
    )
    if call is None:
        raise RpiError(404, "unknown_call", f"No call {call_id!r} for this tenant.")
    return call


def find_call(call_id: str) -> Call:
    check_call_id(call_id)
    call = Call.objects.filter(pbx_call_id=call_id).first()
    if call is None:
        raise RpiError(404, "unknown_call", f"No call {call_id!r} for this tenant.")
    return call


def _accepted_events(call: Call) -> list[policy.Event]:
    rows = CallEvent.objects.filter(call=call).order_by("id")
    return [policy.Event(policy.EventType(row.type), row.offset_ms) for row in rows]


# --------------------------------------------------------------------------------------------
# 2. Events
# --------------------------------------------------------------------------------------------


def record_event(*, call_id: str, data: dict[str, Any]) -> Result:
    """Accept (202), repeat (200) or refuse (409/400) an event, as the call's mode allows."""
    type_ = _choice(data, "type", policy.EventType)
    at = parse_time(data.get("at"), "at")
    with transaction.atomic():
        call = _locked_call(call_id)
        accepted = _accepted_events(call)
        offset = _ms(call.started_at, at)
        event = policy.Event(policy.EventType(type_), max(offset, 0))
        body = {"call_id": call.pbx_call_id, "type": type_, "at": _iso(at)}
        if offset >= 0 and CallEvent.objects.filter(call=call, type=type_, at=at).exists():
            return Result(200, {**body, "accepted": True})
        if call.ended_at is not None:
            raise RpiError(409, "call_ended", f"Call {call.pbx_call_id} has ended; no more events.")
        if at < call.started_at or at > timezone.now() + CLOCK_SKEW:
            raise _bad("at", f"at must lie between the call's start ({_iso(call.started_at)}) and now.")
        decision = policy.decide_event(kind=call.kind, mode=call.mode, accepted=accepted, event=event)
        if decision.verdict is policy.Verdict.REFUSED:
            raise RpiError(409, policy.EVENT_NOT_ALLOWED, f"{type_} is not allowed now: {decision.reason}.")
        if decision.verdict is policy.Verdict.REPEAT:
            return Result(200, {**body, "accepted": True})
        CallEvent.objects.create(tenant_id=call.tenant_id, call=call, type=type_, at=at, offset_ms=offset)
    return Result(202, {**body, "accepted": True})


# --------------------------------------------------------------------------------------------
# 3. The end
# --------------------------------------------------------------------------------------------


def _outcome(call: Call) -> policy.Outcome:
    assert call.ended_at is not None
    return policy.retained_spans(
        kind=call.kind,
        mode=call.mode,
        accepted=_accepted_events(call),
        duration_ms=_ms(call.started_at, call.ended_at),
    )


def end_call(*, call_id: str, data: dict[str, Any]) -> Result:
    """End the call (202; the same time again 200) and settle what happens to its audio."""
    ended_at = parse_time(data.get("ended_at"), "ended_at")
    with transaction.atomic():
        call = _locked_call(call_id)
        if call.ended_at is not None:
            if call.ended_at == ended_at:
                _resend_if_unsent(call)
                return Result(200, read_back(call))
            raise RpiError(
                409, "call_ended", f"Call {call.pbx_call_id} already ended at {_iso(call.ended_at)}."
            )
        if ended_at < call.started_at or ended_at > timezone.now() + CLOCK_SKEW:
            raise _bad(
                "ended_at", f"ended_at must lie between the call's start ({_iso(call.started_at)}) and now."
            )
        call.ended_at = ended_at
        _settle(call)
        call.save()
    return Result(202, read_back(call))


def _settle(call: Call) -> None:
    """After the end: decide the state, drop audio that is not kept, start processing if ready.

    Runs inside the caller's transaction with the call locked; the caller saves the call.
    """
    if not call.record:
        call.state = Call.State.DISCARDED if call.blacklisted else Call.State.NOT_RECORDED
        call.outcome = "blacklisted" if call.blacklisted else policy.Reason.NOT_RECORDED.value
        return
    if (
        call.kind == policy.Kind.PLAYBACK
        and call.user
        and rules.is_blacklisted(call.user, call.remote_number)
    ):
        keep, reason = False, "blacklisted"
    else:
        outcome = _outcome(call)
        keep, reason = outcome.keep, outcome.reason.value
    call.outcome = reason
    if not keep:
        call.state = Call.State.DISCARDED
        _delete_on_commit(call.upload_key)
        call.upload_key = ""
        return
    if call.upload_key:
        call.state = Call.State.PROCESSING
        _enqueue_processing(call)


def _enqueue_processing(call: Call) -> None:
    """Queue the call for processing: an outbox row in the caller's transaction, the task sent
    after the commit. If that send fails (broker down) the error propagates, so the request
    answers 503 and the phone system retries, while the committed row stays for
    ``recordings.repair`` to send again: a call is never left ``processing`` with nothing queued."""
    ProcessingOutbox.objects.update_or_create(
        call=call, defaults={"tenant_id": call.tenant_id, "dispatched_at": None}
    )
    tenant_id, call_id = str(call.tenant_id), str(call.id)
    transaction.on_commit(lambda: dispatch_processing(tenant_id=tenant_id, call_id=call_id))


def dispatch_processing(*, tenant_id: str, call_id: str) -> None:
    """Send the processing task of a queued call and note the send on its outbox row."""
    # By name: recordings.tasks imports this module, so importing it back would make a circle.
    registered_task("recordings.tasks.process_call").apply_async(args=(tenant_id, call_id))
    _note_dispatch(call_id)


def _resend_if_unsent(call: Call) -> None:
    """On a replayed request (the phone system retrying after a 503): if the call's task was never
    sent, send it after the commit now, so the retry finishes what the first request could not;
    if the broker is still down, the retry gets 503 again. Sent by one replay only (claim)."""
    if call.state != Call.State.PROCESSING:
        return
    tenant_id, call_id = str(call.tenant_id), str(call.id)

    def resend() -> None:
        claimed = ProcessingOutbox.objects.filter(call_id=call_id, dispatched_at__isnull=True).update(
            dispatched_at=timezone.now()
        )
        if not claimed:
            return
        try:
            dispatch_processing(tenant_id=tenant_id, call_id=call_id)
        except BaseException:
            ProcessingOutbox.objects.filter(call_id=call_id).update(dispatched_at=None)
            raise

    transaction.on_commit(resend)


def _note_dispatch(call_id: str | uuid.UUID) -> None:
    ProcessingOutbox.objects.unscoped().filter(call_id=call_id).update(
        dispatched_at=timezone.now(), dispatches=F("dispatches") + 1
    )


def _delete_on_commit(key: str) -> None:
    if key:
        transaction.on_commit(lambda: _delete_quietly(key))


def _delete_quietly(key: str) -> None:
    try:
        recordings_storage().delete(key)
    except Exception:  # the object may already be gone; a leftover is found by the storage audit
        logger.exception("could not delete %s", key)


# --------------------------------------------------------------------------------------------
# 4. The audio
# --------------------------------------------------------------------------------------------


def _check_takes_audio(call: Call) -> None:
    if not call.record:
        raise RpiError(409, "not_recorded", f"Call {call.pbx_call_id} is not recorded (record was false).")


def precheck_upload(
    *, call_id: str, content_type: str, content_length: int | None, offset: str | None
) -> int:
    """Everything that can be refused before the body is read; returns the offset in ms."""
    call = find_call(call_id)
    _check_takes_audio(call)
    limit = settings.RPI_MAX_AUDIO_BYTES
    if content_length is not None and content_length > limit:
        raise RpiError(413, "audio_too_large", f"The audio is {content_length} bytes; the limit is {limit}.")
    main = (content_type or "").split(";")[0].strip().lower()
    if main not in audio.CONTENT_TYPES:
        raise RpiError(
            415,
            "unsupported_content_type",
            f"Content-Type {content_type or '(none)'!r} is not supported; use audio/wav or audio/ogg.",
        )
    if offset is None or offset == "":
        return 0
    if not re.fullmatch(r"[0-9]{1,10}", offset.strip()) or int(offset) > MAX_AUDIO_OFFSET_MS:
        raise _bad(
            "audio_offset_ms",
            f"X-Audio-Offset-Ms must be a whole number of ms from 0 to {MAX_AUDIO_OFFSET_MS}; "
            f"got {offset!r}.",
        )
    return int(offset)


@dataclass
class Spooled:
    """An upload streamed to a temporary file, with its SHA-256 and size."""

    file: IO[bytes]
    sha256: str
    size: int


def spool(read: Callable[[int], bytes], *, limit: int) -> Spooled:
    """Copy a request body to a temporary file in ``UPLOAD_CHUNK`` pieces, hashing as it goes.

    Never holds more than one chunk in memory; past ``limit`` bytes it stops reading and
    raises 413 (for bodies without a Content-Length, e.g. chunked ones).
    """
    # The process id in the name lets clean_spool() remove what a killed process left behind.
    handle = tempfile.NamedTemporaryFile(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-")  # noqa: SIM115 (closed by the caller)
    digest = hashlib.sha256()
    size = 0
    try:
        while True:
            chunk = read(UPLOAD_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise RpiError(
                    413, "audio_too_large", f"The audio is larger than the limit of {limit} bytes."
                )
            digest.update(chunk)
            handle.write(chunk)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return Spooled(handle, digest.hexdigest(), size)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def clean_spool(folder: str | None = None) -> int:
    """Remove upload spools and processing folders left by processes that were killed (a
    spool is deleted on close, which a SIGKILL skips). Run when a web or worker process starts.

    Only leftovers of processes that no longer exist are removed (the pid is in the name), so
    the other workers' uploads in progress are untouched. Returns how many were removed.
    """
    folder = folder or tempfile.gettempdir()
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        prefix = next((p for p in (UPLOAD_PREFIX, PROCESS_PREFIX) if name.startswith(p)), None)
        if prefix is None:
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            logger.warning("could not remove the leftover %s", path)
            continue
        removed += 1
    if removed:
        logger.info("removed %d upload spool/processing leftovers of dead processes", removed)
    return removed


def store_upload(*, call_id: str, content_type: str, offset_ms: int, body: Spooled) -> Result:
    """Validate a spooled upload by decoding it, store it raw, and start processing if ready.

    201 stored; 200 the same bytes again; 409 other bytes than the stored ones; 415 not audio or
    not the declared type. The raw object is written before the row is locked (storing may take
    long) and deleted again if the row then refuses it, so a refused upload leaves nothing.
    """
    first = find_call(call_id)
    _check_takes_audio(first)
    if first.upload_sha256:
        result = _replayed_upload(first, body.sha256)
        _resend_if_unsent(first)
        return result
    try:
        info = audio.probe(body.file)
        audio.check_declared_type(info, content_type)
    except audio.UnsupportedAudio as exc:
        raise RpiError(415, exc.code, exc.message) from None
    body.file.seek(0)
    store = not (first.ended_at is not None and first.state == Call.State.DISCARDED)
    key = ""
    if store:
        key = (
            f"tenants/{first.tenant_id}/uploads/{first.id}-{uuid.uuid4().hex}"
            f".{UPLOAD_EXTENSION[info.container]}"
        )
        key = recordings_storage().save(key, File(body.file))
    # The raw object is deleted again only if its row did not commit: after the commit (e.g. the
    # processing task could not be sent) the row names it and the audio must stay.
    committed = False

    def mark_committed() -> None:
        nonlocal committed
        committed = True

    try:
        with transaction.atomic():
            transaction.on_commit(mark_committed)  # first hook: runs before the task is sent
            call = _locked_call(call_id)
            _check_takes_audio(call)
            if call.upload_sha256:
                result = _replayed_upload(call, body.sha256)
                _delete_on_commit(key)
                return result
            call.upload_sha256 = body.sha256
            call.upload_size = body.size
            call.upload_content_type = info.mime
            call.upload_offset_ms = offset_ms
            call.uploaded_at = timezone.now()
            if call.ended_at is not None and call.state == Call.State.DISCARDED:
                _delete_on_commit(key)  # nothing to keep: the audio is not kept
            else:
                call.upload_key = key
                if call.ended_at is not None:
                    call.state = Call.State.PROCESSING
                    _enqueue_processing(call)
            call.save()
    except BaseException:
        if key and not committed:
            _delete_quietly(key)
        raise
    return Result(201, {**read_back(call), "sha256": body.sha256, "size": body.size})


def _replayed_upload(call: Call, sha256: str) -> Result:
    if call.upload_sha256 == sha256:
        return Result(200, {**read_back(call), "sha256": sha256, "size": call.upload_size})
    raise RpiError(409, "audio_exists", f"Call {call.pbx_call_id} already has different audio.")


# --------------------------------------------------------------------------------------------
# Processing (run by recordings.tasks.process_call)
# --------------------------------------------------------------------------------------------


def process_call(*, tenant_id: str | uuid.UUID, call_id: str | uuid.UUID) -> str:
    """Produce the recording of a call whose end and audio have both arrived. Idempotent.

    Steps, each safe to repeat after a crash:
    1. claim: a conditional UPDATE counts the attempt only while the state is ``processing``
       (anything else: finish a cleanup that may have been cut short, and stop);
    2. note the rendition key this attempt will write, deleting one a dead attempt left;
    3. download the raw upload to a temporary file, cut and encode with ``recordings.audio``;
    4. store the rendition, then in one transaction create the Recording and set ``recorded``;
    5. after that commit, delete the raw upload.
    Returns the call's final state. Transient storage errors propagate (the task retries).
    """
    with tenant_scope(tenant_id):
        claimed = Call.objects.filter(pk=call_id, state=Call.State.PROCESSING).update(
            processing_attempts=F("processing_attempts") + 1
        )
        call = Call.objects.filter(pk=call_id).first()
        if call is None:
            return "missing"
        if claimed:
            _note_dispatch(call_id)  # the repair's deadline counts from this attempt's start
        if not claimed:
            _finish_cleanup(call)
            if call.state == Call.State.RECORDED:
                _hand_over(call)
            return call.state
        recording_id = uuid.uuid4()
        with transaction.atomic():
            call = Call.objects.select_for_update().get(pk=call_id)
            stale = call.pending_rendition_key
            call.pending_rendition_key = (
                f"tenants/{call.tenant_id}/recordings/{recording_id}.{RENDITION_EXTENSION[audio.OUTPUT_MIME]}"
            )
            call.save(update_fields=["pending_rendition_key", "updated_at"])
        if stale:
            recordings_storage().delete(stale)
        return _produce(call, recording_id)


def _finish_cleanup(call: Call) -> None:
    """A finished call keeps no raw upload, no half-written rendition and no outbox row."""
    if call.state in (Call.State.IN_PROGRESS, Call.State.PROCESSING):
        return
    ProcessingOutbox.objects.filter(call=call).delete()
    if call.upload_key:
        recordings_storage().delete(call.upload_key)
        Call.objects.filter(pk=call.pk, upload_key=call.upload_key).update(upload_key="")
    if call.pending_rendition_key:
        recordings_storage().delete(call.pending_rendition_key)
        Call.objects.filter(pk=call.pk).update(pending_rendition_key="")


def _produce(call: Call, recording_id: uuid.UUID) -> str:
    storage = recordings_storage()
    outcome = _outcome(call)
    if not outcome.keep:
        return _conclude(call, state=Call.State.DISCARDED, outcome=outcome.reason.value)
    spans = [(span.start_ms, span.end_ms) for span in outcome.spans]
    duration = _ms(call.started_at, call.ended_at) if call.ended_at else None
    if not call.upload_key or not storage.exists(call.upload_key):
        # The raw audio is gone (lost before this fix, or removed by hand): nothing to retry.
        logger.error("call %s: the raw upload %r is missing", call.pk, call.upload_key)
        return _conclude(call, state=Call.State.FAILED, outcome="failed", error_code=AUDIO_MISSING)
    with tempfile.TemporaryDirectory(prefix=f"{PROCESS_PREFIX}{os.getpid()}-") as folder:
        raw_path = os.path.join(folder, "upload")
        with storage.open(call.upload_key, "rb") as source, open(raw_path, "wb") as target:
            while chunk := source.read(1024 * 1024):
                target.write(chunk)
        out_path = os.path.join(folder, "rendition")
        try:
            result = audio.process(
                raw_path, out_path, offset_ms=call.upload_offset_ms, retained=spans, call_duration_ms=duration
            )
        except audio.NothingRetained:
            return _conclude(call, state=Call.State.DISCARDED, outcome=audio.NothingRetained.default_code)
        except audio.UnsupportedAudio as exc:
            return _conclude(call, state=Call.State.FAILED, outcome="failed", error_code=exc.code)
        with open(out_path, "rb") as rendition:
            saved = storage.save(call.pending_rendition_key, File(rendition))
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.state != Call.State.PROCESSING or locked.pending_rendition_key != saved:
            # Another attempt finished first: this rendition is not ours to keep.
            transaction.on_commit(lambda: _delete_quietly(saved))
            return locked.state
        recording = Recording.objects.create(
            id=recording_id,
            tenant_id=call.tenant_id,
            call=locked,
            owner=locked.user,
            kind=locked.kind,
            direction=locked.direction,
            leg=locked.leg,
            local_number=locked.local_number,
            remote_number=locked.remote_number,
            started_at=locked.started_at,
            ended_at=locked.ended_at,
            duration_ms=result.duration_ms,
            storage_key=saved,
            mime=result.mime,
            size_bytes=result.size_bytes,
            sha256=result.sha256,
            peaks=list(result.peaks),
            paused_spans=[[span.start_ms, span.end_ms] for span in outcome.paused],
            segments=[list(segment) for segment in result.segments],
            talk_ratio=result.talk_ratio,
            expires_at=lifecycle.expiry_of(kind=locked.kind, ended_at=locked.ended_at, tenant=locked.tenant),
        )
        locked.state = Call.State.RECORDED
        locked.outcome = outcome.reason.value
        locked.pending_rendition_key = ""
        locked.error_code = ""
        locked.save()
        ProcessingOutbox.objects.filter(call=locked).delete()
    logger.info("call %s recorded as %s", call.pk, recording.pk)
    _finish_cleanup(locked)
    _hand_over(locked)
    return locked.state


def _hand_over(call: Call) -> None:
    """The lifecycle takes over: expiry rule, and for a playback the contact rules and the prompt.

    Also run by a redelivered task for a call already recorded, in case the worker died between
    the commit and this step; a recording the lifecycle has handled (``expiry_rule`` set, or
    deleted) is left alone, so the prompt is never sent twice.
    """
    recording = Recording.objects.filter(call=call, deleted_at__isnull=True, expiry_rule="").first()
    if recording is not None:
        lifecycle.on_recording_ready(recording)


def _conclude(call: Call, *, state: str, outcome: str, error_code: str = "") -> str:
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.state != Call.State.PROCESSING:
            return locked.state
        locked.state = state
        locked.outcome = outcome
        locked.error_code = error_code
        locked.save()
        ProcessingOutbox.objects.filter(call=locked).delete()
    _finish_cleanup(locked)
    return locked.state


def mark_failed(*, tenant_id: str | uuid.UUID, call_id: str | uuid.UUID, error_code: str) -> str:
    """Give up on a call whose processing kept failing: state ``failed``, no audio left behind."""
    with tenant_scope(tenant_id):
        call = Call.objects.filter(pk=call_id).first()
        if call is None:
            return "missing"
        try:
            return _conclude(call, state=Call.State.FAILED, outcome="failed", error_code=error_code)
        except Exception:  # storage still down: the state is set; the leftovers stay noted on the row
            logger.exception("cleanup after failure of call %s", call_id)
            return Call.State.FAILED


# --------------------------------------------------------------------------------------------
# 5. Read-back
# --------------------------------------------------------------------------------------------


def read_back(call: Call) -> dict[str, Any]:
    """The call as the phone system may read it back (``GET /rpi/v1/calls/{call_id}``)."""
    body: dict[str, Any] = {
        "call_id": call.pbx_call_id,
        "state": call.state,
        "kind": call.kind or None,
        "mode": call.mode or None,
        "record": call.record,
    }
    if call.state == Call.State.RECORDED:
        recording = Recording.objects.filter(call=call).first()
        if recording is None or recording.is_deleted:
            body["state"] = Call.State.DELETED.value
        else:
            body["recording"] = {
                "id": str(recording.id),
                "duration_ms": recording.duration_ms,
                "sha256": recording.sha256,
            }
    if call.state == Call.State.FAILED:
        body["error_code"] = call.error_code or "processing_failed"
    return body
