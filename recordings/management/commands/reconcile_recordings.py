"""``manage.py reconcile_recordings``: storage objects without a row, rows without an object."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recordings.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Report recordings-storage objects without a row, live recordings without an object, "
        "and calls whose raw upload object is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=50, help="list at most this many of each (default 50)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = reconcile()
        limit = options["limit"]
        self.stdout.write(f"{report.objects} objects, {report.rows} live recordings with audio")
        self.stdout.write(f"objects without a row: {len(report.orphan_objects)}")
        for key in report.orphan_objects[:limit]:
            self.stdout.write(f"  {key}")
        self.stdout.write(f"rows without an object: {len(report.missing_objects)}")
        for rec_id, key in report.missing_objects[:limit]:
            self.stdout.write(f"  recording {rec_id}: {key}")
        self.stdout.write(
            f"calls whose raw upload is missing: {len(report.missing_uploads)} of {report.uploads}"
        )
        for call_id, key in report.missing_uploads[:limit]:
            self.stdout.write(f"  call {call_id}: {key}")
        if report.clean:
            self.stdout.write(self.style.SUCCESS("storage and database agree"))
        else:
            self.stdout.write(self.style.WARNING("storage and database disagree"))
