"""``manage.py verify_audit_log``: recompute every audit chain, check it against its seals in the
store, and report what is wrong with each broken chain (see ``tenants.audit.BrokenLink``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.audit import verify_all

KINDS = {
    "link": "broken link",
    "cut": "cut tail",
    "altered": "altered entry",
    "forged": "forged seal",
    "unknown_key": "seal under an unknown key",
    "missing_seal": "missing seal",
}


class Command(BaseCommand):
    help = (
        "Check the hash chains of the audit log against their seals; exits 1 when any chain is "
        "broken, cut, altered, or its seals are forged or missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        broken = verify_all()
        if not broken:
            self.stdout.write(self.style.SUCCESS("The audit log is intact."))
            return
        for link in broken:
            where = f"entry #{link.entry_id}" if link.entry_id else "a missing entry"
            kind = KINDS.get(link.kind, link.kind)
            self.stderr.write(f"Chain {link.chain}: {kind} at link {link.seq} ({where}): {link.problem}")
        raise CommandError(f"{len(broken)} audit chain(s) broken")
