"""Keep or delete a playback from the portal (POST only; the API has its own endpoints).

Minimal views over ``recordings.lifecycle``; the portal's pages link here with a ``next`` URL. The
review view posts here through htmx and gets its row removed (or the reason it could not be).
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from hiprecorder.http import TenantRequest
from recordings import lifecycle, review
from recordings.models import Kind, Recording
from tenants.access import tenant_required


def _decidable(request: TenantRequest, recording_id: uuid.UUID) -> Recording:
    """The signed-in user's own playback, or a tombstone of this tenant (which says only that it
    was deleted). Another tenant's recording, someone else's and a missing one: the same 404."""
    recording = Recording.objects.filter(pk=recording_id, kind=Kind.PLAYBACK).first()  # tenant-scoped
    if recording is None or (not recording.is_deleted and recording.owner_id != request.user.pk):
        raise Http404("No such recording")
    return recording


def _answer(request: TenantRequest, error: str = "") -> HttpResponse:
    """The htmx answer of the review view: the row goes (or shows why not) and the counts move."""
    context = {"error": error, "review_count": review.review_count(request.user)}
    return render(request, "recordings/review.html#answered", context)


def _back(request: TenantRequest) -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = reverse("outbox")
    return HttpResponseRedirect(target, status=303)


@require_POST
@tenant_required
def keep(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponse:
    recording = _decidable(request, recording_id)
    try:
        lifecycle.keep_recording(recording=recording, acting_user=request.user)
    except lifecycle.RecordingGone as gone:
        error = gone.message
    except ValidationError as exc:
        error = " ".join(exc.messages)
    else:
        error = ""
    if request.htmx:
        return _answer(request, error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Recording kept."))
    return _back(request)


@require_POST
@tenant_required
def delete(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponse:
    recording = _decidable(request, recording_id)
    try:
        lifecycle.delete_recording(recording=recording, acting_user=request.user)
    except lifecycle.RecordingGone as gone:
        error = gone.message
    except ValidationError as exc:
        error = " ".join(exc.messages)
    else:
        error = ""
    if request.htmx:
        return _answer(request, error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Recording deleted."))
    return _back(request)
