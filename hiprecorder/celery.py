"""Celery application.

The same task code runs on both deployments: with ``CELERY_BROKER_URL`` set it talks to Redis;
without it (the embedded default) kombu's filesystem transport passes messages through a folder,
so ``make run`` needs no broker server.

Every message carries a ``published_at`` header (when it was sent), so a task can tell how long
it waited in the queue (``recordings.tasks.worker_heartbeat_task``, shown by ``/healthz``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")

app = Celery("hiprecorder")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["recordings.privacy"])  # recordings/privacy/tasks.py


@before_task_publish.connect
def _stamp_published_at(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is not None:
        headers.setdefault("published_at", time.time())


@worker_init.connect
def _clean_spool_at_start(**kwargs: Any) -> None:
    """Processing folders of a killed worker stay in the temporary folder: remove them."""
    from recordings.capture import clean_spool

    clean_spool()
