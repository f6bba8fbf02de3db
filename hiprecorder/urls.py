from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from hiprecorder.health import healthz
from recordings import views as recording_views

admin.site.site_header = "HIP Recorder support"
admin.site.site_title = "HIP Recorder support"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", recording_views.home, name="home"),
]
