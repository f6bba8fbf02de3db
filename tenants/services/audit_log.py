"""Exporting the audit log (Manage → Audit log → CSV): the export is itself an audit entry."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.audit import AuditEntry, log_event
from tenants.audit.readable import readable
from tenants.models import Tenant, User

if TYPE_CHECKING:
    from django.http import HttpRequest

AUDIT_EXPORT_LIMIT = 100_000
AUDIT_EXPORT_BATCH = 2_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def export_audit_csv(
    *,
    tenant: Tenant,
    entries: QuerySet[AuditEntry],
    filters: dict[str, str],
    acting_user: User,
    request: HttpRequest | None = None,
) -> str:
    """The tenant's ``entries`` (already filtered, newest first) as CSV, one sentence a row in
    the active language, and the export's own audit entry (how many rows, which filters).
    More than ``AUDIT_EXPORT_LIMIT`` entries are refused (nothing exported, nothing logged): the
    reader narrows the period instead of getting a cut-off file."""
    entries = entries.filter(tenant=tenant).order_by("-id")
    if entries[AUDIT_EXPORT_LIMIT : AUDIT_EXPORT_LIMIT + 1].exists():
        raise ValidationError(
            _("More than %(limit)s entries match: choose a shorter period or a kind of action.")
            % {"limit": f"{AUDIT_EXPORT_LIMIT:,}"}
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("When"), _("Who"), _("What"), _("Action code"), _("From")])
    rows = 0
    last_id: int | None = None
    while True:
        page = entries if last_id is None else entries.filter(id__lt=last_id)
        batch = list(page[:AUDIT_EXPORT_BATCH])
        if not batch:
            break
        for row in readable(tenant.pk, batch):
            entry = row.entry
            writer.writerow(
                [
                    timezone.localtime(entry.created_at).isoformat(timespec="seconds"),
                    csv_cell(row.actor),
                    csv_cell(row.sentence),
                    entry.action,
                    entry.ip or "",
                ]
            )
        rows += len(batch)
        last_id = batch[-1].id
    with transaction.atomic():
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="manage.audit.export",
            detail={"rows": rows, "filters": {k: v for k, v in filters.items() if v}},
            request=request,
        )
    return out.getvalue()
