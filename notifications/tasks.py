"""Celery tasks of the notifications: thin wrappers that take ids and enter the tenant scope."""

from __future__ import annotations

import random

from celery import Task, shared_task
from celery.exceptions import Retry

from hiprecorder.retry import TRANSIENT
from notifications import services
from tenants.scoping import tenant_scope

MAX_RETRIES = 6


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with jitter: about 5 s, 10 s, 20 s, … capped at 10 minutes."""
    base = min(600.0, 5.0 * 2**retries)
    return base / 2 + random.uniform(0, base / 2)  # noqa: S311 (jitter, not security)


@shared_task(
    bind=True,
    name="notifications.send_prompt",
    max_retries=MAX_RETRIES,
    ignore_result=True,
    autoretry_for=TRANSIENT,  # database or broker down: the same backoff as FCM errors
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
)
def send_prompt_task(self: Task, tenant_id: str, prompt_id: str) -> Retry | None:
    """Send a prompt; transient FCM errors (quota, 5xx) are retried with backoff."""
    final = self.request.retries >= MAX_RETRIES
    with tenant_scope(tenant_id):
        outcome = services.send_prompt(prompt_id=prompt_id, final_attempt=final)
    if outcome.retry:
        # throw=False: the retry is scheduled and this run ends normally, returning the Retry
        # (eager runs, as in tests, then run the retry at once; raising it would be an error there).
        return self.retry(countdown=backoff_seconds(self.request.retries), throw=False)
    return None
