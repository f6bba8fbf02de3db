from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from hiprecorder.health import healthz

admin.site.site_header = "HIP Recorder support"
admin.site.site_title = "HIP Recorder support"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The telephony interface (the phone system's contract; paths fixed by the spec).
    path("rpi/v1/", include("recordings.rpi_urls")),
    # The mobile app's API and its OpenAPI contract.
    path("api/", include("hiprecorder.api_urls")),
    # Privacy (AVG) pages of the portal, and the access-copy link.
    path("", include("recordings.privacy.urls")),
    # The portal.
    path("", include("recordings.urls")),
]

# An unreachable database, broker or store raised outside a view: 503, not 500 (faults.py).
handler500 = "hiprecorder.faults.server_error"
