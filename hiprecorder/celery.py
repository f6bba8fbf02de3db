"""Celery application.

The same task code runs on both deployments: with ``CELERY_BROKER_URL`` set it talks to Redis;
without it (the embedded default) kombu's filesystem transport passes messages through a folder,
so ``make run`` needs no broker server.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")

app = Celery("hiprecorder")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["recordings.privacy"])  # recordings/privacy/tasks.py
