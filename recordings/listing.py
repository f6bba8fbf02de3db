"""The home list: what a person may hear, newest first, filtered, keyset-paginated.

No COUNT(*) and no OFFSET: a page is "the next N rows after (started_at, id)", which an index on
``(tenant, owner, -started_at, -id)`` answers at any depth.

A listener's list spans several owners (``owner = me OR (standard AND owner IN members)``), which
no single index walks in order: the database would sort every member's recordings for each page.
:func:`keyset_rows` instead walks each owner's index range and merges the walks: the N+1 newest
of the owners' newest rows are the N+1 newest overall (on PostgreSQL in rounds that stop each
walk once it cannot change the page).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, StringAgg, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hiprecorder import jsonbody
from recordings.models import Comment, ContactRule, Direction, Kind, Label, Recording, team_member_ids_of
from recordings.transcripts import search as transcript_search
from tenants.models import Role, Team, User

PAGE_SIZE = 25


def team_member_ids(listener: User) -> list[uuid.UUID]:
    """The people whose standard recordings ``listener`` may hear (members of their teams)."""
    return team_member_ids_of(listener)


def team_members(listener: User) -> list[User]:
    """The team members as people, by username (the person filter's choices and most rows'
    owners), in one query; ``team_member_ids`` are their ids."""
    if listener.role != Role.LISTENER or listener.tenant_id is None:
        return []
    memberships = Team.members.through.objects.filter(team__listeners=listener).values("user_id")
    return list(User.objects.filter(tenant_id=listener.tenant_id, pk__in=memberships).order_by("username"))


@dataclass
class Filters:
    kind: str = ""
    saved: str = ""
    direction: str = ""
    person: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    label: str = ""
    alert: str = ""  # "yes": recordings with a keyword alert's automatic label
    q: str = ""
    errors: list[str] = field(default_factory=list)
    # Set by apply_filters: the search finds few recordings through indexes (labels, comments and
    # the transcripts' GIN index), so the page is those rows sorted, not per-owner index walks.
    few: bool = False

    def as_params(self) -> dict[str, str]:
        params = {
            "kind": self.kind,
            "saved": self.saved,
            "direction": self.direction,
            "person": self.person,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "label": self.label,
            "alert": self.alert,
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
    f.alert = "yes" if params.get("alert", "") == "yes" else ""
    f.q = params.get("q", "").strip()[:100]
    return f


EARLIEST_DAY = dt.date(1900, 1, 1)


def visible_queryset(user: User, member_ids: list[uuid.UUID]) -> QuerySet[Recording]:
    """``Recording.objects.visible_to`` with the team members the list page has read already."""
    return Recording.objects.visible_to(user, team_member_ids=member_ids)


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
        qs = qs.filter(owner_id=uuid.UUID(f.person))  # one of the allowed people's ids (above)
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
    if f.alert:
        qs = qs.filter(Exists(Label.objects.filter(recording=OuterRef("pk"), automatic=True)))
    if f.q:
        digits = "".join(ch for ch in f.q if ch.isdigit())
        match = Exists(Label.objects.filter(recording=OuterRef("pk"), name__icontains=f.q)) | Exists(
            Comment.objects.filter(recording=OuterRef("pk"), text__icontains=f.q)
        )
        if len(digits) >= 3:
            # Numbers are stored in E.164; a national "06 1234" finds "+31 6 1234…" too.
            national = digits[1:] if digits.startswith("0") else digits
            match |= Q(remote_number__contains=digits) | Q(remote_number__contains=national)
        said = transcript_search.matching(
            f.q, language=user.tenant.language if user.tenant else ""
        )  # what was said
        if said is not None and said.ids is not None and len(digits) < 3:
            # Every way to match is a set of recording ids found through an index: one IN of
            # their union, which PostgreSQL answers from those few rows (an OR of the same
            # made it test every visible recording). Labels and comments are few per tenant.
            found = (
                Label.objects.filter(name__icontains=f.q)
                .values("recording_id")
                .union(Comment.objects.filter(text__icontains=f.q).values("recording_id"), said.ids, all=True)
            )
            f.few = True
            return qs.filter(pk__in=found)
        if said is not None:
            match |= said.q
        qs = qs.filter(match)
    return qs


def encode_cursor(started_at: dt.datetime, pk: uuid.UUID) -> str:
    """The one cursor format of the portal and the API: an opaque position after a row,
    base64url of ``{"t": started_at, "i": id}``."""
    raw = json.dumps({"t": started_at.isoformat(), "i": str(pk)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID] | None:
    """The position in a cursor :func:`encode_cursor` made; None for anything else (the portal
    starts from the top, the API answers 400)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = jsonbody.loads(base64.urlsafe_b64decode(padded.encode("ascii")), max_depth=1)
        started = parse_datetime(data["t"])
        pk = uuid.UUID(data["i"])
        if started is None or started.tzinfo is None:
            return None
        started.astimezone(dt.UTC)  # 0001-01-01T00:00:00+23:59 has no UTC time: not a cursor of ours
    except (
        ValueError,
        TypeError,
        KeyError,
        OverflowError,
        UnicodeError,
        binascii.Error,
        jsonbody.JsonBodyError,
    ):
        return None
    return started, pk


def after_position(qs: QuerySet[Any], started_at: dt.datetime, pk: uuid.UUID) -> QuerySet[Any]:
    """Rows after ``(started_at, pk)`` in newest-first order, for keyset pages (portal and API).

    A row comparison ``(started_at, id) < (t, i)``: PostgreSQL answers it as one range of the
    ``(tenant, owner, -started_at, -id)`` index however deep the page is, where the equivalent
    ``started_at < t OR (started_at = t AND id < i)`` makes it filter row by row.
    """
    return qs.filter(TupleLessThan(Tuple(F("started_at"), F("id")), (started_at, pk)))


# Without LATERAL (SQLite) the merge is a UNION ALL of one part per owner; SQLite allows at most
# 500 parts in a compound, and many parts cost more to plan than the plain query to run.
UNION_MAX_OWNERS = 100


def candidate_owners(user: User, member_ids: list[uuid.UUID], f: Filters | None = None) -> list[Any] | None:
    """The owners whose recordings can be in ``user``'s list under ``f``: the user, and for a
    listener the team members (only their standard recordings are visible). Every visible row's
    owner is in the list, so merging per-owner pages loses nothing. None: no merge (a search that
    found few rows, ``f.few``: sorting them is quicker than walking each owner's index)."""
    f = f or Filters()
    if f.few:
        return None
    if f.person == "me":
        return [user.pk]
    if f.person:
        return [uuid.UUID(f.person)]
    if f.kind == Kind.PLAYBACK or f.saved:  # members' rows are standard recordings only
        return [user.pk]
    return [user.pk, *(m for m in member_ids if m != user.pk)]


def keyset_rows(
    qs: QuerySet[Any],
    *,
    limit: int,
    position: tuple[dt.datetime, uuid.UUID] | None = None,
    owners: list[Any] | None = None,
) -> list[Any]:
    """The first ``limit`` rows of ``qs`` newest first, after ``position`` (portal and API).

    ``owners``: every owner a row of ``qs`` can have (:func:`candidate_owners`). With more than one,
    the page is merged from per-owner walks — ``qs.filter(owner=o)`` in index order, all filters
    and the position applied inside — so each owner costs one short index range instead of the
    database sorting every owner's recordings. ``qs`` must only contain rows of those owners (a
    visible_queryset, filtered). PostgreSQL: :func:`_merged_ids`; elsewhere one ``UNION ALL``
    of every owner's first ``limit`` rows.
    """
    if position is not None:
        qs = after_position(qs, *position)
    qs = qs.order_by("-started_at", "-id")
    lateral = connections[qs.db].vendor == "postgresql"
    if owners is None or len(owners) < 2 or (not lateral and len(owners) > UNION_MAX_OWNERS):
        return list(qs[:limit])
    owner_ids = [owner if isinstance(owner, uuid.UUID) else uuid.UUID(str(owner)) for owner in owners]
    if lateral:
        return list(qs.filter(pk__in=_merged_ids(qs, limit=limit, owners=owner_ids)))
    merged, params = _union_sql(qs, limit=limit, owners=owner_ids)
    # The SQL is Django's own compilation of ``qs``; every value stays a parameter.
    return list(qs.filter(pk__in=RawSQL(merged, params)))  # noqa: S611


# Where an owner's walk starts when the page has no position: after every real row.
_FROM_THE_TOP = (dt.datetime(9999, 12, 31, tzinfo=dt.UTC), uuid.UUID(int=(1 << 128) - 1))


def _merged_ids(qs: QuerySet[Any], *, limit: int, owners: list[uuid.UUID]) -> list[uuid.UUID]:
    """PostgreSQL: the ids of the first ``limit`` rows of ``qs`` over the owners' walks, merged
    in rounds that read no further than the page needs.

    Each round is one statement: every owner still walking takes its next ``k`` rows after where
    it stopped (a ``LATERAL`` subquery over arrays of owners and their positions, planned once;
    a ``UNION ALL`` of 20 parts took longer to plan than to run). An owner that returns fewer
    than ``k`` has no more rows. Once ``limit`` rows are known, an owner walks on only if it
    stopped at a row newer than the ``limit``-th: its unseen rows are older than where it
    stopped, so the others cannot change the page. ``k`` starts at an even share of the page and
    doubles each round. The rows come out exactly as ``qs[:limit]`` would (tests compare every
    filter page by page). Reading each owner's first ``limit`` rows at once, as before, cost
    about as many rows as owners times the page; with a per-row search check (a common word in
    what was said) that was 21 × 26 checks for a listener's page, where the rounds need about
    two pages' worth (bench/bench_transcript_search.py).
    """
    marker = (
        uuid.uuid4(),
        dt.datetime(1901, 2, 3, 4, 5, 6, secrets.randbelow(10**6), tzinfo=dt.UTC),
        uuid.uuid4(),
    )
    part = after_position(qs.filter(owner_id=marker[0]), marker[1], marker[2]).values_list("id", "started_at")
    sql, part_params = part.query.sql_with_params()
    columns = ("owners.id", "owners.t", "owners.i")
    places: dict[int, str] = {}
    for n, value in enumerate(part_params):
        for column, mark in zip(columns, marker, strict=True):
            if value == mark or str(value).replace("-", "") == str(mark).replace("-", ""):
                places[n] = column
    if sorted(places.values()) != sorted(columns):  # cannot happen with random markers; never guess
        raise RuntimeError("The owner's and position's parameters are not found once in the per-owner query.")
    tokens = iter(range(len(part_params)))

    def column_or_param(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%%"
        return places.get(next(tokens), "%s")

    lateral = _PLACEHOLDER.sub(column_or_param, sql)
    rest = [value for n, value in enumerate(part_params) if n not in places]
    walking = dict.fromkeys(owners, _FROM_THE_TOP)
    known: list[tuple[dt.datetime, uuid.UUID]] = []
    k = -(-limit // len(owners)) + 1
    with _ordered_index_walks(qs.db) as cursor:
        while walking:
            cursor.execute(
                "SELECT owners.id, merged.started_at, merged.id "  # noqa: S608 (compiled by Django)
                "FROM unnest(%s::uuid[], %s::timestamptz[], %s::uuid[]) AS owners(id, t, i) "
                f"CROSS JOIN LATERAL ({lateral} LIMIT {int(k)}) AS merged",
                [list(walking), [t for t, _ in walking.values()], [i for _, i in walking.values()], *rest],
            )
            taken: dict[uuid.UUID, list[tuple[dt.datetime, uuid.UUID]]] = {owner: [] for owner in walking}
            for owner, started_at, pk in cursor.fetchall():
                taken[owner].append((started_at, pk))
            for owner, rows in taken.items():
                known.extend(rows)
                if len(rows) < k:
                    del walking[owner]
                else:
                    walking[owner] = min(rows)
            known.sort(reverse=True)
            if len(known) >= limit:
                last = known[limit - 1]
                walking = {owner: stop for owner, stop in walking.items() if stop > last}
            k *= 2
    return [pk for _started_at, pk in known[:limit]]


@contextmanager
def _ordered_index_walks(alias: str) -> Iterator[Any]:
    """A cursor whose statements PostgreSQL plans with bitmap scans off.

    Each owner's part must walk that owner's index range in order and stop after ``k`` rows.
    The planner underestimates how many rows a part finds: it multiplies the selectivity of the
    part's ``owner_id = owners.id`` by that of the visibility rule's own condition on the same
    column (``owner_id = ANY(team members)``), as if they were independent, and expects a few
    hundred rows where a listener's member has thousands. With that estimate a bitmap scan (every
    row of the owner after the position, then sorted) looks as cheap as the walk, and deep pages
    went that way: a listener of 20 members 100 pages deep took 350 ms instead of 2 ms at 1.5 M
    recordings (bench/bench_api.py). A bitmap scan cannot return rows in index order, so turning
    it off leaves the walk. ``SET LOCAL`` in a transaction of its own, or in a caller's
    transaction in a savepoint with the previous value restored before it is released, so
    nothing else is planned differently; an error rolls the setting back with the savepoint.
    """
    connection = connections[alias]
    inside = connection.in_atomic_block  # a caller's transaction goes on after this statement
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_bitmapscan'), set_config('enable_bitmapscan', 'off', true)"
        )
        (before, _off) = cursor.fetchone()
        yield cursor
        if inside:  # else the transaction ends here, and the setting with it
            cursor.execute("SELECT set_config('enable_bitmapscan', %s, true)", [before])


_PLACEHOLDER = re.compile(r"%%|%s")


def _union_sql(qs: QuerySet[Any], *, limit: int, owners: list[uuid.UUID]) -> tuple[str, list[Any]]:
    """``SELECT id`` of the first ``limit`` rows of ``qs`` (ordered) over the per-owner pages, as
    one ``UNION ALL`` of every owner's first ``limit`` rows (SQLite, which has no ``LATERAL``).

    The per-owner query is compiled once, with a marker value in the owner's parameter place,
    and repeated in the ``UNION ALL``, each owner's id in the marker's place.
    """
    marker = uuid.uuid4()
    part = qs.filter(owner_id=marker).values_list("id", "started_at")[:limit]
    sql, part_params = part.query.sql_with_params()
    places = [n for n, value in enumerate(part_params) if str(value).replace("-", "") == marker.hex]
    if len(places) != 1:  # cannot happen with a random marker; never guess
        raise RuntimeError("The owner's parameter is not found once in the per-owner query.")
    place = places[0]
    order = f"ORDER BY merged.started_at DESC, merged.id DESC LIMIT {int(limit)}"
    parts: list[str] = []
    params: list[Any] = []
    for n, owner_id in enumerate(owners):
        # A subquery per part: SQLite allows no ORDER BY/LIMIT directly inside a compound.
        parts.append(f"SELECT * FROM ({sql}) AS part{n}")  # noqa: S608 (compiled by Django)
        # The marker's value as the backend took it: a UUID object, or its hex (SQLite).
        value = owner_id if isinstance(part_params[place], uuid.UUID) else owner_id.hex
        params.extend((*part_params[:place], value, *part_params[place + 1 :]))
    union = " UNION ALL ".join(parts)
    return f"SELECT merged.id FROM ({union}) AS merged {order}", params  # noqa: S608 (compiled by Django)


# What a row of the list never shows, not loaded: the waveform and the segment maps are JSON
# (hundreds of numbers per recording for the peaks) decoded for nothing.
LIST_DEFERRED = ("peaks", "paused_spans", "segments", "muted_spans")


def page(
    qs: QuerySet[Recording],
    cursor: str = "",
    size: int = PAGE_SIZE,
    *,
    owners: list[Any] | None = None,
    viewer: User | None = None,
    people: list[User] | tuple[User, ...] = (),
) -> tuple[list[Recording], str]:
    """One page after ``cursor`` and the cursor of the next page ("" when this is the last).

    Each row gets ``party_name`` (:func:`with_party_names`, in the page's query),
    ``label_names`` (its labels' names, in the database's order of names; :func:`with_label_names`)
    and its owner (``viewer`` for their own rows, else from ``people`` when given, e.g. the team
    members): names in the page's query, owners known or in one query for the whole page
    (Django's prefetch built a queryset per row, which cost more than the page's query).
    """
    position = decode_cursor(cursor) if cursor else None
    qs = with_label_names(with_party_names(qs.defer(*LIST_DEFERRED)))
    rows = keyset_rows(qs, limit=size + 1, position=position, owners=owners)
    more = len(rows) > size
    rows = rows[:size]
    _split_label_names(rows, sort=not _orders_aggregates(qs))
    _attach_owners(rows, viewer, people)
    return rows, encode_cursor(rows[-1].started_at, rows[-1].pk) if more and rows else ""


# Between a row's label names in the page's query. No label contains it: ``social.clean_label``
# folds whitespace, and Python's str.split() counts the unit separator as whitespace.
LABEL_SEPARATOR = "\x1f"


def _orders_aggregates(qs: QuerySet[Any]) -> bool:
    return bool(connections[qs.db].features.supports_aggregate_order_by_clause)


def with_label_names(qs: QuerySet[Recording]) -> QuerySet[Recording]:
    """Each row's label names as ``label_list``, one string joined by :data:`LABEL_SEPARATOR`
    (a subquery on the label's recording index: one query less per page than reading them
    apart). Ordered by name in the aggregate where the database can (PostgreSQL; SQLite from
    3.44); elsewhere :func:`page` sorts them, as SQLite's binary collation would."""
    names = StringAgg(
        "name", Value(LABEL_SEPARATOR), order_by=("name", "id") if _orders_aggregates(qs) else None
    )
    per_row = Label.objects.filter(recording=OuterRef("pk")).order_by().values("recording")
    return qs.annotate(label_list=Subquery(per_row.annotate(names=names).values("names")))


def _split_label_names(rows: list[Recording], *, sort: bool) -> None:
    for row in rows:
        joined = row.label_list  # type: ignore[attr-defined]  # annotated by the list query
        names = joined.split(LABEL_SEPARATOR) if joined else []
        row.label_names = sorted(names) if sort else names  # type: ignore[attr-defined]  # for the row template


def _attach_owners(rows: list[Recording], viewer: User | None, known: Any = ()) -> None:
    people: dict[Any, User] = {person.pk: person for person in known}
    if viewer is not None:
        people[viewer.pk] = viewer
    missing = {row.owner_id for row in rows if row.owner_id is not None} - people.keys()
    if missing:
        people.update((person.pk, person) for person in User.objects.filter(pk__in=missing))
    for row in rows:
        if row.owner_id is not None:
            row.owner = people[row.owner_id]


def with_party_names(qs: QuerySet[Recording]) -> QuerySet[Recording]:
    """Each row's ``party_name``: the name its owner gave the other party's number in their
    contact rules, "" when none (a subquery on the rule's (user, number) index: one query less
    per page than :func:`contact_names`)."""
    names = ContactRule.objects.filter(user_id=OuterRef("owner_id"), number=OuterRef("remote_number"))
    first = names.exclude(name="").values("name")[:1]
    return qs.annotate(party_name=Coalesce(Subquery(first), Value("")))


def contact_names(recordings: list[Recording]) -> dict[tuple[Any, str], str]:
    """(owner id, number) -> the name the owner gave that number in their contact rules."""
    if not recordings:
        return {}
    owners = {r.owner_id for r in recordings if r.owner_id}
    numbers = {r.remote_number for r in recordings if r.remote_number}
    rules = ContactRule.objects.filter(user_id__in=owners, number__in=numbers).exclude(name="")
    return {
        (user_id, number): name for user_id, number, name in rules.values_list("user_id", "number", "name")
    }
