"""Prompts sent in batches: one claim takes the due prompts, their requests go out at once, the
outcome is recorded per device; through the loopback Web Push and FCM servers."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from notifications import services
from notifications.models import Device, PushDelivery, PushPrompt
from notifications.services import register_device, register_web_subscription
from notifications.tasks import send_due_prompts_task, send_prompt_task
from recordings import lifecycle
from recordings.models import Recording
from tenants import services as tenant_services
from tenants.models import User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import make_recording
from tests.notifications.fcm_server import FcmServer
from tests.notifications.webpush_server import Subscriber, WebPushServer


def playback_users(personas: Personas, n: int) -> list[User]:
    users = []
    for i in range(n):
        user = tenant_services.create_user(
            tenant=personas.tenant_a, username=f"batch-{i}", password=None, pbx_id=f"77{i}"
        )
        tenant_services.set_playback_subscription(user=user, tier="days_30")
        users.append(user)
    return users


def browser(user: User, server: WebPushServer) -> tuple[Subscriber, Device]:
    sub = server.subscription()
    return sub, register_web_subscription(user=user, subscription=sub.as_json())


def pending_prompt(user: User) -> tuple[Recording, PushPrompt]:
    """A ready recording whose prompt waits: its task (sent on commit) has not run."""
    rec = make_recording(user)
    lifecycle.on_playback_ready(rec)
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        prompt = PushPrompt.objects.get(recording=rec)
    assert prompt.status == PushPrompt.Status.PENDING
    return rec, prompt


def fresh(obj: Any) -> Any:
    with tenant_scope(obj.tenant_id):
        obj.refresh_from_db()
    return obj


def run_task(prompt: PushPrompt) -> None:
    send_prompt_task.delay(str(prompt.tenant_id), str(prompt.pk))


def test_one_task_sends_every_due_prompt_to_every_device_in_one_batch(
    personas: Personas, webpush_service: WebPushServer, fcm: FcmServer
) -> None:
    users = playback_users(personas, 6)
    subs: dict[int, list[Subscriber]] = {}
    for i, user in enumerate(users):
        subs[i] = [browser(user, webpush_service)[0] for _ in range(2)]
        register_device(user=user, token=f"phone-{i}", platform="android")
    prompts = [pending_prompt(u)[1] for u in users for _ in range(2)]  # 12 prompts, 36 messages
    run_task(prompts[0])  # the first task takes them all
    prompts = [fresh(p) for p in prompts]
    assert {p.status for p in prompts} == {PushPrompt.Status.SENT}
    assert {p.attempts for p in prompts} == {1}
    assert len({p.sent_at for p in prompts}) == 1  # one batch: one outcome
    assert webpush_service.rejected == []
    for i, user in enumerate(users):
        mine = {str(p.pk) for p in prompts if p.user_id == user.pk}
        for sub in subs[i]:  # each browser: each of its user's prompts once, its own token
            got = webpush_service.to(sub)
            assert sorted(r.payload["tag"] for r in got) == sorted(mine)
            assert len({r.payload["action_token"] for r in got}) == 2
        assert len(fcm.sent_to(f"phone-{i}")) == 2
    with tenant_scope(personas.tenant_a):
        deliveries = PushDelivery.objects.filter(prompt__in=prompts)
        assert deliveries.count() == 36
        assert set(deliveries.values_list("status", flat=True)) == {PushDelivery.Status.SENT}
    for p in prompts[1:]:  # their own tasks find them sent
        run_task(p)
    assert len(webpush_service.received) == 24 and len(fcm.received) == 12


@pytest.mark.parametrize("status", [404, 410])
def test_a_dead_subscription_in_the_middle_of_a_batch(
    personas: Personas, webpush_service: WebPushServer, status: int
) -> None:
    first, middle, last = playback_users(personas, 3)
    sub_first, _ = browser(first, webpush_service)
    dead, dead_device = browser(middle, webpush_service)
    live_of_middle, _ = browser(middle, webpush_service)
    sub_last, _ = browser(last, webpush_service)
    only, only_device = browser(last, webpush_service)  # the last user has a second browser, dead too
    webpush_service.script(dead, status)
    webpush_service.script(only, status)
    prompts = [pending_prompt(u)[1] for u in (first, middle, last)]
    run_task(prompts[0])
    assert [fresh(p).status for p in prompts] == [PushPrompt.Status.SENT] * 3
    for device in (dead_device, only_device):
        device = fresh(device)
        assert not device.active and device.deactivated_reason == "unregistered"
    with tenant_scope(personas.tenant_a):
        failed = PushDelivery.objects.get(device=dead_device)
        assert failed.status == PushDelivery.Status.FAILED and failed.error_code == "UNREGISTERED"
        assert Device.objects.filter(active=True).count() == 3
    for sub in (sub_first, live_of_middle, sub_last):
        assert len(webpush_service.to(sub)) == 1
    # The next batch does not try the dead ones.
    webpush_service.reset()
    run_task(pending_prompt(middle)[1])
    assert [r.subscriber for r in webpush_service.received] == [live_of_middle.id]


def test_a_user_whose_only_browser_is_dead_gets_a_failed_prompt(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    a, b = playback_users(personas, 2)
    browser(a, webpush_service)
    dead, _ = browser(b, webpush_service)
    webpush_service.script(dead, 410)
    prompts = [pending_prompt(u)[1] for u in (a, b)]
    run_task(prompts[0])
    ok, failed = (fresh(p) for p in prompts)
    assert ok.status == PushPrompt.Status.SENT
    assert failed.status == PushPrompt.Status.FAILED and failed.last_error.startswith("UNREGISTERED")


def test_a_transient_failure_in_a_batch_is_retried_for_that_prompt_only(
    personas: Personas, webpush_service: WebPushServer, fcm: FcmServer
) -> None:
    a, b, c = playback_users(personas, 3)
    sub_a, _ = browser(a, webpush_service)
    flaky, _ = browser(b, webpush_service)
    steady, _ = browser(b, webpush_service)
    register_device(user=b, token="phone-b", platform="ios")
    sub_c, _ = browser(c, webpush_service)
    webpush_service.script(flaky, 503, 429)  # twice transient, then 201
    prompts = [pending_prompt(u)[1] for u in (a, b, c)]
    run_task(prompts[0])  # eager: the retry task runs at once, naming its prompt
    pa, pb, pc = (fresh(p) for p in prompts)
    assert pa.status == pb.status == pc.status == PushPrompt.Status.SENT
    assert (pa.attempts, pb.attempts, pc.attempts) == (1, 3, 1)
    assert pb.next_attempt_at is not None and pb.claimed_until is None
    assert [r.status for r in webpush_service.received if r.subscriber == flaky.id] == [503, 429, 201]
    for sub in (sub_a, steady, sub_c):  # never twice to the devices that had it
        assert len([r for r in webpush_service.received if r.subscriber == sub.id]) == 1
    assert len(fcm.sent_to("phone-b")) == 1
    tokens = [r.payload["action_token"] for r in webpush_service.received if r.subscriber == flaky.id]
    assert len(set(tokens)) == 3  # a fresh single-use token per attempt


def test_a_prompt_waiting_for_its_backoff_is_not_taken_early(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    a, b = playback_users(personas, 2)
    browser(a, webpush_service)
    browser(b, webpush_service)
    waiting, other = pending_prompt(a)[1], pending_prompt(b)[1]
    with tenant_scope(personas.tenant_a):
        PushPrompt.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    run_task(other)
    assert fresh(waiting).status == PushPrompt.Status.PENDING and fresh(waiting).attempts == 0
    assert fresh(other).status == PushPrompt.Status.SENT
    run_task(waiting)  # its own (retry) task names it
    assert fresh(waiting).status == PushPrompt.Status.SENT


def test_decided_and_deleted_recordings_are_skipped_in_a_batch(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    user = playback_users(personas, 1)[0]
    sub, _ = browser(user, webpush_service)
    (kept, p_kept), (gone, p_gone), (_open, p_open) = (pending_prompt(user) for _ in range(3))
    lifecycle.keep_recording(recording=kept, acting_user=user)
    lifecycle.delete_recording(recording=gone, acting_user=user)
    run_task(p_kept)
    assert [r.payload["tag"] for r in webpush_service.to(sub)] == [str(p_open.pk)]
    assert fresh(p_kept).status == PushPrompt.Status.ANSWERED and fresh(p_kept).attempts == 0
    with tenant_scope(personas.tenant_a):
        assert not PushPrompt.objects.filter(pk=p_gone.pk).exists()  # went with its recording
    assert fresh(p_open).status == PushPrompt.Status.SENT


def test_an_answer_while_the_batch_is_sending_stands(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    user = playback_users(personas, 1)[0]
    browser(user, webpush_service)
    rec, prompt = pending_prompt(user)
    with tenant_scope(personas.tenant_a):
        claim = services._claim([], only_these=False, limit=10)
    assert claim is not None and len(claim.messages) == 1
    lifecycle.keep_recording(recording=rec, acting_user=user)  # answered in the portal meanwhile
    with tenant_scope(personas.tenant_a):
        services._record(claim, services.send_all(claim.messages))
    prompt = fresh(prompt)
    assert prompt.status == PushPrompt.Status.ANSWERED and prompt.answer == "keep"
    assert prompt.claimed_until is None


def test_a_worker_that_dies_while_sending_never_sends_twice(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    """The guarantee: at most once per device per prompt. The claim commits before the requests;
    a worker killed after it leaves the deliveries ``sending`` and the prompt leased: the task
    delivered again (acks_late) skips it while the lease runs, and the claim after the lease
    fails those deliveries (INTERRUPTED) instead of sending them again."""
    user = playback_users(personas, 1)[0]
    sub, device = browser(user, webpush_service)
    prompt = pending_prompt(user)[1]
    with tenant_scope(personas.tenant_a):
        claim = services._claim([str(prompt.pk)], only_these=True, limit=1)
    assert claim is not None
    services.send_all(claim.messages)  # the request went out; the worker dies before recording it
    run_task(prompt)  # the task again (acks_late): the lease holds
    assert len(webpush_service.received) == 1
    assert fresh(prompt).status == PushPrompt.Status.PENDING
    with tenant_scope(personas.tenant_a):  # the lease runs out
        PushPrompt.objects.filter(pk=prompt.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert send_due_prompts_task.delay().get() == 1  # the sweep takes it
    assert len(webpush_service.to(sub)) == 1  # not sent again
    prompt = fresh(prompt)
    assert prompt.status == PushPrompt.Status.FAILED and prompt.last_error.startswith("INTERRUPTED")
    with tenant_scope(personas.tenant_a):
        delivery = PushDelivery.objects.get(prompt=prompt, device=device)
    assert delivery.status == PushDelivery.Status.FAILED and delivery.error_code == "INTERRUPTED"


def test_the_sweep_sends_a_prompt_whose_task_was_lost(
    personas: Personas, webpush_service: WebPushServer
) -> None:
    user = playback_users(personas, 1)[0]
    sub, _ = browser(user, webpush_service)
    prompt = pending_prompt(user)[1]  # its task never ran
    assert send_due_prompts_task.delay().get() == 1
    assert fresh(prompt).status == PushPrompt.Status.SENT and len(webpush_service.to(sub)) == 1
    assert send_due_prompts_task.delay().get() == 0


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_never_send_one_twice(
    personas: Personas, webpush_service: WebPushServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    monkeypatch.setattr(services, "_enqueue_send", lambda prompt: None)  # the prompts wait
    users = playback_users(personas, 8)
    subs = {u.pk: browser(u, webpush_service)[0] for u in users}
    prompts = [pending_prompt(u)[1] for u in users for _ in range(5)]  # 40 prompts
    claimed: list[list[Any]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        try:
            with tenant_scope(personas.tenant_a):
                barrier.wait()
                while batch := services.send_due_prompts(limit=3).claimed:
                    claimed[n] += batch
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert claimed[0] and claimed[1]  # both worked
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(p.pk for p in prompts)
    assert webpush_service.rejected == []
    for user in users:
        tags = [r.payload["tag"] for r in webpush_service.to(subs[user.pk])]
        assert sorted(tags) == sorted(str(p.pk) for p in prompts if p.user_id == user.pk)  # each once
    with tenant_scope(personas.tenant_a):
        assert set(PushPrompt.objects.values_list("status", flat=True)) == {PushPrompt.Status.SENT}
