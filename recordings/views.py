from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hiprecorder.http import TenantRequest
from recordings.models import Recording
from tenants.access import tenant_required


@require_GET
@tenant_required
def home(request: TenantRequest) -> HttpResponse:
    recordings = Recording.objects.visible_to(request.user).select_related("owner")[:50]
    return render(request, "recordings/home.html", {"recordings": recordings})
