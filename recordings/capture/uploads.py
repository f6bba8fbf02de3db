"""The call's audio: checked before the body is read, spooled to a temporary file with a size
limit, hashed, and stored as the raw upload; replays answer by the hash."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from recordings import audio
from recordings.capture.calls import (
    Result,
    _delete_on_commit,
    _delete_quietly,
    _enqueue_processing,
    _locked_call,
    _resend_if_unsent,
    find_call,
    read_back,
)
from recordings.capture.inputs import (
    MAX_AUDIO_OFFSET_MS,
    PROCESS_PREFIX,
    UPLOAD_CHUNK,
    UPLOAD_EXTENSION,
    UPLOAD_PREFIX,
    RpiError,
    _bad,
    recordings_storage,
)
from recordings.models import Call

logger = logging.getLogger(__name__)

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
