from __future__ import annotations

from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    name = "recordings"
    verbose_name = "Calls and recordings"
