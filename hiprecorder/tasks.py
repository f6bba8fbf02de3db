"""Sending Celery tasks: always after the surrounding transaction commits.

A task sent inside a transaction can run before the rows it needs are visible (or after they were
rolled back). ``enqueue`` waits for the commit; outside a transaction it sends at once. A send
that fails (broker down) raises from the commit: the data is committed, the request answers 503
(``hiprecorder.faults``) and the caller's retry or a repair task sends it again.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from django.db import transaction


def enqueue(task: Task, /, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` with ``args``/``kwargs`` (ids and plain values only) once the data is committed."""
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs))
