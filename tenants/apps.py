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
        checks.register(check_seal_key, checks.Tags.security)
