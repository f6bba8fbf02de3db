"""The outbox: the signed-in user's push prompts, with keep/delete buttons (the demo's phone)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hiprecorder.http import TenantRequest
from notifications.models import PushPrompt
from tenants.access import tenant_required


@require_GET
@tenant_required
def outbox(request: TenantRequest) -> HttpResponse:
    prompts = (
        PushPrompt.objects.filter(user=request.user)
        .select_related("recording")
        .prefetch_related("outbox_messages", "deliveries")[:100]
    )
    return render(request, "notifications/outbox.html", {"prompts": prompts})
