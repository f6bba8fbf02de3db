"""Prompts through the real firebase-admin client to a loopback FCM v1 server."""

from __future__ import annotations

import pytest

from notifications import push
from notifications.models import Device, OutboxMessage, PushDelivery, PushPrompt
from notifications.services import register_device
from notifications.tasks import MAX_RETRIES, send_prompt_task
from recordings import lifecycle
from recordings.models import Recording
from tenants.models import User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import committed, make_recording
from tests.notifications.fcm_server import FcmServer


def prompt_for(user: User) -> PushPrompt:
    rec = make_recording(user)
    with committed():
        lifecycle.on_playback_ready(rec)
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        return PushPrompt.objects.get(recording=rec)


def phones(user: User, *tokens: str) -> list[Device]:
    return [register_device(user=user, token=t, platform="android", app_version="2.1") for t in tokens]


def refreshed(obj):  # type: ignore[no-untyped-def]
    with tenant_scope(obj.tenant_id):
        obj.refresh_from_db()
    return obj


def test_the_fcm_backend_is_used_when_configured(fcm: FcmServer) -> None:
    assert isinstance(push.get_backend(), push.FcmBackend)


def test_prompt_reaches_every_active_phone_with_the_v1_payload(personas: Personas, fcm: FcmServer) -> None:
    user = personas.playback["days_30"]
    phones(user, "tok-a", "tok-b")
    prompt = prompt_for(user)
    assert prompt.status == PushPrompt.Status.SENT
    assert {r.token for r in fcm.received} == {"tok-a", "tok-b"}
    message = fcm.sent_to("tok-a")[0].message
    assert message["notification"] == {"title": "Gesprek bewaren?", "body": prompt.body}
    assert message["data"]["recording_id"] == str(prompt.recording_id)
    assert message["data"]["caller"] == "+31612345678"
    assert message["data"]["duration_ms"] == "61000"
    assert message["data"]["actions"] == "keep,delete"
    assert message["apns"]["payload"]["aps"]["category"] == "KEEP_OR_DELETE"
    assert message["android"]["notification"]["click_action"] == "KEEP_OR_DELETE"
    with tenant_scope(personas.tenant_a):
        ids = set(PushDelivery.objects.filter(prompt=prompt).values_list("message_id", flat=True))
        assert all(i.startswith("projects/hiprecorder-loopback/messages/") for i in ids) and len(ids) == 2
        assert not OutboxMessage.objects.exists()
    assert fcm.token_requests >= 1  # the credential really refreshed against the token endpoint


@pytest.mark.parametrize("code", ["UNREGISTERED", "INVALID_ARGUMENT"])
def test_dead_tokens_are_deactivated_one_by_one(personas: Personas, fcm: FcmServer, code: str) -> None:
    user = personas.playback["days_30"]
    good, dead = phones(user, "tok-good", "tok-dead")
    fcm.script("tok-dead", code)
    prompt = prompt_for(user)
    assert prompt.status == PushPrompt.Status.SENT  # the other phone got it
    assert refreshed(good).active
    dead = refreshed(dead)
    assert not dead.active and dead.deactivated_reason == code.lower()
    with tenant_scope(personas.tenant_a):
        failed = PushDelivery.objects.get(prompt=prompt, device=dead)
    assert failed.status == PushDelivery.Status.FAILED and failed.error_code == code
    # The next prompt does not try the dead phone.
    fcm.reset()
    prompt_for(user)
    assert [r.token for r in fcm.received] == ["tok-good"]


@pytest.mark.parametrize("code", ["QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"])
def test_transient_errors_are_retried_without_sending_twice(
    personas: Personas, fcm: FcmServer, code: str
) -> None:
    user = personas.playback["days_30"]
    phones(user, "tok-ok", "tok-flaky")
    fcm.script("tok-flaky", code, code)  # fails twice, then works
    prompt = prompt_for(user)  # the task retries (eagerly in tests, with backoff in a worker)
    assert refreshed(prompt).status == PushPrompt.Status.SENT
    assert refreshed(prompt).attempts == 3
    assert len(fcm.sent_to("tok-flaky")) == 3
    assert len(fcm.sent_to("tok-ok")) == 1  # never twice
    with tenant_scope(personas.tenant_a):
        assert Device.objects.filter(active=True).count() == 2  # transient: devices stay


def test_a_phone_that_never_recovers_gives_up_after_the_last_retry(
    personas: Personas, fcm: FcmServer
) -> None:
    user = personas.playback["days_30"]
    (device,) = phones(user, "tok-down")
    fcm.script("tok-down", *["UNAVAILABLE"] * (MAX_RETRIES + 5))
    prompt = prompt_for(user)
    prompt = refreshed(prompt)
    assert prompt.status == PushPrompt.Status.FAILED
    assert prompt.attempts == MAX_RETRIES + 1
    assert "UNAVAILABLE" in prompt.last_error
    assert refreshed(device).active


def test_a_retried_or_repeated_task_never_sends_again(personas: Personas, fcm: FcmServer) -> None:
    user = personas.playback["days_30"]
    phones(user, "tok-a")
    prompt = prompt_for(user)
    send_prompt_task.delay(str(prompt.tenant_id), str(prompt.pk))
    send_prompt_task.delay(str(prompt.tenant_id), str(prompt.pk))
    assert len(fcm.received) == 1


def test_an_answered_prompt_is_not_sent(personas: Personas, fcm: FcmServer) -> None:
    user = personas.playback["days_30"]
    phones(user, "tok-a")
    rec = make_recording(user)
    lifecycle.on_playback_ready(rec)  # the send waits for the commit…
    with tenant_scope(personas.tenant_a):
        prompt = PushPrompt.objects.get(recording=rec)
        lifecycle.keep_recording(
            recording=Recording.objects.get(pk=rec.pk), acting_user=user
        )  # …answered first
    send_prompt_task.delay(str(prompt.tenant_id), str(prompt.pk))
    assert fcm.received == []
    assert refreshed(prompt).status == PushPrompt.Status.ANSWERED


def test_a_deleted_recordings_prompt_is_not_sent(personas: Personas, fcm: FcmServer) -> None:
    user = personas.playback["days_30"]
    phones(user, "tok-a")
    rec = make_recording(user)
    lifecycle.on_playback_ready(rec)
    with tenant_scope(personas.tenant_a):
        prompt_id = PushPrompt.objects.get(recording=rec).pk
    lifecycle.delete_recording(recording=rec, acting_user=user)
    send_prompt_task.delay(str(personas.tenant_a.pk), str(prompt_id))
    assert fcm.received == []


def test_quota_warning_goes_through_fcm(personas: Personas, fcm: FcmServer) -> None:
    from notifications.services import warn_quota

    user = personas.playback["minutes_100k"]
    user.language = "en"
    phones(user, "tok-a")
    with committed():
        warn_quota(user=user, used_ms=91_000 * 60_000, quota_ms=100_000 * 60_000)
    (received,) = fcm.received
    assert received.message["notification"]["title"] == "Storage almost full"
    assert received.message["data"] == {
        "type": "quota_warning",
        "used_minutes": "91000",
        "quota_minutes": "100000",
    }
    assert "apns" not in received.message
