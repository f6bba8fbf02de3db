"""A listener's list merged from per-owner pages equals the plain query, page by page.

``listing.keyset_rows`` with several owners builds each page from every owner's first rows (a
``LATERAL`` subquery on PostgreSQL, a ``UNION ALL`` elsewhere). Compared here with the plain
``ORDER BY … LIMIT`` of the same filtered queryset on mixed data: same rows, same order, same
pages, for every filter; on SQLite and (with the real services) on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recordings import listing
from recordings.models import Comment, Kind, Label, Recording
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for
from tests.base import Personas
from tests.factories import make_recording

PAGE = 4


@pytest.fixture
def mixed(personas: Personas) -> dict[str, Any]:
    """60 recordings of the listener, Sales members (one of them with Playback recordings too),
    and an outsider, in runs of one owner: kinds, saved, directions, equal start times (the id
    decides), deleted rows, labels and comments, over ten days."""
    p = personas
    rnd = random.Random(5)
    member_with_playback = p.playback["days_30"]
    p.sales.members.add(member_with_playback)
    owners = [p.listener, *p.users.values(), member_with_playback, p.outsider]
    base = timezone.now().replace(microsecond=0) - dt.timedelta(days=11)
    made, owner = [], p.listener
    for n in range(60):
        if rnd.random() < 0.4:  # runs of one owner: a page can come from one owner alone
            owner = rnd.choice(owners)
        kind = Kind.PLAYBACK if owner == member_with_playback and rnd.random() < 0.7 else Kind.STANDARD
        if owner == p.listener and rnd.random() < 0.3:
            kind = Kind.PLAYBACK
        when = base + dt.timedelta(hours=n // 3 * 4)  # runs of three equal start times
        rec = make_recording(
            owner,
            kind=kind,
            saved=rnd.random() < 0.5,
            started_at=when,
            direction=rnd.choice(["inbound", "outbound"]),
            remote_number=f"+316{rnd.randrange(10**7, 10**8)}",
            with_audio=False,
        )
        made.append(rec)
    with tenant_scope(p.tenant_a):
        for rec in made[::7]:
            Recording.objects.filter(pk=rec.pk).update(deleted_at=timezone.now())
        for rec in made[1::4]:
            Label.objects.create(tenant=p.tenant_a, recording=rec, name=rnd.choice(["Klant", "offerte"]))
        for rec in made[2::5]:
            Comment.objects.create(tenant=p.tenant_a, recording=rec, author=p.listener, text="bel terug")
    return {"personas": p, "made": made, "member": member_with_playback}


FILTERS: list[dict[str, str]] = [
    {},
    {"kind": "standard"},
    {"kind": "playback"},
    {"saved": "yes"},
    {"saved": "no"},
    {"direction": "inbound"},
    {"person": "me"},
    {"person": "MEMBER"},
    {"label": "klant"},
    {"q": "bel"},
    {"q": "offerte"},
    {"from": "DAY1", "to": "DAY2"},
    {"kind": "standard", "direction": "outbound", "q": "bel"},
]


def _params(raw: dict[str, str], mixed: dict[str, Any]) -> dict[str, str]:
    days = timezone.localdate() - dt.timedelta(days=8), timezone.localdate() - dt.timedelta(days=6)
    subst = {"MEMBER": str(mixed["member"].pk), "DAY1": days[0].isoformat(), "DAY2": days[1].isoformat()}
    return {k: subst.get(v, v) for k, v in raw.items()}


def _walk(qs: Any, owners: list[Any] | None) -> list[list[uuid.UUID]]:
    pages, position = [], None
    while True:
        rows = listing.keyset_rows(qs, limit=PAGE + 1, position=position, owners=owners)
        pages.append([r.pk for r in rows[:PAGE]])
        if len(rows) <= PAGE:
            return pages
        position = (rows[PAGE - 1].started_at, rows[PAGE - 1].pk)


@pytest.mark.parametrize("raw", FILTERS, ids=[str(f) or "none" for f in FILTERS])
def test_merged_pages_equal_the_plain_query(mixed: dict[str, Any], raw: dict[str, str]) -> None:
    p = mixed["personas"]
    user = p.listener
    with tenant_scope(p.tenant_a):
        members = listing.team_member_ids(user)
        assert len(members) >= 3
        f = listing.parse_filters(_params(raw, mixed), allowed_people=members)
        assert f.as_params() == _params(raw, mixed)  # every filter of the table is in effect
        qs = listing.apply_filters(listing.visible_queryset(user, members), f, user)
        plain = _walk(qs, owners=None)
        owners = listing.candidate_owners(user, members, f)
        merged = _walk(qs, owners=owners)
        # the reference: Python's own filter of the visible rows, newest first
        expected = list(qs.order_by("-started_at", "-id").values_list("pk", flat=True))
    assert merged == plain
    assert [pk for pg in merged for pk in pg] == expected
    if not raw:
        assert len(owners) > 2 and len(expected) > 2 * PAGE  # the merge and several pages ran


def test_every_owner_at_once_is_the_same_list_as_the_owner_sets(mixed: dict[str, Any]) -> None:
    """More owners than rows could need (someone with nothing, a deleted user's id): no change."""
    p = mixed["personas"]
    with tenant_scope(p.tenant_a):
        members = listing.team_member_ids(p.listener)
        qs = listing.visible_queryset(p.listener, members)
        owners = [*listing.candidate_owners(p.listener, members), p.admin.pk, uuid.uuid4()]
        assert _walk(qs, owners=owners) == _walk(qs, owners=None)


def test_portal_and_api_page_the_listener_list_alike(mixed: dict[str, Any]) -> None:
    """Both front ends go through the merge: the same ids in the same order, every page."""
    p = mixed["personas"]
    portal = Client()
    portal.force_login(p.listener)
    seen_portal, url = [], reverse("home")
    while url:
        response = portal.get(url)
        seen_portal += [r.pk for r in response.context["recordings"]]
        url = reverse("home") + response.context["next_url"] if response.context["next_url"] else ""
    api = client_for(p.listener)
    seen_api, cursor = [], None
    while True:
        body = api.get("/api/v1/recordings", {"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        seen_api += [uuid.UUID(r["id"]) for r in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    with tenant_scope(p.tenant_a):
        members = listing.team_member_ids(p.listener)
        expected = list(
            listing.visible_queryset(p.listener, members)
            .order_by("-started_at", "-id")
            .values_list("pk", flat=True)
        )
    assert seen_portal == expected == seen_api
    assert len(expected) > listing.PAGE_SIZE  # the portal's pagination ran
