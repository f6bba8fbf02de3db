"""The API's request parser (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``).

A module of its own: DRF imports it while ``rest_framework.views`` is being loaded, so it may
import nothing that imports DRF's views (``hiprecorder.api`` does, through drf-spectacular).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers

from hiprecorder import jsonbody


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "body_too_large"
    default_detail = "The JSON body is too large."


class StrictJSONParser(parsers.JSONParser):
    """JSON bounded in size and depth before parsing (``hiprecorder.jsonbody``, shared with the
    telephony interface): too large is ``413 body_too_large``, too deep or not JSON
    ``400 malformed_json``, never a ``RecursionError``."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        try:
            if stream is None:
                return jsonbody.loads(b"")
            return jsonbody.read_json(stream.read, meta)
        except jsonbody.JsonBodyError as exc:
            if exc.status == 413:
                raise BodyTooLarge(exc.message) from None
            raise exceptions.ParseError(exc.message) from None
