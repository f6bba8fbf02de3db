"""URLs of a telephony-only web process (``HIPRECORDER_SURFACE=telephony``): the phone system's
interface under ``/rpi/v1/`` and ``/healthz``, nothing else.

The phone system's uploads are the long requests (a 2-hour call is ~115 MB of WAV); a process
that serves only them never imports the portal, the API, the admin or allauth's views (allauth's
MFA stage alone pulls in its WebAuthn code), so each worker stays smaller (bench/README.md,
upload memory). Same code, settings and database as the full surface; only the routing differs.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from hiprecorder.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("rpi/v1/", include("recordings.rpi_urls")),
]


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Anything but the interface: the contract's JSON error. The portal's 404 page needs the
    portal's URLs (its layout links to them), which this process does not route."""
    return JsonResponse(
        {"error": {"code": "not_found", "message": "Only the telephony interface is served here."}},
        status=404,
    )


handler404 = not_found
# An unreachable database, broker or store raised outside a view: 503, not 500 (faults.py).
handler500 = "hiprecorder.faults.server_error"
