"""Every page as every persona, in Dutch and in English: no localised number where a machine reads
one, no English on a Dutch page and no Dutch on an English one (see tests/portal/pagewalk.py).

The pages are the isolation matrix's GET rows (so a new URL is walked here as soon as it has its
row there), plus the pages outside it a person meets: log-in, the friendly 403 and 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from recordings.models import Recording
from tenants.models import ProcessingRegister, User
from tenants.scoping import tenant_scope
from tests import test_isolation
from tests.base import PASSWORD, login
from tests.factories import make_recording
from tests.portal import pagewalk
from tests.test_isolation import PEOPLE, ROWS, World, _client

LANGUAGES = ("nl", "en")
world = test_isolation.world  # the isolation matrix's objects, as a fixture here too
PAGES = sorted(
    name
    for name, row in ROWS.items()
    if row.method == "GET" and row.auth in {"session", "none"} and not row.stream  # (not audio)
)


def _in_language(world: World, language: str) -> None:
    """Everyone's own language set to ``language`` (the portal shows a person's choice first)."""
    User.objects.filter(pk__in=[u.pk for u in world.people.values()]).update(language=language)


def _pages(world: World, language: str) -> list[tuple[str, str, Any]]:
    """(page, persona, response) for every page each persona may open, as HTML."""
    _in_language(world, language)
    seen = []
    for name in PAGES:
        row = ROWS[name]
        url = reverse(name, kwargs={k: world.ids[v] for k, v in row.kwargs})
        for who in PEOPLE:
            if row.expected()[who] != 200:
                continue
            client, headers = _client(world, row, who)
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
            response = client.get(url, row.data or {}, headers=headers)
            if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
                seen.append((name, who, response))
    # Outside the matrix: the log-in page, a page that does not exist, staff in the portal.
    anonymous = Client()
    anonymous.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    seen.append(("account_login", "anonymous", anonymous.get(reverse("account_login"))))
    seen.append(("404", "anonymous", anonymous.get("/no/such/page/")))
    for name in ("account_reset_password", "account_signup", "account_inactive"):
        seen.append((name, "anonymous", anonymous.get(reverse(name))))
    staff = Client()
    staff.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    staff.force_login(world.p.support)
    seen.append(("403", "support", staff.get(reverse("home"))))
    # allauth's pages of a signed-in person (the admin has an authenticator app, the user none)
    for who, names in (
        ("a_user", ("account_logout", "account_change_password", "mfa_index")),
        ("a_admin", ("mfa_index", "account_email")),
    ):
        person = Client()
        person.force_login(world.people[who])
        seen += [(name, who, person.get(reverse(name))) for name in names]
    return seen


@pytest.fixture
def paused_world(world: World) -> World:
    """The user's recording has a waveform and two pause markers at fractional positions."""
    rec = make_recording(world.p.users["always"], seconds=7, paused_at=3, remote_number="+31611112223")
    with tenant_scope(world.p.tenant_a):
        Recording.objects.filter(pk=rec.pk).update(
            segments=[[0, 2900, 0], [2900, 4100, 2873], [4100, 7000, 4411]]
        )
    world.ids["recording_id"] = rec.pk
    return world


@pytest.mark.parametrize("language", [*LANGUAGES, "en-thousands"])
def test_no_localised_number_in_an_attribute(paused_world: World, language: str, settings: Any) -> None:
    """(With thousand separators on, English writes 12,345: integers in attributes show too.)"""
    if language == "en-thousands":
        settings.USE_THOUSAND_SEPARATOR = True
        language = "en"
    pages = _pages(paused_world, language)
    names = {name for name, _who, _r in pages}
    assert {"home", "player", "manage_users", "account_login", "mfa_index"} <= names
    outside = [(name, r.status_code) for name, _who, r in pages if name.startswith(("account", "mfa"))]
    assert all(status == 200 for _name, status in outside), outside
    player = next(r for name, who, r in pages if name == "player").content.decode()
    assert 'class="pause-marker"' in player and "<rect x=" in player  # the geometry is there
    found = {(name, who): pagewalk.localised_numbers(r.content.decode()) for name, who, r in pages}
    assert not {k: v for k, v in found.items() if v}
    # (and no inline style either: the Content-Security-Policy refuses them, htmx panels included)
    styles = {(name, who): pagewalk.inline_styles(r.content.decode()) for name, who, r in pages}
    assert not {k: v for k, v in styles.items() if v}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_is_in_one_language(paused_world: World, language: str) -> None:
    pages = _pages(paused_world, language)
    found = {(name, who): pagewalk.foreign_text(r.content.decode(), language) for name, who, r in pages}
    assert not {k: v for k, v in found.items() if v}


def test_the_readers_see_what_they_must() -> None:
    """The readers themselves: a localised number and a foreign text are found."""
    assert pagewalk.localised_numbers('<svg><rect x="1" width="0,2051"></rect></svg>') == [
        ("rect", "width", "0,2051")
    ]
    assert pagewalk.localised_numbers('<div data-at="12,5" data-name="a,b">') == [("div", "data-at", "12,5")]
    assert not pagewalk.localised_numbers('<p title="1,5 MB">1,5 MB</p><rect width="0.2051">')
    assert pagewalk.inline_styles('<p style="color: red">x</p><style>p {}</style>') == [
        "<p style='color: red'>",
        "<style style=''>",
    ]
    assert pagewalk.foreign_text("<p>Recordings</p>", "nl") == ["Recordings"]
    assert pagewalk.foreign_text("<p>Opnamen</p>", "en") == ["Opnamen"]
    assert not pagewalk.foreign_text("<p>Opnamen</p>", "nl")
    assert not pagewalk.foreign_text("<p>Recordings</p>", "en")
    # a third-party message with a placeholder, shown in English on a Dutch page
    assert pagewalk.foreign_text("<li>Successfully signed in as alice.</li>", "nl")


def test_our_catalogue_has_no_empty_or_fuzzy_translation() -> None:
    entries = pagewalk._po_entries(pagewalk.our_po())
    missing = [msgid for msgid, msgstr, fuzzy in entries if not msgstr or fuzzy]
    assert not missing


@pytest.mark.parametrize("language", LANGUAGES)
def test_signed_in_message_is_in_the_persons_language(personas: Any, language: str) -> None:
    """The browser asks for the other language; the message after log-in is in the person's."""
    user = personas.users["always"]
    User.objects.filter(pk=user.pk).update(language=language)
    other = "en" if language == "nl" else "nl"
    client = Client(headers={"accept-language": other})
    assert login(client, user.username, PASSWORD).status_code == 302
    body = client.get(reverse("home")).content.decode()
    expected = "Je bent nu ingelogd als" if language == "nl" else "Successfully signed in as"
    assert expected in body
    assert not pagewalk.foreign_text(body, language)


@pytest.mark.parametrize(
    ("language", "standard", "foreign"),
    [
        ("nl", "Bellers (klanten, leveranciers", "Callers (customers"),
        ("en", "Callers (customers, suppliers", "Bellers (klanten"),
    ],
)
def test_the_register_standard_texts_are_in_the_readers_language(
    personas: Any, language: str, standard: str, foreign: str
) -> None:
    """The register's standard paragraphs (categories of people, sub-processors) follow the
    reader's language; a text the admin typed is shown as typed."""
    admin = personas.admin
    User.objects.filter(pk=admin.pk).update(language=language)
    client = Client()
    client.force_login(admin)
    for name in ("privacy:register_document", "privacy:register_markdown"):
        body = client.get(reverse(name)).content.decode()
        assert standard in body and foreign not in body, name
        assert "Object" in body and ("Objectopslag" in body) == (language == "nl"), name
    staff_policy = client.get(reverse("privacy:staff_policy")).content.decode()
    assert not pagewalk.foreign_text(staff_policy, language)
    with tenant_scope(personas.tenant_a):
        ProcessingRegister.objects.update(sub_processors="SeaweedFS in Delft")
    body = client.get(reverse("privacy:register_document")).content.decode()
    assert "SeaweedFS in Delft" in body and "Firebase" not in body


@pytest.mark.parametrize(("language", "other", "name"), [("nl", "en", "English"), ("en", "nl", "Nederlands")])
def test_the_language_switch_names_the_language_in_itself(
    personas: Any, language: str, other: str, name: str
) -> None:
    user = personas.users["always"]
    User.objects.filter(pk=user.pk).update(language=language)
    client = Client()
    client.force_login(user)
    body = client.get(reverse("home")).content.decode()
    button = f'name="language" value="{other}" class="link" lang="{other}">{name}</button>'
    assert button in body
    assert "Engels" not in body and ">Dutch<" not in body
