"""The home list's rows (the `row` partial of recordings/home.html): what each row says, in the person's
language and time zone, with every value from data escaped."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recordings import listing, rules, social
from recordings.models import Recording
from tests.base import Personas
from tests.factories import make_recording

SCRIPT = "<script>alert(1)</script>"


def _plain(row: str) -> str:
    """A row without the attributes the live list's merge and countdown read (tested in
    tests/recordings/test_live_lists.py): its id, sort key and expiry time."""
    return re.sub(r' id="rec-[^"]*" data-sort="[^"]*"| data-expires="[^"]*"', "", row)


def _rows(client: Client, **params: str) -> list[str]:
    html = client.get(reverse("home"), params).content.decode()
    return [_plain(row.split("</li>")[0]) for row in html.split('<li class="recording ')[1:]]


def _speak(user: object, language: str) -> None:
    user.language = language  # type: ignore[attr-defined]
    user.save(update_fields=["language"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("language", "winter", "summer"),
    [
        ("en", "03/05/2026 2:07 p.m.", "07/01/2026 2 p.m."),
        ("nl", "5-3-2026 14:07", "1-7-2026 14:00"),
    ],
)
def test_start_in_the_persons_language_and_time_zone(
    client: Client, personas: Personas, language: str, winter: str, summer: str
) -> None:
    user = personas.users["always"]
    _speak(user, language)
    make_recording(user, started_at=dt.datetime(2026, 3, 5, 13, 7, tzinfo=dt.UTC), with_audio=False)
    make_recording(user, started_at=dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC), with_audio=False)
    client.force_login(user)
    july, march = _rows(client)
    assert f'<time datetime="2026-03-05T14:07:00+01:00">{winter}</time>' in march  # Amsterdam, CET
    assert f'<time datetime="2026-07-01T14:00:00+02:00">{summer}</time>' in july  # CEST


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Unsaved playback", "Duration", "Inbound", "Outbound", "Keep", "Delete"]),
        ("nl", ["Niet-bewaarde playback", "Duur", "Inkomend", "Uitgaand", "Bewaren", "Verwijderen"]),
    ],
)
def test_a_row_in_each_language(client: Client, personas: Personas, language: str, words: list[str]) -> None:
    user = personas.playback["days_30"]
    _speak(user, language)
    now = timezone.now()
    rec = make_recording(user, started_at=now - dt.timedelta(minutes=1), seconds=75, with_audio=False)
    Recording.objects.unscoped().filter(pk=rec.pk).update(duration_ms=3_725_000)
    make_recording(user, started_at=now - dt.timedelta(minutes=2), direction="outbound", with_audio=False)
    client.force_login(user)
    first, second = _rows(client)
    unsaved, title, inbound, outbound, keep, delete = words
    assert first.startswith('colour-light_blue" data-swipe-keep>')
    assert f'<span class="visually-hidden">, {unsaved}</span>' in first
    assert f'<span class="kind-tag">{unsaved}</span>' in first
    assert f'<span class="duration" title="{title}">1:02:05</span>' in first
    assert f'<span class="direction direction-inbound">{inbound}</span>' in first
    assert f'<span class="direction direction-outbound">{outbound}</span>' in second
    player = reverse("player", args=[rec.pk])
    assert f'<a class="row-link" href="{player}">' in first
    assert f'<form method="post" action="{reverse("recording_keep", args=[rec.pk])}"' in first
    assert 'name="csrfmiddlewaretoken" value="' in first
    assert f'<input type="hidden" name="next" value="{player}">' in first
    assert f'{keep}<span class="visually-hidden"> +31612345678</span></button>' in first
    delete_url = reverse("recording_delete_confirm", args=[rec.pk])
    undo_url = reverse("recording_delete", args=[rec.pk])  # with JavaScript: deleted after an undo time
    assert (
        f'href="{delete_url}" data-undo-delete="{undo_url}">{delete}'
        '<span class="visually-hidden"> +31612345678</span></a>'
    ) in first


def test_the_keep_form_is_accepted(client: Client, personas: Personas) -> None:
    """The row's form (its CSRF token from the row builder) keeps the playback."""
    user = personas.playback["days_30"]
    rec = make_recording(user, with_audio=False)
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    (row,) = _rows(csrf_client)
    token = row.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = csrf_client.post(
        reverse("recording_keep", args=[rec.pk]), {"csrfmiddlewaretoken": token, "next": "/"}
    )
    assert response.status_code == 303
    rec.refresh_from_db()
    assert rec.saved


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("en", ["deleted in 5 hours", "deleted in 19 minutes", "deleted in 3 days", "deleted soon"]),
        (
            "nl",
            [
                "verwijderd over 5 uur",
                "verwijderd over 19 minuten",
                "verwijderd over 3 dagen",
                "wordt binnenkort verwijderd",
            ],
        ),
    ],
)
def test_unsaved_playbacks_say_when_they_are_deleted(
    client: Client, personas: Personas, language: str, texts: list[str]
) -> None:
    user = personas.playback["days_30"]
    _speak(user, language)
    now = timezone.now()
    lefts = [dt.timedelta(hours=5, minutes=30), dt.timedelta(minutes=20), dt.timedelta(days=3, hours=1)]
    lefts.append(-dt.timedelta(minutes=5))  # overdue: the sweep has not run yet
    for n, left in enumerate(lefts):
        rec = make_recording(user, started_at=now - dt.timedelta(minutes=n + 1), with_audio=False)
        Recording.objects.unscoped().filter(pk=rec.pk).update(expires_at=now + left)
    make_recording(user, saved=True, started_at=now - dt.timedelta(hours=1), with_audio=False)
    client.force_login(user)
    *unsaved, saved = _rows(client)
    for row, text in zip(unsaved, texts, strict=True):
        assert f'<span class="expiry">{text}</span>' in row
    assert 'class="expiry"' not in saved and "data-swipe-keep" not in saved
    assert saved.startswith('colour-dark_blue">')
    assert "keep-form" not in saved and "button danger" in saved  # a saved playback: delete only


def test_the_other_party_by_contact_rule_name_or_anonymous(client: Client, personas: Personas) -> None:
    user = personas.playback["days_30"]
    _speak(user, "nl")
    now = timezone.now()
    make_recording(
        user, remote_number="+31201112222", started_at=now - dt.timedelta(minutes=1), with_audio=False
    )
    make_recording(
        user, remote_number="anonymous", started_at=now - dt.timedelta(minutes=2), with_audio=False
    )
    make_recording(
        user, remote_number="+31203334444", started_at=now - dt.timedelta(minutes=3), with_audio=False
    )
    rules.add_rule(
        user=user, list_type="whitelist", number="+31201112222", name="Bakkerij & Zn <b>", acting_user=user
    )
    # another person's name for the number is theirs, not this user's
    rules.add_rule(user=personas.listener, list_type="blacklist", number="+31203334444", name="Kapper")
    client.force_login(user)
    named, anonymous, plain = _rows(client)
    assert '<span class="party">Bakkerij &amp; Zn &lt;b&gt;</span>' in named
    assert '<span class="visually-hidden"> Bakkerij &amp; Zn &lt;b&gt;</span>' in named  # Keep, Delete
    assert "<b>" not in named
    assert '<span class="party">Anoniem</span>' in anonymous
    assert '<span class="party">+31203334444</span>' in plain


def test_labels_and_names_are_escaped(client: Client, personas: Personas) -> None:
    member = personas.users["always"]  # in the team the listener listens to
    member.first_name, member.last_name = "<i>Ann</i>", "O'Neil & Co"
    member.save(update_fields=["first_name", "last_name"])
    rec = make_recording(member, with_audio=False)
    for name in (SCRIPT, "klant"):
        social.add_label(recording=rec, name=name, acting_user=member)
    client.force_login(personas.listener)
    page = client.get(reverse("home")).content.decode()
    assert SCRIPT not in page and "<i>Ann" not in page
    (row,) = _rows(client)
    escaped = htmllib.escape(SCRIPT)
    assert f'<span class="chip">{escaped}</span><span class="chip">klant</span>' in row
    assert '<span class="owner">&lt;i&gt;Ann&lt;/i&gt; O&#x27;Neil &amp; Co</span>' in row
    assert "keep-form" not in row and "row-actions" not in row  # a team member's: no actions


def test_the_next_page_rows_are_built_the_same_way(client: Client, personas: Personas) -> None:
    user = personas.playback["days_30"]
    now = timezone.now()
    for n in range(27):
        make_recording(user, started_at=now - dt.timedelta(minutes=n), with_audio=False)
    client.force_login(user)
    first = client.get(reverse("home"))
    more = client.get(reverse("home") + first.context["next_url"], headers={"HX-Request": "true"})
    rows = [_plain(row.split("</li>")[0]) for row in more.content.decode().split('<li class="recording ')[1:]]
    assert len(rows) == 2
    for row in rows:
        assert row.startswith('colour-light_blue" data-swipe-keep>')
        assert '<span class="expiry">deleted in 2 days</span>' in row or "verwijderd over 2 dagen" in row
        assert 'name="csrfmiddlewaretoken" value="' in row


def test_a_label_never_holds_the_separator_of_the_lists_label_names() -> None:
    """The page reads a row's label names as one string joined by listing.LABEL_SEPARATOR."""
    assert social.clean_label(f"Offerte{listing.LABEL_SEPARATOR}klant") == "Offerte klant"


def test_many_labels_in_order_on_each_row(client: Client, personas: Personas) -> None:
    user = personas.users["always"]
    now = timezone.now()
    first = make_recording(user, started_at=now - dt.timedelta(minutes=1), with_audio=False)
    second = make_recording(user, started_at=now - dt.timedelta(minutes=2), with_audio=False)
    for name in ("zeta", "Beta", "alpha", "Émile"):
        social.add_label(recording=first, name=name, acting_user=user)
    social.add_label(recording=second, name="Offerte", acting_user=user)
    client.force_login(user)
    one, two, *_ = _rows(client)
    chips = "".join(f'<span class="chip">{name}</span>' for name in ("Beta", "alpha", "zeta", "Émile"))
    assert chips in one  # by name, as the database orders them (binary: capitals first)
    assert '<span class="tags">' in two and two.count('class="chip"') == 1 and ">Offerte<" in two
