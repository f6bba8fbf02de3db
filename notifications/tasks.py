"""Celery tasks of the notifications: thin wrappers that take ids and enter the tenant scope."""

from __future__ import annotations

from celery import shared_task

from hiprecorder.retry import TRANSIENT
from notifications import services
from tenants.scoping import tenant_scope

MAX_RETRIES = services.MAX_RETRIES
backoff_seconds = services.backoff_seconds

# Every send is killed before its claim's lease ends (time_limit), so a live claim is never taken
# for a dead one; database or broker down: retried with backoff (autoretry_for).
LIMIT = services.LEASE_SECONDS - 30


@shared_task(
    name="notifications.send_prompt",
    ignore_result=True,
    autoretry_for=TRANSIENT,
    max_retries=MAX_RETRIES,
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    time_limit=LIMIT,
)
def send_prompt_task(tenant_id: str, *prompt_ids: str) -> None:
    """Send these prompts, and with them a batch of the tenant's other due prompts (one task per
    prompt is sent on commit; whichever runs first takes all that are due, the others find theirs
    sent). Prompts left pending by a transient error (quota, 5xx) go again after their backoff,
    as a new task that names them; each prompt counts its own attempts."""
    with tenant_scope(tenant_id):
        outcome = services.send_due_prompts(prompt_ids=prompt_ids)
    if outcome.retry:
        # (eager runs, as in tests, run it at once: it names its prompts, so their backoff is no bar)
        send_prompt_task.apply_async(
            args=(tenant_id, *(str(i) for i in outcome.retry)), countdown=outcome.retry_in
        )


@shared_task(
    name="notifications.send_due_prompts",
    ignore_result=True,
    autoretry_for=TRANSIENT,
    max_retries=MAX_RETRIES,
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    time_limit=LIMIT,
)
def send_due_prompts_task() -> int:
    """The sweep: sends every tenant's due prompts whose task is gone (a worker that died while
    sending: after its lease, its deliveries are failed, never sent twice; a retry that was lost).
    Cross-tenant ids only, each tenant's batch in its scope. Answers the prompts claimed."""
    claimed = 0
    for tenant_id in services.tenants_with_due_prompts():
        with tenant_scope(tenant_id):
            while batch := services.send_due_prompts().claimed:
                claimed += len(batch)
    return claimed
