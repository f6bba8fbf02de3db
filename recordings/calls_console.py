"""Manage → Calls ("Gesprekken"): the tenant's calls as the telephony interface knows them.

Metadata only: the user, the line, the direction, the duration, the time and the state (with
the reason when a call failed or was not recorded); never the other party's number and never
audio. A call links to its player page only where the admin may hear the recording themselves
(``Recording.objects.visible_to``, the one rule). Paged by position on (started_at, id), no
COUNT, through the index ``call_tenant_started``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from recordings.capture import AUDIO_MISSING
from recordings.models import Call, Direction, Recording
from recordings.repair import PROCESSING_STALLED
from tenants.audit import log_event
from tenants.forms import EARLIEST_DAY, LATEST_DAY, PersonField, show_person
from tenants.models import Tenant, User
from tenants.services.audit_log import csv_cell

if TYPE_CHECKING:
    from django.http import HttpRequest

CALLS_PAGE = 50
CALLS_EXPORT_LIMIT = 100_000

REASONS = {
    AUDIO_MISSING: gettext_lazy("the phone system sent no audio"),
    PROCESSING_STALLED: gettext_lazy("processing stalled"),
    "processing_failed": gettext_lazy("processing failed"),
    "audio_error": gettext_lazy("the audio could not be read"),
    "unsupported_audio": gettext_lazy("the audio format is not supported"),
    "nothing_retained": gettext_lazy("nothing was left to keep"),
    "on_demand_without_keep": gettext_lazy("on demand, not kept"),
    "user_start_without_start": gettext_lazy("the user did not start recording"),
    "never": gettext_lazy("licence mode Never"),
    "not_recorded": gettext_lazy("no licence or subscription"),
    "blacklisted": gettext_lazy("blacklisted number"),
}


def reason_of(call: Call) -> str:
    """Why a call failed or was not recorded, in words ("" for the others)."""
    if call.state == Call.State.FAILED:
        code = call.error_code or "processing_failed"
    elif call.state in (Call.State.NOT_RECORDED, Call.State.DISCARDED):
        code = "blacklisted" if call.blacklisted else call.outcome
    else:
        return ""
    return str(REASONS.get(code, code))


class CallFilterForm(forms.Form):
    same_when_empty = True  # no choice from the database (tenants.templatetags.console)

    state = forms.ChoiceField(label=gettext_lazy("State"), required=False)
    person = PersonField(
        label=gettext_lazy("Person"),
        required=False,
        help_text=gettext_lazy("Username, phone-system id or full name."),
    )
    direction = forms.ChoiceField(
        label=gettext_lazy("Direction"),
        required=False,
        choices=[("", gettext_lazy("Both")), *Direction.choices],
    )
    since = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    until = forms.DateField(
        label=gettext_lazy("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )

    one_sided = forms.BooleanField(label=gettext_lazy("Only one party audible"), required=False)
    transcript_failed = forms.BooleanField(label=gettext_lazy("Only failed transcriptions"), required=False)

    def __init__(self, *args: Any, people: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(PersonField, self.fields["person"]).people = people
        cast(forms.ChoiceField, self.fields["state"]).choices = [
            ("", gettext_lazy("Every state")),
            *Call.State.choices,
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        show_person(self)
        return data

    def filter(self, calls: QuerySet[Call]) -> QuerySet[Call]:
        data = self.cleaned_data
        if data["state"]:
            calls = calls.filter(state=data["state"])
        if data["person"]:
            calls = calls.filter(user=data["person"])
        if data["direction"]:
            calls = calls.filter(direction=data["direction"])
        zone = timezone.get_current_timezone()
        if data["since"]:
            calls = calls.filter(started_at__gte=dt.datetime.combine(data["since"], dt.time.min, zone))
        if data["until"]:
            calls = calls.filter(started_at__lte=dt.datetime.combine(data["until"], dt.time.max, zone))
        if data["one_sided"]:  # the recording has one party silent throughout
            calls = calls.filter(recording__one_sided=True, recording__deleted_at__isnull=True)
        if data["transcript_failed"]:  # transcribing the recording failed after every retry
            calls = calls.filter(
                recording__transcript_failure__isnull=False, recording__deleted_at__isnull=True
            )
        return calls


@dataclass(frozen=True)
class CallRow:
    call: Call
    reason: str
    duration_ms: int | None
    playable: uuid.UUID | None  # the recording the admin may hear themselves
    state: str  # the state's and the direction's labels, in the active language
    direction: str


def calls_of(tenant: Tenant) -> QuerySet[Call]:
    return Call.objects.filter(tenant=tenant).select_related("user").order_by("-started_at", "-id")


def after_position(calls: QuerySet[Call], position: str) -> QuerySet[Call]:
    """The calls after ``position`` ("<started_at ISO>~<id>"), newest first; a malformed
    position is ignored (the first page)."""
    when, _sep, ident = position.partition("~")
    try:
        started = parse_datetime(when)
        call_id = uuid.UUID(ident)
    except ValueError:
        return calls
    if started is None or timezone.is_naive(started):
        return calls
    # started_at <= t first: the index range starts there (an OR alone would scan from the top)
    return calls.filter(Q(started_at__lte=started), Q(started_at__lt=started) | Q(id__lt=call_id))


def position_of(call: Call) -> str:
    return f"{call.started_at.isoformat()}~{call.pk}"


def rows_for(calls: list[Call], viewer: User) -> list[CallRow]:
    """The page's rows. The labels are translated once a page, not once a row
    (``get_state_display`` builds its table of choices on every call)."""
    ids = [c.pk for c in calls]
    playable = dict(Recording.objects.visible_to(viewer).filter(call_id__in=ids).values_list("call_id", "id"))
    states = {value: str(label) for value, label in Call.State.choices}
    directions = {value: str(label) for value, label in Direction.choices}
    return [
        CallRow(
            call=c,
            reason=reason_of(c),
            duration_ms=int((c.ended_at - c.started_at).total_seconds() * 1000) if c.ended_at else None,
            playable=playable.get(c.pk),
            state=states.get(c.state, c.state),
            direction=directions.get(c.direction, c.direction),
        )
        for c in calls
    ]


def export_calls_csv(
    *,
    tenant: Tenant,
    calls: QuerySet[Call],
    filters: dict[str, str],
    acting_user: User,
    request: HttpRequest | None = None,
) -> str:
    """The filtered calls as CSV (metadata, no audio, no other party's number), and the
    export's audit entry. More than ``CALLS_EXPORT_LIMIT`` calls are refused, nothing logged."""
    if calls[CALLS_EXPORT_LIMIT : CALLS_EXPORT_LIMIT + 1].exists():
        raise ValidationError(
            _("More than %(limit)s calls match: choose a shorter period.")
            % {"limit": f"{CALLS_EXPORT_LIMIT:,}"}
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [_("Time"), _("User"), _("Line"), _("Direction"), _("Duration (s)"), _("State"), _("Reason")]
    )
    rows = 0
    for call in calls.iterator(chunk_size=2000):
        duration = int((call.ended_at - call.started_at).total_seconds()) if call.ended_at else ""
        writer.writerow(
            [
                timezone.localtime(call.started_at).isoformat(timespec="seconds"),
                csv_cell(call.user.picker_label if call.user else ""),
                csv_cell(call.local_number),
                call.get_direction_display(),
                duration,
                call.get_state_display(),
                csv_cell(reason_of(call)),
            ]
        )
        rows += 1
    with transaction.atomic():
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="manage.calls.export",
            detail={"rows": rows, "filters": filters},
            request=request,
        )
    return out.getvalue()
