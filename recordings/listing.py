"""The home list: what a person may hear, newest first, filtered, keyset-paginated.

No COUNT(*) and no OFFSET: a page is "the next N rows after (started_at, id)", which an index on
``(tenant, owner, -started_at, -id)`` answers at any depth.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.utils import timezone

from recordings.models import Comment, Direction, Kind, Label, Recording
from tenants.models import Role, Team, User

PAGE_SIZE = 25


def team_member_ids(listener: User) -> list[uuid.UUID]:
    """The people whose standard recordings ``listener`` may hear (members of their teams)."""
    if listener.role != Role.LISTENER:
        return []
    through = Team.members.through
    return list(
        through.objects.filter(team__listeners=listener)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by()
    )


def team_members(listener: User) -> list[User]:
    ids = team_member_ids(listener)
    return list(User.objects.filter(pk__in=ids, tenant_id=listener.tenant_id).order_by("username"))


@dataclass
class Filters:
    kind: str = ""
    saved: str = ""
    direction: str = ""
    person: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    label: str = ""
    q: str = ""
    errors: list[str] = field(default_factory=list)

    def as_params(self) -> dict[str, str]:
        params = {
            "kind": self.kind,
            "saved": self.saved,
            "direction": self.direction,
            "person": self.person,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "label": self.label,
            "q": self.q,
        }
        return {k: v for k, v in params.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.as_params())


def _date(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def parse_filters(params: Any, *, allowed_people: list[uuid.UUID]) -> Filters:
    """Read the filter form. Unknown values are dropped (a bad link shows everything, not an error)."""
    f = Filters()
    kind = params.get("kind", "")
    f.kind = kind if kind in Kind.values else ""
    saved = params.get("saved", "")
    f.saved = saved if saved in {"yes", "no"} else ""
    direction = params.get("direction", "")
    f.direction = direction if direction in Direction.values else ""
    person = params.get("person", "")
    f.person = person if person in {str(p) for p in allowed_people} or person == "me" else ""
    f.date_from = _date(params.get("from", ""))
    f.date_to = _date(params.get("to", ""))
    f.label = " ".join(params.get("label", "").split())[:40]
    f.q = params.get("q", "").strip()[:100]
    return f


EARLIEST_DAY = dt.date(1900, 1, 1)


def visible_queryset(user: User, member_ids: list[uuid.UUID]) -> QuerySet[Recording]:
    """Like ``Recording.objects.visible_to`` but without a join + DISTINCT, so the keyset index
    is usable: owner = me, or (for listeners) a standard recording of a listed team member."""
    live = Recording.objects.filter(deleted_at__isnull=True)
    if member_ids:
        return live.filter(Q(owner=user) | Q(kind=Kind.STANDARD, owner_id__in=member_ids))
    return live.filter(owner=user)


def apply_filters(qs: QuerySet[Recording], f: Filters, user: User) -> QuerySet[Recording]:
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.saved == "yes":
        qs = qs.filter(kind=Kind.PLAYBACK, saved=True)
    elif f.saved == "no":
        qs = qs.filter(kind=Kind.PLAYBACK, saved=False)
    if f.direction:
        qs = qs.filter(direction=f.direction)
    if f.person == "me":
        qs = qs.filter(owner=user)
    elif f.person:
        qs = qs.filter(owner_id=f.person)
    tz = timezone.get_current_timezone()
    # A day before any call, or the calendar's last day, bounds nothing (and as a time in UTC it
    # would fall outside what datetime can hold).
    if f.date_from and f.date_from > EARLIEST_DAY:
        qs = qs.filter(started_at__gte=dt.datetime.combine(f.date_from, dt.time.min, tzinfo=tz))
    if f.date_to and f.date_to < dt.date.max:
        end = dt.datetime.combine(f.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        qs = qs.filter(started_at__lt=end)
    if f.label:
        qs = qs.filter(Exists(Label.objects.filter(recording=OuterRef("pk"), name__iexact=f.label)))
    if f.q:
        digits = "".join(ch for ch in f.q if ch.isdigit())
        match = Exists(Label.objects.filter(recording=OuterRef("pk"), name__icontains=f.q)) | Exists(
            Comment.objects.filter(recording=OuterRef("pk"), text__icontains=f.q)
        )
        if len(digits) >= 3:
            # Numbers are stored in E.164; a national "06 1234" finds "+31 6 1234…" too.
            national = digits[1:] if digits.startswith("0") else digits
            match |= Q(remote_number__contains=digits) | Q(remote_number__contains=national)
        qs = qs.filter(match)
    return qs


def encode_cursor(recording: Recording) -> str:
    raw = f"{recording.started_at.isoformat()}|{recording.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, pk = raw.split("|")
        started = dt.datetime.fromisoformat(when)
        if started.tzinfo is None:
            return None
        return started, uuid.UUID(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def after_position(qs: QuerySet[Any], started_at: dt.datetime, pk: uuid.UUID) -> QuerySet[Any]:
    """Rows after ``(started_at, pk)`` in newest-first order, for keyset pages (portal and API).

    A row comparison ``(started_at, id) < (t, i)``: PostgreSQL answers it as one range of the
    ``(tenant, owner, -started_at, -id)`` index however deep the page is, where the equivalent
    ``started_at < t OR (started_at = t AND id < i)`` makes it filter row by row.
    """
    return qs.filter(TupleLessThan(Tuple(F("started_at"), F("id")), (started_at, pk)))  # type: ignore[arg-type]


def page(qs: QuerySet[Recording], cursor: str = "", size: int = PAGE_SIZE) -> tuple[list[Recording], str]:
    """One page after ``cursor`` and the cursor of the next page ("" when this is the last)."""
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        qs = after_position(qs, *position)
    rows = list(
        qs.order_by("-started_at", "-id").select_related("owner").prefetch_related("labels")[: size + 1]
    )
    more = len(rows) > size
    rows = rows[:size]
    return rows, encode_cursor(rows[-1]) if more and rows else ""


def contact_names(recordings: list[Recording]) -> dict[tuple[Any, str], str]:
    """(owner id, number) -> the name the owner gave that number in their contact rules."""
    from recordings import models as recording_models

    rule_model = getattr(recording_models, "ContactRule", None)
    if rule_model is None or not recordings:
        return {}
    owners = {r.owner_id for r in recordings if r.owner_id}
    numbers = {r.remote_number for r in recordings if r.remote_number}
    rules = rule_model.objects.filter(user_id__in=owners, number__in=numbers).exclude(name="")
    return {(r.user_id, r.number): r.name for r in rules}
