"""Manage → People: search and filters, the columns, and a licence mode for several at once
(two steps, all or none)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants import services, views
from tenants.audit import AuditEntry
from tenants.models import Licence, User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    client.force_login(personas.admin)
    return client


def _names(admin: Client, **query: str) -> set[str]:
    response = admin.get(reverse("manage_users"), query)
    assert response.status_code == 200
    return {p.username for p in response.context["people"]}


def test_search_and_filters(admin: Client, personas: Personas) -> None:
    everyone = _names(admin)
    assert "charlie" not in everyone and personas.listener.username in everyone
    user = personas.users["always"]
    user.pbx_id, user.first_name = "4711", "Jan"
    user.save()
    assert _names(admin, q="4711") == {user.username}
    assert _names(admin, q="jan") >= {user.username}
    assert _names(admin, role="listener") == {personas.listener.username}
    assert _names(admin, product="licence:never") == {personas.users["never"].username}
    assert _names(admin, product="playback:days_30") == {personas.playback["days_30"].username}
    assert personas.no_product.username in _names(admin, product="none")
    sales = {p.username for p in personas.sales.members.all()}
    assert _names(admin, team=str(personas.sales.pk)) == sales
    services.set_user_active(user=personas.no_product, active=False, acting_user=personas.admin)
    assert _names(admin, active="0") == {personas.no_product.username}
    assert personas.no_product.username not in _names(admin, active="1")
    # another tenant's team or a made-up product: a form error, and no filter applied
    bad = admin.get(reverse("manage_users"), {"product": "licence:sometimes"})
    assert bad.context["filters"].errors and not bad.context["filtered"]
    assert {p.username for p in bad.context["people"]} == everyone


def test_columns_name_people_apart(admin: Client, personas: Personas) -> None:
    for user in (personas.users["always"], personas.users["never"]):
        user.first_name, user.last_name, user.pbx_id = "Jan", "Jansen", f"1{user.pk.int % 1000}"
        user.save()
    page = admin.get(reverse("manage_users")).content.decode()
    for user in (personas.users["always"], personas.users["never"]):
        assert f"Jan Jansen ({user.username})" in page and user.pbx_id in page
    assert personas.sales.name in page


def test_bulk_licence_mode_two_steps(admin: Client, personas: Personas) -> None:
    chosen = [personas.users["always"], personas.users["on_demand"]]
    make_recording(chosen[0])
    url = reverse("manage_users_bulk_licence")
    data = {"people": [str(u.pk) for u in chosen], "mode": "never"}
    step_one = admin.post(url, data)
    assert step_one.status_code == 200
    assert [p.person.pk for p in step_one.context["previews"]] == sorted(
        (u.pk for u in chosen), key=lambda pk: User.objects.get(pk=pk).picker_label.lower()
    )
    assert {p.person.pk: p.standard for p in step_one.context["previews"]}[chosen[0].pk] == 1
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=chosen[0]).mode == "always"  # nothing changed yet
    done = admin.post(url, {**data, "confirm": "1"})
    assert done.status_code == 302
    with tenant_scope(personas.tenant_a):
        assert {Licence.objects.get(user=u).mode for u in chosen} == {"never"}
    entries = AuditEntry.objects.unscoped().filter(action="manage.user.product").order_by("id")
    assert {e.target_id for e in entries} == {str(u.pk) for u in chosen}


def test_bulk_is_all_or_none_and_refuses_strangers(admin: Client, personas: Personas) -> None:
    url = reverse("manage_users_bulk_licence")
    playback = personas.playback["days_30"]  # licence mode for a Playback user replaces the product
    stranger = personas.charlie
    response = admin.post(url, {"people": [str(stranger.pk)], "mode": "never", "confirm": "1"})
    assert response.status_code == 302
    assert not Licence.objects.unscoped().filter(user=stranger).exists()
    bad_mode = admin.post(url, {"people": [str(playback.pk)], "mode": "sometimes", "confirm": "1"})
    assert bad_mode.status_code == 302
    with tenant_scope(personas.tenant_a):
        assert not Licence.objects.filter(user=playback).exists()


def _more_people(personas: Personas, n: int) -> None:
    """``n`` more people in the tenant, each with a licence and in two teams."""
    other = services.create_team(tenant=personas.tenant_a, name=f"Extra {n}")
    with tenant_scope(personas.tenant_a):
        for i in range(n):
            person = User.objects.create(
                tenant=personas.tenant_a, username=f"extra_{n}_{i}", first_name="Extra", last_name=str(i)
            )
            services.set_licence(user=person, mode="always")
            personas.sales.members.add(person)
            other.members.add(person)


def test_queries_do_not_grow_with_the_people_shown(admin: Client, personas: Personas) -> None:
    url = reverse("manage_users")
    admin.get(url)  # the session's first-request work out of the way
    counts = []
    for extra in (0, 12):
        if extra:
            _more_people(personas, extra)
        with CaptureQueriesContext(connection) as queries:
            response = admin.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
    shown = response.context["people"]
    assert len(shown) > 12
    assert counts[0] == counts[1], counts
    extra = next(p for p in shown if p.username == "extra_12_0")
    assert extra.team_names == ["Extra 12", "Sales"]  # by name
    assert "Extra 12, Sales" in response.content.decode()


def test_pages_by_username_keeping_filters(
    admin: Client, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = _names(admin)
    users = _names(admin, role="user")
    monkeypatch.setattr(views, "PEOPLE_PAGE", 3)
    url = reverse("manage_users")
    for query, expected in (({}, everyone), ({"role": "user"}, users)):
        seen: list[str] = []
        response = admin.get(url, query)
        assert response.context["first_url"] == ""
        assert "Volgende personen" in response.content.decode()  # Dutch first
        while True:
            assert response.status_code == 200
            names = [p.username for p in response.context["people"]]
            assert len(names) <= 3
            seen += names
            following = response.context["next_url"]
            if not following:
                break
            if query:
                assert "role=user" in following
            response = admin.get(url + following)
            assert response.context["first_url"]  # a way back to the start
            assert "Terug naar de eerste personen" in response.content.decode()
        assert seen == sorted(expected) and len(seen) == len(set(seen))
        first = admin.get(url + response.context["first_url"]) if response.context["first_url"] else response
        assert [p.username for p in first.context["people"]] == sorted(expected)[:3]
    # a malformed position is the first page, not an error
    for bad in ("\x00", "x" * 151):
        page = admin.get(url, {"after": bad})
        assert page.status_code == 200
        assert [p.username for p in page.context["people"]] == sorted(everyone)[:3]
    assert list(admin.get(url, {"after": "zzzz"}).context["people"]) == []
