"""``manage.py verify_audit_log``: recompute every audit chain and report the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.audit import verify_all


class Command(BaseCommand):
    help = "Check the hash chains of the audit log; exits 1 at the first broken link of any chain."

    def handle(self, *args: Any, **options: Any) -> None:
        broken = verify_all()
        if not broken:
            self.stdout.write(self.style.SUCCESS("The audit log is intact."))
            return
        for link in broken:
            where = f"entry #{link.entry_id}" if link.entry_id else "a missing entry"
            self.stderr.write(f"Chain {link.chain}: broken at link {link.seq} ({where}): {link.problem}")
        raise CommandError(f"{len(broken)} audit chain(s) broken")
