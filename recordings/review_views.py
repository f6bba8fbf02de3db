"""The portal's "To review" view and the Playback user's plan (thin: reads in
:mod:`recordings.review`, decisions through :mod:`recordings.decision_views` and the lifecycle)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from hiprecorder.http import TenantRequest
from recordings import review
from tenants.access import tenant_required


def not_modified(request: TenantRequest, view: str, query: str = "") -> HttpResponse | None:
    """A 304 when the poll's tag is still current (``review.still_current``): then nothing is
    read but the person's list version, and nothing rendered."""
    asked = request.headers.get("If-None-Match", "")
    if request.htmx and asked and review.still_current(asked, request.user, view, query):
        response = HttpResponseNotModified()
        response["ETag"] = asked.split(",")[0].strip()
        response["Cache-Control"] = "no-store"
        return response
    return None


def with_tag(response: HttpResponse, tag: str) -> HttpResponse:
    response["ETag"] = f'"{tag}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@tenant_required
def review_list(request: TenantRequest) -> HttpResponse:
    user = request.user
    if not review.is_playback_user(user):
        raise PermissionDenied("Only Playback users decide about their recordings.")
    now = timezone.now()
    after = request.GET.get("after", "")
    if request.htmx and after:  # the "More" row: the next page's rows, nothing else
        rows, next_cursor = review.review_rows(user, now=now, after=after)
        page: dict[str, object] = {"rows": rows, "next_url": _next_url(next_cursor)}
        return render(request, "recordings/review.html#rows", page)
    unchanged = not_modified(request, "review")
    if unchanged is not None:
        return unchanged
    tag = review.live_tag(user, "review", now=now)  # before the list is read
    rows, next_cursor = review.review_rows(user, now=now, after=after)
    context = {
        "rows": rows,
        "next_url": _next_url(next_cursor),
        "review_count": review.review_count(user, now=now),
        "processing": [] if after else review.processing_calls(user, playback_only=True),
        "live_tag": tag,
        "oob": bool(request.htmx),
    }
    template = "recordings/review.html#list" if request.htmx else "recordings/review.html"
    return with_tag(render(request, template, context), tag)


def _next_url(cursor: str) -> str:
    return f"?{urlencode({'after': cursor})}" if cursor else ""


@require_GET
@tenant_required
def plan(request: TenantRequest) -> HttpResponse:
    user_plan = review.plan_of(request.user)
    if user_plan is None:
        raise PermissionDenied("Only Playback users have a plan.")
    return render(request, "recordings/plan.html", {"plan": user_plan})
