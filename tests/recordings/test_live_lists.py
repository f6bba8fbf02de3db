"""The live lists' list version: every kind of change a person's lists show makes their next poll
answer 200 (with the change), and a poll that finds nothing new answers 304 from the version alone.

Each change goes through the service that makes it (the phone system's HTTP API and the worker's
task for new calls), and is checked for everyone who sees it through ``visible_to``: the owner,
and for standard recordings the listener of the owner's team.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recordings import lifecycle, review, social, tasks
from recordings.capture import calls as capture_calls
from recordings.capture import mark_failed
from recordings.models import Recording, hearers_of
from tenants import services
from tenants.models import Role, Team, User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.recordings.rpi_support import Pbx, wav_bytes

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
TARGET = {"home": "results", "review": "review-list"}


class Poller:
    """A page of ``view`` open in a browser as ``user``: it polls with the tag it holds."""

    def __init__(self, user: User, view: str = "home") -> None:
        self.client = Client()
        self.client.force_login(user)
        self.view = view
        first = self.client.get(reverse(view))
        assert first.status_code == 200
        self.tag = first["ETag"]

    def poll(self) -> int:
        response = self.client.get(
            reverse(self.view), headers={**HX, "HX-Target": TARGET[self.view], "If-None-Match": self.tag}
        )
        if response.status_code == 200:
            self.tag = response["ETag"]
            self.html = response.content.decode()
        return response.status_code

    def moved(self) -> bool:
        """The next poll brings a new list, and the one after is 304 again."""
        status = self.poll()
        return status == 200 and self.poll() == 304


@pytest.fixture
def deferred_processing(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The processing task is noted, not sent: the test runs it when it wants (a worker later)."""
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        capture_calls, "dispatch_processing", lambda *, tenant_id, call_id: sent.append((tenant_id, call_id))
    )
    return sent


def _call(pbx: Pbx, user: User, number: str) -> str:
    started = pbx.start(user.pbx_id, remote_number=number)
    assert started.status_code == 201, started.content
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + dt.timedelta(seconds=3))
    assert pbx.audio(call_id, wav_bytes(3.0)).status_code == 201
    return call_id


def test_nothing_new_is_304_and_reads_only_the_list_version(personas: Personas) -> None:
    pb = personas.playback["days_30"]
    make_recording(pb)
    for view in ("home", "review"):
        page = Poller(pb, view)
        with CaptureQueriesContext(connection) as queries:
            assert page.poll() == 304
        touched = " ".join(q["sql"] for q in queries.captured_queries)
        assert "tenants_listversion" in touched
        assert "recordings_" not in touched  # no list read, nothing rendered


def test_a_new_call_moves_the_lists_when_processing_and_when_ready(
    pbx: Pbx, personas: Personas, deferred_processing: list[tuple[str, str]]
) -> None:
    owner, listener, outsider = personas.users["always"], personas.listener, personas.outsider
    pages = {"owner": Poller(owner), "listener": Poller(listener), "outsider": Poller(outsider)}
    _call(pbx, owner, "+31611110001")
    assert pages["owner"].moved() and "data-processing" in pages["owner"].html  # "Processing" row
    assert pages["listener"].poll() == 304  # a processing row is its person's only
    [(tenant_id, call_id)] = deferred_processing
    assert tasks.process_call.apply(args=[tenant_id, call_id]).get() == "recorded"
    for who in ("owner", "listener"):
        assert pages[who].moved(), who
        assert "+31611110001" in pages[who].html and "data-processing" not in pages[who].html
    assert pages["outsider"].poll() == 304  # not in the team: not theirs to see


def test_a_playback_ready_joins_the_review_list(
    pbx: Pbx, personas: Personas, deferred_processing: list[tuple[str, str]]
) -> None:
    pb = personas.playback["days_30"]
    review_page, home = Poller(pb, "review"), Poller(pb)
    _call(pbx, pb, "+31611110002")
    assert review_page.moved() and home.moved()
    [(tenant_id, call_id)] = deferred_processing
    assert tasks.process_call.apply(args=[tenant_id, call_id]).get() == "recorded"
    assert review_page.moved() and "+31611110002" in review_page.html
    assert home.moved() and 'id="nav-review"' in home.html


def test_a_failed_call_leaves_the_processing_rows(
    pbx: Pbx, personas: Personas, deferred_processing: list[tuple[str, str]]
) -> None:
    owner = personas.users["always"]
    _call(pbx, owner, "+31611110003")
    page = Poller(owner)
    assert "data-processing" in page.client.get(reverse("home")).content.decode()
    [(tenant_id, call_id)] = deferred_processing
    mark_failed(tenant_id=tenant_id, call_id=call_id, error_code="test")
    assert page.moved() and "data-processing" not in page.html


def test_keep_and_delete_move_the_owners_lists(personas: Personas) -> None:
    pb = personas.playback["days_30"]
    first, second = make_recording(pb, remote_number="+31611110004"), make_recording(pb)
    review_page, home, other = Poller(pb, "review"), Poller(pb), Poller(personas.playback["days_90"])
    lifecycle.keep_recording(recording=first, acting_user=pb)
    assert review_page.moved() and "+31611110004" not in review_page.html
    assert home.moved()
    lifecycle.delete_recording(recording=second, acting_user=pb)
    assert review_page.moved() and home.moved()
    lifecycle.delete_recording(recording=first, acting_user=pb)  # a kept one: the home list only
    assert home.moved()
    assert other.poll() == 304


def test_a_label_moves_the_lists_of_everyone_who_sees_the_row(personas: Personas) -> None:
    owner, listener = personas.users["always"], personas.listener
    recording = make_recording(owner)
    mine, theirs = Poller(owner), Poller(listener)
    label = social.add_label(recording=recording, name="Offerte", acting_user=listener)
    assert mine.moved() and theirs.moved() and "Offerte" in theirs.html
    social.remove_label(label=label, acting_user=owner)
    assert mine.moved() and theirs.moved() and "Offerte" not in theirs.html


def test_the_expiry_sweep_moves_the_lists_of_what_it_deletes(personas: Personas) -> None:
    owner, listener, pb = personas.users["always"], personas.listener, personas.playback["days_30"]
    past = timezone.now() - dt.timedelta(minutes=1)
    standard = make_recording(owner, remote_number="+31611110005")
    unanswered = make_recording(pb, remote_number="+31611110006")
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk__in=[standard.pk, unanswered.pk]).update(expires_at=past)
    pages = {
        "owner": Poller(owner),
        "listener": Poller(listener),
        "pb": Poller(pb),
        "pb_review": Poller(pb, "review"),
    }
    untouched = Poller(personas.playback["days_90"])
    result = lifecycle.sweep_expired()
    assert result.rows == 2
    for who, page in pages.items():
        assert page.moved(), who
    assert "+31611110005" not in pages["listener"].html and "+31611110006" not in pages["pb"].html
    assert untouched.poll() == 304


def test_team_and_role_changes_move_the_listeners_lists(personas: Personas) -> None:
    listener, outsider = personas.listener, personas.outsider
    make_recording(outsider, remote_number="+31611110007")
    page = Poller(listener)
    assert "+31611110007" not in page.client.get(reverse("home")).content.decode()
    with tenant_scope(personas.tenant_a):
        sales = Team.objects.get(name="Sales")
        members = [*sales.members.all(), outsider]
    services.update_team(
        team=sales, name="Sales", members=members, listeners=[listener], acting_user=personas.admin
    )
    assert page.moved() and "+31611110007" in page.html
    services.update_user(user=listener, role=Role.USER, acting_user=personas.admin)
    assert page.moved() and "+31611110007" not in page.html
    services.update_user(user=listener, role=Role.LISTENER, acting_user=personas.admin)
    assert page.moved() and "+31611110007" in page.html
    services.delete_team(team=sales, acting_user=personas.admin)
    assert page.moved() and "+31611110007" not in page.html


def test_a_closing_decision_window_ends_the_tag(personas: Personas) -> None:
    pb = personas.playback["days_30"]
    recording = make_recording(pb)
    page = Poller(pb, "review")
    assert recording.expires_at is not None
    with tenant_scope(personas.tenant_a):
        assert review.still_current(page.tag, pb, "review")
        assert not review.still_current(page.tag, pb, "review", now=recording.expires_at)


@pytest.mark.parametrize(
    "bad", ["", '"stale"', "*", '"1.2"', '"x.0.abc"', '"1.-5.abc"', '"' + "9" * 400 + '"', "W/", ",,,"]
)
def test_a_malformed_tag_gets_the_list(personas: Personas, bad: str) -> None:
    pb = personas.playback["days_30"]
    make_recording(pb, remote_number="+31611110008")
    client = Client()
    client.force_login(pb)
    response = client.get(reverse("review"), headers={**HX, "If-None-Match": bad})
    assert response.status_code == 200 and "+31611110008" in response.content.decode()


def test_the_tag_is_bound_to_the_view_filters_and_language(personas: Personas) -> None:
    pb = personas.playback["days_30"]
    client = Client()
    client.force_login(pb)
    tag = client.get(reverse("review"))["ETag"]
    home_poll = {**HX, "HX-Target": "results", "If-None-Match": tag}
    assert client.get(reverse("home"), headers=home_poll).status_code == 200  # another view's tag
    home_tag = client.get(reverse("home"), {"direction": "inbound"})["ETag"]
    poll = {**home_poll, "If-None-Match": home_tag}
    assert client.get(reverse("home") + "?direction=inbound", headers=poll).status_code == 304
    assert client.get(reverse("home"), headers=poll).status_code == 200  # other filters
    weak_list = {**poll, "If-None-Match": f'"old", W/{home_tag}'}
    assert client.get(reverse("home") + "?direction=inbound", headers=weak_list).status_code == 304


def test_hearers_of_names_everyone_who_sees_a_recording(personas: Personas) -> None:
    """``hearers_of`` is ``visible_to`` read backwards: for every recording and every person of
    the tenant, seeing it through ``visible_to`` means being named by ``hearers_of``."""
    people = list(User.objects.filter(tenant=personas.tenant_a))
    for person in people:
        make_recording(person, remote_number="+31611110009")
    with tenant_scope(personas.tenant_a):
        everything = list(Recording.objects.all())
        seen: dict[Any, set[Any]] = {r.pk: set() for r in everything}
        for person in people:
            for pk in Recording.objects.visible_to(person).values_list("pk", flat=True):
                seen[pk].add(person.pk)
        for recording in everything:
            named = hearers_of([(recording.owner_id, recording.kind)])
            assert seen[recording.pk] <= named, recording
            assert named <= {p.pk for p in people}
