"""Data subject requests: find every recording with a phone number as the other party (never
the tenant's own lines), erase them (a counted dry run first), and a metadata export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import TYPE_CHECKING, Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from recordings import lifecycle
from recordings.models import Call, Recording
from tenants import numbers
from tenants.audit import log_event
from tenants.models import Tenant, User
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from django.http import HttpRequest


def normalise_number(raw: str, tenant: Tenant) -> str:
    """E.164 form of a number typed in international or national form (the tenant's country):
    the one rule for typed numbers, ``tenants.numbers.normalise_input``."""
    try:
        return numbers.normalise_input(raw, country=tenant.country)
    except numbers.InvalidNumber as exc:
        raise ValidationError({"number": exc.message}) from None


def _e164_or_none(raw: str, tenant: Tenant) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, tenant.country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def own_lines(tenant: Tenant) -> set[str]:
    """The tenant's own numbers, in E.164: every ``local_number`` seen in its calls and
    recordings, and its users' phone-system ids where those are phone numbers. Call inside the
    tenant's scope. (A distinct scan of the calls: one column, few values.)"""
    # order_by(): without it a model's default ordering joins the DISTINCT (a row per call).
    calls = Call.objects.filter(tenant=tenant).order_by()
    recordings = Recording.objects.filter(tenant=tenant).order_by()
    seen = set(calls.values_list("local_number", flat=True).distinct())
    seen |= set(recordings.values_list("local_number", flat=True).distinct())
    seen |= set(User.objects.filter(tenant=tenant).exclude(pbx_id="").values_list("pbx_id", flat=True))
    lines = set()
    for raw in seen:
        e164 = _e164_or_none(raw or "", tenant)
        if e164:
            lines.add(e164)
    return lines


def subject_number(raw: str, tenant: Tenant) -> str:
    """The E.164 number of a data subject, typed by a customer admin. A subject is the other party
    of a call: a number that is one of the tenant's own lines (or a user's extension) would match
    the tenant's staff instead (every recording of a line), so it is refused, whatever its
    formatting (both sides are compared in E.164)."""
    text = (raw or "").strip(" ")
    compact = "".join(ch for ch in text if ch not in " -.()")
    with service_scope(tenant):
        if compact and User.objects.filter(tenant=tenant, pbx_id=compact).exists():
            raise ValidationError(
                {"number": _("%(raw)s is an extension of your own organisation.") % {"raw": text}}
            )
        number = normalise_number(text, tenant)
        if number in own_lines(tenant):
            raise ValidationError(
                {
                    "number": _(
                        "%(number)s is one of your organisation's own numbers. Requests from people "
                        "are searched by the other party's number only."
                    )
                    % {"number": number}
                }
            )
    return number


def recordings_involving(tenant: Tenant, number: str) -> QuerySet[Recording]:
    """Live recordings of the tenant where ``number`` (E.164) is the other party (never the
    tenant's own line: see :func:`subject_number`). Call inside the tenant's scope."""
    return (
        Recording.objects.live()
        .filter(tenant=tenant, remote_number=number)
        .select_related("owner")
        .order_by("started_at", "id")
    )


def search_subject(
    *, tenant: Tenant, number: str, acting_user: User, request: HttpRequest | None = None
) -> tuple[str, list[Recording]]:
    """The dry run of an erasure: the subject's number in E.164 (refused when it is one of the
    tenant's own lines) and every live recording involving it. The search is in the audit log
    (with the count, not the number)."""
    number = subject_number(number, tenant)
    with service_scope(tenant):
        recordings = list(recordings_involving(tenant, number))
    log_event(
        tenant=tenant,
        actor=acting_user,
        action="privacy.subject.search",
        detail={"recordings": len(recordings)},
        request=request,
    )
    return number, recordings


def calls_involving(tenant: Tenant, number: str) -> QuerySet[Call]:
    return Call.objects.filter(tenant=tenant, remote_number=number)


def delete_recordings(ids: list[uuid.UUID], *, reason: str) -> Any:
    """The product's one deletion path (``recordings.lifecycle``): storage objects first, then the
    rows become tombstones without personal content. Call outside a transaction."""
    return lifecycle.delete_recording_objects(recordings=ids, reason=reason)


SUBJECT_ERASURE = "subject_erasure"
SERVICE_ENDED = "service_ended"
ERASED_NUMBER = ""


def erase_subject(
    *,
    tenant: Tenant,
    number: str,
    confirmed_count: int,
    acting_user: User | None,
    request: HttpRequest | None = None,
) -> int:
    """Erase every recording involving ``number`` (art. 17 AVG), and the number from the calls.

    ``confirmed_count`` is the count the admin saw in the dry run; if it no longer matches (a call
    came in meanwhile) nothing is erased and the admin is asked to count again.
    """
    number = subject_number(number, tenant)
    with service_scope(tenant):
        ids = list(recordings_involving(tenant, number).values_list("id", flat=True))
        if len(ids) != confirmed_count:
            raise ValidationError(
                _(
                    "The number of recordings changed since you counted (%(then)s, now %(now)s). "
                    "Count again before erasing."
                )
                % {"then": confirmed_count, "now": len(ids)}
            )
        result = delete_recordings(ids, reason=SUBJECT_ERASURE)
        with transaction.atomic():
            scrubbed = 0
            if not result.failed:
                scrubbed = calls_involving(tenant, number).update(remote_number=ERASED_NUMBER)
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="privacy.subject.erase",
                detail={"recordings": result.rows, "failed": len(result.failed), "calls_scrubbed": scrubbed},
                request=request,
            )
    if result.failed:
        raise ValidationError(
            _("%(n)s recording(s) could not be deleted from storage and are still there; try again.")
            % {"n": len(result.failed)}
        )
    return len(ids)


METADATA_COLUMNS = [
    "recording_id",
    "kind",
    "direction",
    "leg",
    "started_at",
    "ended_at",
    "duration_seconds",
    "local_number",
    "remote_number",
    "staff_member",
    "saved",
    "expires_at",
]


def _metadata_rows(tenant: Tenant, number: str) -> list[dict[str, Any]]:
    rows = []
    for rec in recordings_involving(tenant, number):
        rows.append(
            {
                "recording_id": str(rec.id),
                "kind": rec.kind,
                "direction": rec.direction,
                "leg": rec.leg,
                "started_at": rec.started_at.isoformat(),
                "ended_at": rec.ended_at.isoformat(),
                "duration_seconds": round(rec.duration_ms / 1000, 1),
                "local_number": rec.local_number,
                "remote_number": rec.remote_number,
                "staff_member": rec.owner.get_full_name() or rec.owner.get_username() if rec.owner else "",
                "saved": rec.saved,
                "expires_at": rec.expires_at.isoformat() if rec.expires_at else "",
            }
        )
    return rows


def metadata_export(
    *, tenant: Tenant, number: str, fmt: str, acting_user: User | None, request: HttpRequest | None = None
) -> tuple[str, str]:
    """The metadata (never audio) of every recording involving ``number``: (content, media type)."""
    if fmt not in {"csv", "json"}:
        raise ValidationError(_("Export as csv or json."))
    number = subject_number(number, tenant)
    with service_scope(tenant):
        rows = _metadata_rows(tenant, number)
    log_event(
        tenant=tenant,
        actor=acting_user,
        action="privacy.subject.export",
        detail={"format": fmt, "recordings": len(rows)},
        request=request,
    )
    if fmt == "json":
        body = json.dumps({"number": number, "recordings": rows}, indent=2)
        return body, "application/json"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METADATA_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue(), "text/csv"
