"""Infrastructure faults: which errors mean "the database, broker or store is unreachable", and
the one answer they get on every surface: ``503`` with ``Retry-After``.

The phone system retries a ``503`` (the telephony contract's error table), and every service is
replay-safe, so an outage costs a retry, never a call. Tasks retry the same errors with backoff
(``hiprecorder.retry``). Written once here; ``InfrastructureFaultMiddleware`` answers errors raised by a
view, ``server_error`` (``handler500``) those raised in another middleware.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import kombu.exceptions
from django import db
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views import defaults

logger = logging.getLogger(__name__)

# Unreachable or failing infrastructure: a retry later can succeed, the request itself is fine.
# Plus, when loaded, the S3 client's connection errors and the Redis client's (below): they are
# looked up in sys.modules rather than imported, so a web process that never touched S3 or Redis
# does not load botocore (~6 MB per worker) just to recognise an error it cannot have raised.
INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    db.OperationalError,
    db.InterfaceError,
    kombu.exceptions.OperationalError,
)


def _loaded(module: str) -> Any:
    return sys.modules.get(module)


JSON_PREFIXES = ("/rpi/", "/api/")


def is_infrastructure_fault(exc: BaseException) -> bool:
    """True for an unreachable database, broker or store (EndpointConnectionError,
    ConnectionClosedError, timeouts), and for an S3 5xx/throttling answer."""
    if isinstance(exc, INFRASTRUCTURE):
        return True
    redis = _loaded("redis.exceptions")
    if redis is not None and isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return True
    boto = _loaded("botocore.exceptions")
    if boto is None:
        return False
    if isinstance(exc, (boto.ConnectionError, boto.HTTPClientError)):
        return True
    if isinstance(exc, boto.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500 or exc.response.get("Error", {}).get("Code") == "SlowDown"
    return False


def unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """``503`` with ``Retry-After``: the contract's JSON error on ``/rpi/`` and ``/api/``."""
    logger.error(
        "infrastructure fault on %s %s: %s: %s",
        request.method,
        request.path,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    retry_after = str(settings.FAULT_RETRY_AFTER_SECONDS)
    response: HttpResponse
    if request.path.startswith(JSON_PREFIXES):
        if request.path.startswith("/api/"):  # the app's messages follow Accept-Language
            message = gettext("A service is unavailable for a moment. Try again in a minute.")
        else:  # the telephony contract's messages are English
            message = (
                "A back-end service is unavailable. Send the same request again after "
                "Retry-After seconds (it is safe to repeat)."
            )
        response = JsonResponse({"error": {"code": "service_unavailable", "message": message}}, status=503)
    else:
        text = gettext("The service is temporarily unavailable. Please try again in a minute.")
        response = HttpResponse(text, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = retry_after
    return response


class InfrastructureFaultMiddleware:
    """Turn an infrastructure fault raised by a view into ``503`` (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_infrastructure_fault(exception):
            return unavailable(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an infrastructure fault raised outside a view (e.g. the session or tenant
    middleware reading the database) is a ``503`` as well; anything else is Django's 500."""
    exc = sys.exc_info()[1]
    if exc is not None and is_infrastructure_fault(exc):
        return unavailable(request, exc)
    return defaults.server_error(request)
