"""Dutch and English: the tenant's language is the default, a person can switch."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from tests.base import Personas
from tests.portal.conftest import PO


def test_tenant_language_is_the_default(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)  # Acme: Dutch
    html = client.get(reverse("home"), headers={"Accept-Language": "en"}).content.decode()
    assert '<html lang="nl">' in html and "Opnamen" in html and "Beheer" in html
    other = Client()
    other.force_login(personas.charlie)  # Globex: English
    html = other.get(reverse("home"), headers={"Accept-Language": "nl"}).content.decode()
    assert '<html lang="en">' in html and "<h1>Recordings</h1>" in html


def test_a_person_switches_and_it_sticks(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    response = client.post(reverse("switch_language"), {"language": "en", "next": reverse("manage_users")})
    assert response.status_code == 302 and response["Location"] == reverse("manage_users")
    personas.admin.refresh_from_db()
    assert personas.admin.language == "en"
    fresh = Client()  # another browser of the same person
    fresh.force_login(personas.admin)
    assert "<h1>Recordings</h1>" in fresh.get(reverse("home")).content.decode()
    # an unknown language or a foreign redirect target changes nothing and goes home
    response = client.post(reverse("switch_language"), {"language": "xx", "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")
    personas.admin.refresh_from_db()
    assert personas.admin.language == "en"


def test_anonymous_visitors_switch_with_a_cookie(client: Client, db: None) -> None:
    client.post(reverse("switch_language"), {"language": "en", "next": "/accounts/login/"})
    assert '<html lang="en">' in client.get("/accounts/login/").content.decode()
    client.post(reverse("switch_language"), {"language": "nl", "next": "/accounts/login/"})
    assert '<html lang="nl">' in client.get("/accounts/login/").content.decode()


def test_the_dutch_catalogue_is_complete() -> None:
    text = PO.read_text()
    entries = text.split("\n\n")[1:]
    assert entries
    untranslated = []
    for entry in entries:
        if "#, fuzzy" in entry:
            untranslated.append(entry)
            continue
        for match in re.finditer(r'^msgstr(?:\[\d\])? (".*")$', entry, re.M):
            if match.group(1) == '""' and not re.search(r'^msgstr.*\n"', entry[match.start() :], re.M):
                untranslated.append(entry)
    assert not untranslated, untranslated[:3]
