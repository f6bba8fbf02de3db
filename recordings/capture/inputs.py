"""The telephony interface's inputs: the refusal it answers with, and each field checked and
normalised before anything is written (the rules are listed in ``recordings.capture``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.files.storage import Storage, storages

from tenants import numbers

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
