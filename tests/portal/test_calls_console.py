"""Manage → Calls: the tenant's calls with their state and reason, filtered, paged by position,
metadata only (a player link only where the admin may hear the recording), a logged CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from recordings import calls_console, manage_views
from recordings.models import Call
from tenants.audit import AuditEntry
from tenants.models import User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording

_ids = itertools.count(1)


def make_call(user: User, *, minutes_ago: int = 10, **fields: Any) -> Call:
    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    values: dict[str, Any] = {
        "pbx_call_id": f"c{next(_ids)}",
        "user": user,
        "tenant_id": user.tenant_id,
        "direction": "inbound",
        "leg": "mobile",
        "local_number": "+31201234567",
        "remote_number": "+31699999999",
        "started_at": started,
        "ended_at": started + dt.timedelta(seconds=75),
        "record": True,
        "announce": False,
        "state": Call.State.RECORDED,
    }
    values.update(fields)
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        return Call.objects.create(**values)


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    personas.admin.language = "en"
    personas.admin.save()
    client.force_login(personas.admin)
    return client


def _rows(response: Any) -> list[Any]:
    assert response.status_code == 200
    return list(response.context["rows"])


def test_states_reasons_and_no_other_party(admin: Client, personas: Personas) -> None:
    user = personas.users["always"]
    make_call(user, state=Call.State.FAILED, error_code="audio_missing", minutes_ago=3)
    make_call(user, state=Call.State.NOT_RECORDED, outcome="never", record=False, minutes_ago=2)
    make_call(user, state=Call.State.IN_PROGRESS, ended_at=None, minutes_ago=1)
    make_call(personas.charlie, pbx_call_id="theirs")
    response = admin.get(reverse("manage_calls"))
    rows = _rows(response)
    assert [r.call.state for r in rows] == ["in_progress", "not_recorded", "failed"]
    assert [r.reason for r in rows] == ["", "licence mode Never", "the phone system sent no audio"]
    page = response.content.decode()
    assert "+31699999999" not in page and "theirs" not in page
    assert "1:15" in page  # the duration


def test_a_player_link_only_where_the_admin_may_hear(admin: Client, personas: Personas) -> None:
    others = make_recording(personas.users["always"])
    own = make_recording(personas.admin, kind="standard")
    with tenant_scope(personas.tenant_a):
        for rec in (others, own):
            rec.call = make_call(rec.owner, pbx_call_id=f"r{rec.pk}")
            rec.save(update_fields=["call"])
    page = admin.get(reverse("manage_calls")).content.decode()
    assert reverse("player", args=[own.pk]) in page
    assert reverse("player", args=[others.pk]) not in page and "/audio" not in page


def test_filters_and_position_paging(
    admin: Client, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manage_views.calls_console, "CALLS_PAGE", 2)
    user, other = personas.users["always"], personas.users["never"]
    same_time = timezone.now() - dt.timedelta(minutes=30)
    made = [make_call(user, started_at=same_time) for _n in range(3)]  # ties on started_at
    made += [make_call(user, minutes_ago=m) for m in (5, 6)]
    make_call(other, direction="outbound")
    url = reverse("manage_calls")
    seen, response = [], admin.get(url, {"person": str(user.pk)})
    while True:
        seen += [r.call.pk for r in _rows(response)]
        older = response.context["older_url"]
        if not older:
            break
        assert f"person={user.pk}" in older
        response = admin.get(url + older)
    assert sorted(seen) == sorted(c.pk for c in made) and len(seen) == len(set(seen))
    assert [r.call.user_id for r in _rows(admin.get(url, {"direction": "outbound"}))] == [other.pk]
    typed = admin.get(url, {"person": other.pbx_id})  # typed: username, phone-system id or name
    assert [r.call.user_id for r in _rows(typed)] == [
        other.pk
    ] and other.picker_label in typed.content.decode()
    assert admin.get(url, {"person": personas.charlie.username}).context["form"].errors["person"]
    assert _rows(admin.get(url, {"since": "2999-01-01"})) == []
    bad = admin.get(url, {"state": "lost", "after": "nonsense~x"})
    assert bad.context["form"].errors and not bad.context["filtered"]


def test_csv_export_is_logged_and_holds_no_audio(admin: Client, personas: Personas) -> None:
    rec = make_recording(personas.users["always"])
    with tenant_scope(personas.tenant_a):
        rec.call = make_call(rec.owner, state=Call.State.FAILED, error_code="processing_failed")
        rec.save(update_fields=["call"])
    response = admin.post(reverse("manage_calls_export") + "?state=failed")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = response.content.decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 2 and rows[1][5] == "Failed" and rows[1][6] == "processing failed"
    assert str(rec.pk) not in body and "+31699999999" not in body
    entry = AuditEntry.objects.unscoped().filter(action="manage.calls.export").get()
    assert entry.detail == {"rows": 1, "filters": {"state": "failed"}}
    assert admin.get(reverse("manage_calls_export")).status_code == 405


def test_queries_do_not_grow_with_the_rows_and_labels_are_translated(
    client: Client, personas: Personas
) -> None:
    """A page of 2 calls and one of 12 (of several people, a recording the admin may hear among
    them) take the same queries; the state and direction read in the admin's language."""
    client.force_login(personas.admin)
    url = reverse("manage_calls")
    client.get(url)
    counts = []
    for n in (2, 10):
        for i in range(n):
            user = list(personas.users.values())[i % len(personas.users)]
            make_call(user, direction="outbound" if i % 2 else "inbound", minutes_ago=100 + i)
        own = make_recording(personas.admin, kind="standard")
        with tenant_scope(personas.tenant_a):
            own.call = make_call(personas.admin, pbx_call_id=f"own{n}")
            own.save(update_fields=["call"])
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        counts.append(len(queries))
    assert len(_rows(response)) == 14
    assert counts[0] == counts[1], counts
    page = response.content.decode()
    assert "Opgenomen" in page and "Inkomend" in page and "Uitgaand" in page  # Dutch first
    with translation.override("en"), tenant_scope(personas.tenant_a):
        rows = calls_console.rows_for([r.call for r in _rows(response)], personas.admin)
    assert {r.state for r in rows} == {"Recorded"} and {r.direction for r in rows} == {"Inbound", "Outbound"}
