"""JSON from outside, with its size and depth bounded *before* it is parsed.

Python's ``json`` module parses nesting recursively: a body of 50,000 ``[`` raises
``RecursionError`` (a 500) rather than ``ValueError``. And neither DRF's parser nor a plain
``request.read()`` bounds the size (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only guards
``request.body``). Both the telephony interface (``recordings.rpi``) and the API
(``hiprecorder.parsers.StrictJSONParser``, the API's only parser) read JSON through :func:`read_json`, so the
limits are written once:

- size: at most ``settings.JSON_MAX_BODY_BYTES`` (default 256 KiB; every request body of the
  telephony interface and the API is far smaller); a larger body is ``413 body_too_large``,
  refused from its ``Content-Length`` before anything is read, or after reading one byte more
  than the limit when there is none;
- depth: at most :data:`MAX_DEPTH` nested arrays/objects; deeper is ``400 malformed_json``;
- content: valid UTF-8 JSON, no ``NaN``/``Infinity``; otherwise ``400 malformed_json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings

MAX_DEPTH = 20
# A JSON string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JsonBodyError(Exception):
    """A refused body: HTTP ``status``, snake_case ``code``, human ``message`` (English)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def max_body_bytes() -> int:
    return int(settings.JSON_MAX_BODY_BYTES)


def too_large() -> JsonBodyError:
    return JsonBodyError(413, "body_too_large", f"The JSON body is larger than {max_body_bytes()} bytes.")


def check_depth(text: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``text`` whose arrays/objects nest deeper than ``max_depth``, without parsing it."""
    depth = 0
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonBodyError(
                    400, "malformed_json", f"The JSON is nested deeper than {max_depth} levels."
                )
        elif char in "]}":
            depth -= 1


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` after the depth check; JsonBodyError (400 ``malformed_json``) if it is not JSON."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise JsonBodyError(400, "malformed_json", f"The body is not UTF-8: {exc}.") from None
    check_depth(text, max_depth=max_depth)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise JsonBodyError(400, "malformed_json", f"The body is not valid JSON: {exc}.") from None


def read_limited(read: Callable[[int], bytes], *, content_length: int | None) -> bytes:
    """At most :func:`max_body_bytes` bytes from ``read``; JsonBodyError 413 beyond that."""
    limit = max_body_bytes()
    if content_length is not None and content_length > limit:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while size <= limit:  # a stream may return less than asked for before its end
        chunk = read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise too_large()
    return b"".join(chunks)


def content_length(meta: dict[str, Any]) -> int | None:
    """The request's Content-Length, or None when absent or not a number."""
    try:
        return int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def read_json(read: Callable[[int], bytes], meta: dict[str, Any]) -> Any:
    """The request body (``read``, ``META``) parsed as bounded JSON: see the module docstring."""
    return loads(read_limited(read, content_length=content_length(meta)))
