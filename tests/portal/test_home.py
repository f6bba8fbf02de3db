"""The home list: colours, who sees what, filters, search, keyset pagination."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recordings import social
from recordings.models import Recording
from tests.base import Personas
from tests.factories import make_recording


def _ids(response: object) -> list[str]:
    return [str(r.pk) for r in response.context["recordings"]]  # type: ignore[attr-defined]


@pytest.fixture
def recs(personas: Personas) -> dict[str, Recording]:
    now = timezone.now()
    p = personas
    return {
        "unsaved": make_recording(p.playback["days_30"], started_at=now - dt.timedelta(hours=1)),
        "saved": make_recording(p.playback["days_30"], saved=True, started_at=now - dt.timedelta(hours=2)),
        "std_own": make_recording(p.users["always"], started_at=now - dt.timedelta(hours=3)),
        "std_team": make_recording(p.users["on_demand"], started_at=now - dt.timedelta(hours=4)),
        "std_outside": make_recording(p.outsider, started_at=now - dt.timedelta(hours=5)),
        "listener_own": make_recording(p.listener, kind="standard", started_at=now - dt.timedelta(hours=6)),
        "other_tenant": make_recording(p.charlie, kind="standard", started_at=now - dt.timedelta(hours=1)),
    }


def test_playback_user_sees_own_playbacks_in_blue_newest_first(
    client: Client, personas: Personas, recs: dict[str, Recording]
) -> None:
    client.force_login(personas.playback["days_30"])
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert _ids(response) == [str(recs["unsaved"].pk), str(recs["saved"].pk)]
    html = response.content.decode()
    assert "colour-light_blue" in html and "colour-dark_blue" in html
    assert "colour-teal" not in html
    assert "deleted in 2 days" in html or "verwijderd over 2 dagen" in html


def test_listener_sees_own_and_team_members_standard_recordings(
    client: Client, personas: Personas, recs: dict[str, Recording]
) -> None:
    client.force_login(personas.listener)
    response = client.get(reverse("home"))
    assert set(_ids(response)) == {str(recs[k].pk) for k in ("std_own", "std_team", "listener_own")}
    assert "colour-teal" in response.content.decode()
    only = client.get(reverse("home"), {"person": str(personas.users["on_demand"].pk)})
    assert _ids(only) == [str(recs["std_team"].pk)]
    # a person outside the listener's teams is not a valid filter: it is ignored, not obeyed
    outside = client.get(reverse("home"), {"person": str(personas.outsider.pk)})
    assert str(recs["std_outside"].pk) not in _ids(outside)


def test_user_sees_only_own(client: Client, personas: Personas, recs: dict[str, Recording]) -> None:
    client.force_login(personas.users["always"])
    assert _ids(client.get(reverse("home"))) == [str(recs["std_own"].pk)]


def test_other_tenant_sees_nothing_of_a(
    client: Client, personas: Personas, recs: dict[str, Recording]
) -> None:
    client.force_login(personas.charlie)
    assert _ids(client.get(reverse("home"))) == [str(recs["other_tenant"].pk)]


def test_deleted_recordings_are_not_listed(
    client: Client, personas: Personas, recs: dict[str, Recording]
) -> None:
    Recording.objects.unscoped().filter(pk=recs["saved"].pk).update(deleted_at=timezone.now())
    client.force_login(personas.playback["days_30"])
    assert _ids(client.get(reverse("home"))) == [str(recs["unsaved"].pk)]


def test_filters(client: Client, personas: Personas, recs: dict[str, Recording]) -> None:
    pb = personas.playback["days_30"]
    client.force_login(pb)
    assert _ids(client.get(reverse("home"), {"saved": "yes"})) == [str(recs["saved"].pk)]
    assert _ids(client.get(reverse("home"), {"saved": "no"})) == [str(recs["unsaved"].pk)]
    assert _ids(client.get(reverse("home"), {"direction": "outbound"})) == []
    assert len(_ids(client.get(reverse("home"), {"direction": "inbound"}))) == 2
    today = timezone.localdate()
    assert len(_ids(client.get(reverse("home"), {"from": today.isoformat(), "to": today.isoformat()}))) <= 2
    assert _ids(client.get(reverse("home"), {"to": (today - dt.timedelta(days=2)).isoformat()})) == []
    social.add_label(recording=recs["saved"], name="Offerte", acting_user=pb)
    assert _ids(client.get(reverse("home"), {"label": "offerte"})) == [str(recs["saved"].pk)]
    # malformed values are ignored rather than failing
    assert len(_ids(client.get(reverse("home"), {"from": "yesterday", "kind": "x", "saved": "maybe"}))) == 2


def test_search_numbers_labels_comments(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_30"]
    a = make_recording(pb, remote_number="+31611112222")
    b = make_recording(pb, remote_number="+31204445555")
    c = make_recording(pb, remote_number="+31207778888")
    social.add_label(recording=b, name="Klacht", acting_user=pb)
    social.add_comment(recording=c, text="Belt terug over de factuur", acting_user=pb)
    client.force_login(pb)
    assert _ids(client.get(reverse("home"), {"q": "06 1111"})) == [str(a.pk)]
    assert _ids(client.get(reverse("home"), {"q": "+3120444"})) == [str(b.pk)]
    assert _ids(client.get(reverse("home"), {"q": "klacht"})) == [str(b.pk)]
    assert _ids(client.get(reverse("home"), {"q": "FACTUUR"})) == [str(c.pk)]
    assert _ids(client.get(reverse("home"), {"q": "nothing like this"})) == []


def test_keyset_pagination_walks_every_row_once(client: Client, personas: Personas) -> None:
    pb = personas.playback["days_90"]
    base = timezone.now() - dt.timedelta(days=1)
    made = [
        make_recording(pb, started_at=base - dt.timedelta(minutes=i), with_audio=False) for i in range(30)
    ]
    # two rows with the same start time: the id breaks the tie
    made.append(make_recording(pb, started_at=base - dt.timedelta(minutes=5), with_audio=False))
    client.force_login(pb)
    first = client.get(reverse("home"))
    seen = _ids(first)
    assert len(seen) == 25
    next_url = first.context["next_url"]
    assert next_url
    second = client.get(reverse("home") + next_url, headers={"HX-Request": "true"})
    assert second.status_code == 200
    assert "<h1>" not in second.content.decode()  # a partial: just more rows
    seen += _ids(second)
    assert second.context["next_url"] == ""
    assert sorted(seen) == sorted(str(r.pk) for r in made)
    assert len(seen) == len(set(seen))
    expected = sorted(made, key=lambda r: (r.started_at, r.pk), reverse=True)
    assert seen == [str(r.pk) for r in expected]


def test_bad_cursor_starts_from_the_top(
    client: Client, personas: Personas, recs: dict[str, Recording]
) -> None:
    client.force_login(personas.playback["days_30"])
    assert len(_ids(client.get(reverse("home"), {"after": "!!garbage"}))) == 2


def test_htmx_filter_returns_the_results_partial(
    client: Client, personas: Personas, recs: dict[str, Recording]
) -> None:
    client.force_login(personas.playback["days_30"])
    response = client.get(
        reverse("home"), {"saved": "yes"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    html = response.content.decode()
    assert html.strip().startswith('<section id="results"')
    assert "<html" not in html


def test_each_row_names_its_colour_in_words(
    client: Client, personas: Personas, recs: dict[str, Recording]
) -> None:
    """The colour mark is not the only cue: each row says its kind (also to screen readers)."""
    client.force_login(personas.playback["days_30"])
    html = client.get(reverse("home")).content.decode()
    assert ('<span class="kind-tag">Unsaved playback</span>' in html) or (
        '<span class="kind-tag">Niet-bewaarde playback</span>' in html
    )
    assert ("Saved playback" in html) or ("Bewaarde playback" in html)
    row = html[html.index('class="row-link"') :]
    assert row.startswith(f'class="row-link" href="{reverse("player", args=[recs["unsaved"].pk])}"')


def test_next_page_and_results_partials_make_no_form_queries(
    client: Client, personas: Personas, django_assert_max_num_queries: object
) -> None:
    """The filter form's people, suggestions and kinds are the full page's: a next-page fetch
    runs the session, the page (with the contact names) and its labels, nothing more."""
    user = personas.listener
    now = timezone.now()
    for n in range(30):
        make_recording(user, kind="standard", started_at=now - dt.timedelta(minutes=n), with_audio=False)
    client.force_login(user)
    first = client.get(reverse("home"))
    nxt = first.context["next_url"]
    assert nxt
    with django_assert_max_num_queries(6) as captured:  # type: ignore[operator]
        more = client.get(reverse("home") + nxt, headers={"HX-Request": "true"})
    assert more.status_code == 200
    sql = " ".join(q["sql"] for q in captured.captured_queries)  # type: ignore[attr-defined]
    assert "recordings_label" in sql  # the rows' labels
    assert 'FROM "tenants_playbacksubscription"' not in sql  # the form's "kind" select
    rules = [q["sql"] for q in captured.captured_queries if "recordings_contactrule" in q["sql"]]  # type: ignore[attr-defined]
    assert len(rules) == 1 and 'FROM "recordings_recording"' in rules[0]  # the page's query
    assert '"recordings_label"."created_by_id" =' not in sql  # the label suggestions
    # the session's user and the team members (the rows' owners; also the person filter's choices)
    assert sql.count('FROM "tenants_user"') == 2


def test_rows_show_labels_and_for_listeners_the_owner_without_a_query_per_row(
    client: Client, personas: Personas, django_assert_max_num_queries: object
) -> None:
    member = personas.users["always"]
    now = timezone.now()
    made = [
        make_recording(member, started_at=now - dt.timedelta(minutes=n), with_audio=False) for n in range(12)
    ]
    for rec in made:
        for name in ("Offerte", "klant"):
            social.add_label(recording=rec, name=name, acting_user=member)
    mine = make_recording(
        personas.listener, kind="standard", started_at=now + dt.timedelta(minutes=1), with_audio=False
    )
    client.force_login(personas.listener)
    with django_assert_max_num_queries(14):  # type: ignore[operator]
        html = client.get(reverse("home")).content.decode()
    rows = html.split('<li class="recording ')[1:]
    assert len(rows) == 13
    first, *others = rows  # the listener's own (newest): no owner shown
    assert 'class="owner"' not in first and str(mine.pk) in first
    for row in others:
        assert f'<span class="owner">{member}</span>' in row
        assert '<span class="chip">Offerte</span><span class="chip">klant</span>' in row  # by name
