"""The outbox, the browser's notifications (Web Push) and the installable app's files.

- ``outbox``: the signed-in user's push prompts, with keep/delete buttons (the demo's phone).
- ``browser_notifications``, ``push_subscribe``, ``push_unsubscribe``: a Playback user turns the
  browser's notifications on or off (the subscription is a device beside the app's phones).
- ``push_action``: the notification's "Keep"/"Delete" buttons (a single-use token, no session).
- ``manifest``, ``service_worker``, ``offline``: the Progressive Web App (the worker must be served
  from the site's root to control every page).
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from hiprecorder import jsonbody
from hiprecorder.http import TenantRequest
from notifications import services
from notifications.actions import ActionRefused, decide_from_push, delivery_of_token
from notifications.models import Device, PushPrompt
from notifications.push import WEBPUSH, vapid_public_key
from tenants.access import tenant_required
from tenants.models import PlaybackSubscription

THEME_COLOR = "#0f7f81"
# The shell the service worker keeps for offline use: our CSS/JS, the icons and the offline page.
SHELL = [
    "css/app.css",
    "js/app.js",
    "js/pwa.js",
    "vendor/htmx.min.js",
    "favicon.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-512.png",
    "icons/apple-touch-icon.png",
]


@require_GET
@tenant_required
def outbox(request: TenantRequest) -> HttpResponse:
    prompts = (
        PushPrompt.objects.filter(user=request.user)
        .select_related("recording")
        .prefetch_related("outbox_messages", "deliveries")[:100]
    )
    return render(request, "notifications/outbox.html", {"prompts": prompts})


# --- browser notifications ------------------------------------------------------------------------


def _playback_user(request: TenantRequest) -> bool:
    return PlaybackSubscription.objects.filter(user=request.user).exists()


@require_GET
@tenant_required
def browser_notifications(request: TenantRequest) -> HttpResponse:
    browsers = Device.objects.filter(user=request.user, platform=WEBPUSH, active=True).count()
    return render(
        request,
        "notifications/browser.html",
        {"playback": _playback_user(request), "browsers": browsers, "vapid_key": vapid_public_key()},
    )


def _json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=status)


def _subscription_body(request: TenantRequest) -> dict[str, object]:
    try:
        body = jsonbody.loads(request.body)
    except (jsonbody.JsonBodyError, ValueError) as exc:
        raise ValidationError(_("This is not a push subscription.")) from exc
    if not isinstance(body, dict):
        raise ValidationError(_("This is not a push subscription."))
    return body


@require_POST
@tenant_required
def push_subscribe(request: TenantRequest) -> JsonResponse:
    """Store this browser's subscription (``PushSubscription.toJSON()`` as the JSON body)."""
    if not _playback_user(request):
        raise PermissionDenied(_("Notifications in the browser are for Playback users."))
    try:
        device = services.register_web_subscription(
            user=request.user,
            subscription=_subscription_body(request),
            acting_user=request.user,
            user_agent=request.headers.get("User-Agent", ""),
        )
    except ValidationError as exc:
        return _json_error(400, " ".join(exc.messages))
    return JsonResponse({"ok": True, "device": str(device.pk)}, status=201)


@require_POST
@tenant_required
def push_unsubscribe(request: TenantRequest) -> JsonResponse:
    """Stop notifications to this browser (the JSON body names its endpoint)."""
    try:
        endpoint = _subscription_body(request).get("endpoint")
    except ValidationError as exc:
        return _json_error(400, " ".join(exc.messages))
    device = (
        services.web_device_of(user=request.user, endpoint=endpoint) if isinstance(endpoint, str) else None
    )
    if device is None:
        return _json_error(404, _("This browser gets no notifications."))
    services.deactivate_device(device=device, reason="removed", acting_user=request.user)
    return JsonResponse({"ok": True})


@csrf_exempt  # no session: the single-use token in the body is the authority (and a cross-site
@require_POST  # page cannot know it); it decides one recording and reaches nothing else.
@never_cache
def push_action(request: HttpRequest) -> JsonResponse:
    """A notification button: ``token`` and ``answer`` (keep or delete) as form fields."""
    token = request.POST.get("token", "")
    delivery = delivery_of_token(token)
    language = services.language_of(delivery.prompt.user) if delivery is not None else None
    with translation.override(language or translation.get_language()):
        try:
            recording = decide_from_push(token=token, answer=request.POST.get("answer", ""))
        except ActionRefused as refused:
            return _json_error(refused.status, refused.message)
        message = _("Recording deleted.") if recording.is_deleted else _("Recording kept.")
    return JsonResponse({"ok": True, "message": message})


# --- the installable app ----------------------------------------------------------------------------


@require_GET
@cache_control(max_age=3600)
def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest, in the page's language."""

    def icon(name: str, size: int, purpose: str = "any") -> dict[str, str]:
        return {
            "src": staticfiles_storage.url(f"icons/{name}"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": purpose,
        }

    data = {
        "id": "/",
        "name": "HIP Recorder",
        "short_name": "HIP Recorder",
        "description": _("Your recorded calls: listen, keep or delete."),
        "lang": translation.get_language(),
        "dir": "ltr",
        "start_url": reverse("home"),
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOR,
        "background_color": "#f6f7f9",
        "icons": [
            icon("icon-192.png", 192),
            icon("icon-512.png", 512),
            icon("maskable-512.png", 512, "maskable"),
        ],
    }
    response = JsonResponse(data, content_type="application/manifest+json")
    response["Vary"] = "Accept-Language, Cookie"
    return response


@require_GET
@never_cache  # browsers check the worker for updates; a changed shell means a new cache name
def service_worker(request: HttpRequest) -> HttpResponse:
    shell = [staticfiles_storage.url(name) for name in SHELL] + [reverse("offline")]
    version = hashlib.sha256("\n".join([settings.STATIC_URL or "", *shell]).encode()).hexdigest()[:12]
    response = render(
        request,
        "notifications/sw.js",
        {"shell_json": json.dumps(shell), "version": version},
        content_type="text/javascript; charset=utf-8",
    )
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/offline.html")
