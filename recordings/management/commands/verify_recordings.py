"""``manage.py verify_recordings``: re-check every stored rendition against its recorded SHA-256.

The SHA-256 is taken when the rendition is stored. A match stamps ``verified_at`` and clears an
earlier failure (the player shows "verified" with the time); a mismatch or a missing object clears
``verified_at`` and stamps ``integrity_failed_at`` with the problem (the player shows a warning, the
Django admin lists it under "integrity: failed"), is written to the tenant's audit log (which its
admins read) and makes the command exit non-zero, naming the recordings (by id, never their
content). A recording never checked shows "not checked yet".
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from recordings.models import IntegrityProblem, Recording
from tenants.audit import log_event
from tenants.models import Tenant
from tenants.scoping import tenant_scope

CHUNK = 1024 * 1024


def sha256_of(key: str) -> str | None:
    """The SHA-256 of the stored object, or None when it is missing."""
    store = storages["recordings"]
    digest = hashlib.sha256()
    try:
        with store.open(key, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except (FileNotFoundError, OSError):
        return None
    return digest.hexdigest()


def verify_tenant(tenant: Tenant, *, batch: int = 500) -> tuple[int, list[tuple[str, str]]]:
    """(count verified, [(recording id, problem)]) for the live recordings of one tenant."""
    verified = 0
    problems: list[tuple[str, str]] = []
    with tenant_scope(tenant):
        recordings = Recording.objects.live().exclude(storage_key="").only("id", "storage_key", "sha256")
        for recording in recordings.iterator(chunk_size=batch):
            actual = sha256_of(recording.storage_key)
            if actual is not None and recording.sha256 and actual == recording.sha256:
                Recording.objects.filter(pk=recording.pk).update(
                    verified_at=timezone.now(), integrity_failed_at=None, integrity_problem=""
                )
                verified += 1
                continue
            code = (
                IntegrityProblem.MISSING
                if actual is None
                else IntegrityProblem.NO_CHECKSUM
                if not recording.sha256
                else IntegrityProblem.MISMATCH
            )
            problem = str(code.label)
            Recording.objects.filter(pk=recording.pk).update(
                verified_at=None, integrity_failed_at=timezone.now(), integrity_problem=code
            )
            problems.append((str(recording.pk), problem))
            log_event(
                tenant=tenant,
                actor=None,
                action="recording.integrity_failed",
                target=recording,
                detail={"problem": problem},
            )
    return verified, problems


class Command(BaseCommand):
    help = "Re-check the SHA-256 of every stored recording; exit 1 when any differs or is missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant (slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.filter(status=Tenant.Status.ACTIVE)
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No active tenant with slug {options['tenant']!r}")
        total = 0
        failures: list[tuple[str, str]] = []
        for tenant in tenants:
            verified, problems = verify_tenant(tenant)
            total += verified
            failures.extend(problems)
        for recording_id, problem in failures:
            self.stderr.write(f"recording {recording_id}: {problem}")
        if failures:
            raise CommandError(f"{len(failures)} recording(s) failed verification; {total} verified")
        self.stdout.write(self.style.SUCCESS(f"{total} recording(s) verified"))
