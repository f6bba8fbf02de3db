"""Sending Celery tasks: always after the surrounding transaction commits.

A task sent inside a transaction can run before the rows it needs are visible (or after they were
rolled back). ``enqueue`` waits for the commit; outside a transaction it sends at once. A send
that fails (broker down) raises from the commit: the data is committed, the request answers 503
(``hiprecorder.faults``) and the caller's retry or a repair task sends it again.

A service that enqueues its own task names it (``enqueue("recordings.sweep_expired")``) rather
than importing the task module: the task module imports the service, so importing it back would
make a circle. The name is looked up in the Celery app's registry when the task is sent.
"""

from __future__ import annotations

from typing import Any

from celery import Task, current_app
from django.db import transaction


def registered_task(name: str) -> Task:
    """The task registered as ``name``; the task modules (autodiscovered ``tasks`` modules and
    ``CELERY_IMPORTS``) are imported first if it is not registered yet (a web process imports
    them only when it first sends one). An unknown name raises ``KeyError``."""
    app = current_app
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue(task: Task | str, /, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` (a task, or the name it is registered under) with ``args``/``kwargs`` (ids
    and plain values only) once the data is committed. A name is looked up at once, so an
    unknown one fails before anything is committed."""
    target = registered_task(task) if isinstance(task, str) else task
    transaction.on_commit(lambda: target.apply_async(args=args, kwargs=kwargs))
