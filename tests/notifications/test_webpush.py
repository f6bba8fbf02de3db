"""Browser notifications (Web Push) through pywebpush to a loopback push service that verifies
the VAPID signature and decrypts the aes128gcm payload; the notification's buttons decide."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications import push
from notifications.models import Device, PushDelivery, PushPrompt
from notifications.services import register_device, register_web_subscription
from recordings import lifecycle
from recordings.models import Recording
from tenants.models import User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import committed, make_recording
from tests.notifications.webpush_server import Subscriber, WebPushServer


def browser(user: User, server: WebPushServer) -> tuple[Subscriber, Device]:
    sub = server.subscription()
    return sub, register_web_subscription(user=user, subscription=sub.as_json())


def ready(user: User) -> tuple[Recording, PushPrompt]:
    rec = make_recording(user)
    with committed():
        lifecycle.on_playback_ready(rec)
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        return rec, PushPrompt.objects.get(recording=rec)


def fresh(obj: Any) -> Any:
    with tenant_scope(obj.tenant_id):
        obj.refresh_from_db()
    return obj


def press(client: Client, token: str, answer: str) -> Any:
    return client.post(reverse("push_action"), {"token": token, "answer": answer})


# --- subscribing ------------------------------------------------------------------------------


def test_a_playback_user_turns_on_notifications_in_the_browser(
    personas: Personas, webpush_service: WebPushServer, client: Client
) -> None:
    user = personas.playback["days_30"]
    client.force_login(user)
    page = client.get(reverse("browser_notifications"))
    assert page.status_code == 200
    assert push.vapid_public_key() in page.content.decode()
    sub = webpush_service.subscription()
    response = client.post(reverse("push_subscribe"), sub.as_json(), content_type="application/json")
    assert response.status_code == 201, response.content
    with tenant_scope(personas.tenant_a):
        device = Device.objects.get(user=user, platform="webpush")
    assert json.loads(device.token)["endpoint"] == sub.endpoint and device.active
    # The same endpoint again (renewed keys) is the same device.
    again = webpush_service.subscription().as_json()
    again["endpoint"] = sub.endpoint
    assert client.post(reverse("push_subscribe"), again, content_type="application/json").status_code == 201
    with tenant_scope(personas.tenant_a):
        assert Device.objects.filter(user=user, platform="webpush").count() == 1
    off = client.post(
        reverse("push_unsubscribe"), {"endpoint": sub.endpoint}, content_type="application/json"
    )
    assert off.status_code == 200 and not fresh(device).active


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda s: s.pop("keys"), "ontbreken de sleutels"),
        (lambda s: s["keys"].update(p256dh="AAAA"), "ongeldig"),
        (lambda s: s["keys"].update(auth=s["keys"]["p256dh"]), "ongeldig"),
        (lambda s: s.update(endpoint="http://10.0.0.7/push/x"), "niet ondersteund"),
        (lambda s: s.update(endpoint="https://evil.example/push/x"), "niet ondersteund"),
        (lambda s: s.update(endpoint=42), "geen pushabonnement"),
    ],
)
def test_bad_subscriptions_are_refused_and_store_nothing(
    personas: Personas, webpush_service: WebPushServer, client: Client, change: Any, says: str
) -> None:
    client.force_login(personas.playback["days_30"])
    sub = webpush_service.subscription().as_json()
    change(sub)
    response = client.post(reverse("push_subscribe"), sub, content_type="application/json")
    assert response.status_code == 400
    assert says in response.json()["error"]
    with tenant_scope(personas.tenant_a):
        assert not Device.objects.filter(platform="webpush").exists()


def test_not_json_and_non_playback_users_are_refused(
    personas: Personas, webpush_service: WebPushServer, client: Client
) -> None:
    client.force_login(personas.playback["days_30"])
    bad = client.post(reverse("push_subscribe"), "[[[", content_type="application/json")
    assert bad.status_code == 400
    client.force_login(personas.admin)  # no Playback subscription
    body = webpush_service.subscription().as_json()
    assert client.post(reverse("push_subscribe"), body, content_type="application/json").status_code == 403
    with tenant_scope(personas.tenant_a):
        assert not Device.objects.filter(platform="webpush").exists()


def test_the_app_api_cannot_register_a_browser_platform(personas: Personas) -> None:
    with pytest.raises(Exception, match="Platform must be one of"):
        register_device(user=personas.playback["days_30"], token="abc", platform="webpush")


# --- sending ----------------------------------------------------------------------------------


def test_the_prompt_reaches_the_push_service_signed_and_encrypted(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    user = personas.playback["days_30"]
    sub, device = browser(user, webpush_service)
    phone = register_device(user=user, token="phone-1", platform="android")  # beside the app's phone
    rec, prompt = ready(user)
    assert prompt.status == PushPrompt.Status.SENT
    assert webpush_service.rejected == []
    [got] = webpush_service.to(sub)
    assert got.vapid_key == push.vapid_public_key()
    assert got.claims["aud"] == webpush_service.origin
    assert got.headers["content-encoding"] == "aes128gcm" and int(got.headers["ttl"]) > 0
    payload = got.payload
    assert payload["title"] == "Gesprek bewaren?"
    assert payload["body"] == prompt.body
    assert payload["actions"] == [
        {"action": "keep", "title": "Bewaren"},
        {"action": "delete", "title": "Verwijderen"},
    ]
    assert payload["url"] == reverse("player", args=[rec.pk])
    assert payload["action_url"] == reverse("push_action")
    assert "/audio" not in json.dumps(payload)  # the notification never points at audio
    with tenant_scope(personas.tenant_a):
        web = PushDelivery.objects.get(prompt=prompt, device=device)
        app = PushDelivery.objects.get(prompt=prompt, device=phone)
    assert web.status == app.status == PushDelivery.Status.SENT
    assert web.message_id.startswith(webpush_service.origin + "/messages/")
    assert len(web.action_token_hash) == 64 and payload["action_token"] not in web.action_token_hash
    assert app.action_token_hash == ""  # the app decides through its signed-in API


def test_english_users_get_english_buttons(personas: Personas, webpush_service: WebPushServer) -> None:
    user = personas.playback["days_30"]
    user.language = "en"
    user.save(update_fields=["language"])
    sub, _device = browser(user, webpush_service)
    ready(user)
    payload = webpush_service.to(sub)[0].payload
    assert payload["title"] == "Keep this call?"
    assert [a["title"] for a in payload["actions"]] == ["Keep", "Delete"]


@pytest.mark.parametrize("status", [404, 410])
def test_dead_subscriptions_are_cleaned_up(
    personas: Personas, webpush_service: WebPushServer, status: int
) -> None:
    user = personas.playback["days_30"]
    live, live_device = browser(user, webpush_service)
    dead, dead_device = browser(user, webpush_service)
    webpush_service.script(dead, status)
    _rec, prompt = ready(user)
    assert prompt.status == PushPrompt.Status.SENT
    dead_device = fresh(dead_device)
    assert not dead_device.active and dead_device.deactivated_reason == "unregistered"
    assert fresh(live_device).active
    with tenant_scope(personas.tenant_a):
        failed = PushDelivery.objects.get(prompt=prompt, device=dead_device)
    assert failed.status == PushDelivery.Status.FAILED and failed.error_code == "UNREGISTERED"
    webpush_service.reset()
    ready(user)
    assert [r.subscriber for r in webpush_service.received] == [live.id]


def test_transient_errors_are_retried_and_only_the_delivered_token_works(
    personas: Personas, webpush_service: WebPushServer, client: Client
) -> None:
    user = personas.playback["days_30"]
    sub, _device = browser(user, webpush_service)
    webpush_service.script(sub, 503, 429)
    rec, prompt = ready(user)  # eager Celery: the task's retries run at once
    prompt = fresh(prompt)
    assert prompt.status == PushPrompt.Status.SENT and prompt.attempts == 3
    attempts = [r for r in webpush_service.received if r.subscriber == sub.id]
    assert [r.status for r in attempts] == [503, 429, 201]
    stale, delivered = attempts[0].payload["action_token"], attempts[2].payload["action_token"]
    assert stale != delivered
    assert press(client, stale, "keep").status_code == 404
    assert not fresh(rec).saved
    assert press(client, delivered, "keep").status_code == 200
    assert fresh(rec).saved


def test_a_push_service_that_is_down_is_retried(personas: Personas, webpush_service: WebPushServer) -> None:
    user = personas.playback["days_30"]
    sub = webpush_service.subscription()
    body = sub.as_json()
    body["endpoint"] = "http://127.0.0.1:9/push/nobody"  # nothing listens: connection refused
    register_web_subscription(user=user, subscription=body)
    _rec, prompt = ready(user)
    prompt = fresh(prompt)
    assert prompt.status == PushPrompt.Status.FAILED  # given up after the retries, not a crash
    assert prompt.attempts > 1 and prompt.last_error.startswith("UNAVAILABLE")


# --- the buttons ------------------------------------------------------------------------------


def delivered_token(server: WebPushServer, sub: Subscriber) -> str:
    return str(server.to(sub)[-1].payload["action_token"])


def test_bewaren_keeps_the_recording_once(personas: Personas, webpush_service: WebPushServer) -> None:
    user = personas.playback["days_30"]
    sub, _device = browser(user, webpush_service)
    rec, prompt = ready(user)
    token = delivered_token(webpush_service, sub)
    client = Client()  # no session: the token is the authority
    response = press(client, token, "keep")
    assert response.status_code == 200 and response.json() == {"ok": True, "message": "Opname bewaard."}
    rec, prompt = fresh(rec), fresh(prompt)
    assert rec.saved and prompt.status == PushPrompt.Status.ANSWERED and prompt.answer == "keep"
    replay = press(client, token, "delete")
    assert replay.status_code == 409 and replay.json()["error"] == "Deze melding is al beantwoord."
    assert not fresh(rec).is_deleted


def test_verwijderen_deletes_through_the_same_service(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    user = personas.playback["days_30"]
    sub, _device = browser(user, webpush_service)
    rec, _prompt = ready(user)
    response = press(Client(), delivered_token(webpush_service, sub), "delete")
    assert response.status_code == 200, response.content
    rec = fresh(rec)
    assert rec.is_deleted and rec.deletion_reason == lifecycle.DeletionReason.USER_DELETED


def test_bad_old_and_foreign_tokens_change_nothing(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    user = personas.playback["days_30"]
    sub_a, _a = browser(user, webpush_service)
    sub_b, device_b = browser(user, webpush_service)
    rec, prompt = ready(user)
    token_a, token_b = delivered_token(webpush_service, sub_a), delivered_token(webpush_service, sub_b)
    client = Client()
    assert press(client, "not-a-token", "keep").status_code == 404
    assert press(client, "", "keep").status_code == 404
    assert press(client, "x" * 5000, "keep").status_code == 404
    assert press(client, token_a, "maybe").status_code == 400
    assert client.get(reverse("push_action"), {"token": token_a, "answer": "keep"}).status_code == 405
    # Browser B was switched off: its token no longer decides.
    with tenant_scope(personas.tenant_a):
        Device.objects.filter(pk=device_b.pk).update(active=False)
    assert press(client, token_b, "delete").status_code == 410
    rec = fresh(rec)
    assert not rec.saved and not rec.is_deleted and fresh(prompt).status == PushPrompt.Status.SENT
    # Answered in the portal meanwhile: browser A's button is out of date.
    lifecycle.keep_recording(recording=rec, acting_user=user)
    late = press(client, token_a, "delete")
    assert late.status_code == 409 and not fresh(rec).is_deleted


def test_the_token_expires_with_the_decision_window(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    user = personas.playback["days_30"]
    sub, _device = browser(user, webpush_service)
    rec, _prompt = ready(user)
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk=rec.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = press(Client(), delivered_token(webpush_service, sub), "keep")
    assert response.status_code == 410 and "verstreken" in response.json()["error"]
    assert not fresh(rec).saved


def test_the_token_never_reaches_audio_or_pages(
    personas: Personas, webpush_service: WebPushServer, client: Client
) -> None:
    user = personas.playback["days_30"]
    sub, _device = browser(user, webpush_service)
    rec, _prompt = ready(user)
    token = delivered_token(webpush_service, sub)
    for url in (reverse("recording_audio", args=[rec.pk]), reverse("player", args=[rec.pk])):
        for query in ({"token": token}, {"t": token}):
            response = client.get(url, query)
            assert response.status_code in (302, 403, 404), url
            assert not response.get("Content-Type", "").startswith("audio/")
    # A colleague signed in with the token gets no audio either.
    client.force_login(personas.listener)
    audio = client.get(reverse("recording_audio", args=[rec.pk]), {"token": token})
    assert audio.status_code in (403, 404)
