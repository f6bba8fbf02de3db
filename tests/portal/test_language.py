"""Dutch and English: the tenant's language is the default, a person can switch."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings
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


def _untranslated(text: str) -> list[str]:
    """The entries of a .po text that are fuzzy or have an empty msgstr (header skipped)."""
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
                break
    return untranslated


def test_the_dutch_catalogue_is_complete() -> None:
    untranslated = _untranslated(PO.read_text())
    assert not untranslated, untranslated[:3]


# What makemessages must not read (as in the header of django.po), plus what a copy does not need.
_NOT_SOURCES = {".git", ".venv", "node_modules", "static", "staticfiles", "var", "bench", "tests", "docs"}


def test_every_source_string_has_a_dutch_translation(tmp_path: Path) -> None:
    """makemessages, run on a copy of the project, finds no string without Dutch: a string added
    to the code or a template but not to django.po (or made fuzzy by an edit) fails here."""
    base = Path(settings.BASE_DIR)
    copy = tmp_path / "project"
    shutil.copytree(
        base,
        copy,
        ignore=lambda folder, names: [
            n
            for n in names
            if (Path(folder) == base and n in _NOT_SOURCES) or n == "__pycache__" or n.endswith(".mo")
        ],
    )
    ignores = [f"--ignore={name}" for name in sorted(_NOT_SOURCES)]
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "nl",
            "-e",
            "html,txt,py,md",
            "--no-obsolete",
            *ignores,
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    untranslated = _untranslated((copy / PO.relative_to(base)).read_text())
    assert not untranslated, f"{len(untranslated)} strings without Dutch, e.g. {untranslated[:3]}"
