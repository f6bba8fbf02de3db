"""Views of the telephony interface (``/rpi/v1/``): thin HTTP around ``recordings.capture``.

Every answer is JSON; every error has the spec's shape ``{"error": {"code", "message"}}``, also
401, 404, 405 and 413/415 (Django's HTML error pages never answer on these paths), and 503
``service_unavailable`` with ``Retry-After`` when the database, broker or store is unreachable
(``hiprecorder.faults``; the contract's error table gains that row): every request is safe to
repeat, so the phone system retries it.

The views are ``csrf_exempt``: they are authenticated by the ``Authorization: Bearer`` phone-system
key, not by a session cookie, so a browser cannot be tricked into sending a forged request with
the phone system's credentials (CSRF protects cookie-authenticated requests only).

Order of checks on each request: method (405), key (401), then the service's own checks (400,
404, 409, 413, 415). The key is resolved once; the view runs inside that tenant's scope.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hiprecorder import jsonbody
from recordings import capture
from recordings.capture import RpiError
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.services import authenticate_pbx_key

View = Callable[..., JsonResponse]


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def rpi_view(*methods: str) -> Callable[[View], View]:
    """Method check, key authentication, tenant scope, and RpiError → the spec's JSON error."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                response = error(405, "method_not_allowed", f"Use {' or '.join(methods)} on this path.")
                response["Allow"] = ", ".join(methods)
                return response
            scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
            key = authenticate_pbx_key(raw.strip()) if scheme.lower() == "bearer" and raw.strip() else None
            if key is None:
                response = error(401, "unauthorized", "A valid phone-system key is required (Bearer).")
                response["WWW-Authenticate"] = 'Bearer realm="rpi"'
                return response
            try:
                with tenant_scope(key.tenant):
                    return view(request, key.tenant, *args, **kwargs)
            except RpiError as exc:
                return error(exc.status, exc.code, exc.message)

        return wrapper

    return decorate


def _json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, bounded in size and depth before parsing (hiprecorder.jsonbody)."""
    try:
        data = jsonbody.read_json(request.read, request.META)
    except jsonbody.JsonBodyError as exc:
        raise RpiError(exc.status, exc.code, exc.message) from None
    if not isinstance(data, dict):
        raise RpiError(400, "malformed_json", "The body must be a JSON object.")
    return data


def _answer(result: capture.Result) -> JsonResponse:
    return JsonResponse(result.body, status=result.status)


@rpi_view("POST")
def calls(request: HttpRequest, tenant: Tenant) -> JsonResponse:
    return _answer(capture.start_call(tenant=tenant, data=_json_object(request)))


@rpi_view("GET")
def call_detail(request: HttpRequest, tenant: Tenant, call_id: str) -> JsonResponse:
    return JsonResponse(capture.read_back(capture.find_call(call_id)))


@rpi_view("POST")
def events(request: HttpRequest, tenant: Tenant, call_id: str) -> JsonResponse:
    capture.find_call(call_id)  # an unknown call is 404 before the body is judged
    return _answer(capture.record_event(call_id=call_id, data=_json_object(request)))


@rpi_view("POST")
def end(request: HttpRequest, tenant: Tenant, call_id: str) -> JsonResponse:
    capture.find_call(call_id)
    return _answer(capture.end_call(call_id=call_id, data=_json_object(request)))


def _body_reader(request: HttpRequest) -> Callable[[int], bytes]:
    """A chunked reader of the request body that never loads it whole.

    With a Content-Length, Django's own stream (bounded by it). Without one (``Transfer-Encoding:
    chunked``, which gunicorn decodes), Django would read nothing, so read the WSGI input to its end.
    """
    if request.META.get("CONTENT_LENGTH"):
        return request.read
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        stream = request.META["wsgi.input"]
        return stream.read
    return request.read


@rpi_view("PUT")
def upload(request: HttpRequest, tenant: Tenant, call_id: str) -> JsonResponse:
    content_type = request.META.get("CONTENT_TYPE", "")
    length_header = request.META.get("CONTENT_LENGTH") or None
    try:
        length = int(length_header) if length_header is not None else None
    except ValueError:
        return error(400, "invalid_content_length", "Content-Length is not a number.")
    offset_ms = capture.precheck_upload(
        call_id=call_id,
        content_type=content_type,
        content_length=length,
        offset=request.headers.get("X-Audio-Offset-Ms"),
    )
    body = capture.spool(_body_reader(request), limit=settings.RPI_MAX_AUDIO_BYTES)
    with body.file:
        if body.size == 0:
            raise RpiError(415, "unsupported_audio", "The body is empty; send the audio bytes.")
        return _answer(
            capture.store_upload(call_id=call_id, content_type=content_type, offset_ms=offset_ms, body=body)
        )


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    return error(404, "not_found", f"There is no {request.path} in the telephony interface.")
