from __future__ import annotations

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and people"

    def ready(self) -> None:
        from django.core import checks

        from tenants import signins
        from tenants.audit import check_seal_key

        signins.connect()
        # A deployment check: the embedded default generates its key on purpose, and every
        # manage.py command of the demo would print the warning otherwise.
        checks.register(check_seal_key, checks.Tags.security, deploy=True)
