"""The console's filter forms: an empty one is rendered once per process and language
(tenants.templatetags.console) and must read exactly as a fresh rendering; a filled-in one, or a
form whose choices come from the database, is rendered every time."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from recordings.calls_console import CallFilterForm
from tenants.forms import AuditFilterForm, PeopleFilterForm
from tenants.models import Team, User
from tenants.scoping import tenant_scope
from tenants.templatetags.console import filter_fields
from tests.base import Personas

FORM = re.compile(r'<form method="get".*?</form>', re.S)


@pytest.mark.parametrize("form_class", [CallFilterForm, AuditFilterForm])
def test_an_empty_filter_form_reads_as_a_fresh_one(form_class: type, personas: Personas) -> None:
    with tenant_scope(personas.tenant_a):
        for language in ("nl", "en", "nl"):
            with translation.override(language):
                once = str(filter_fields(form_class(None, people=User.objects.all())))
                fresh = str(form_class(None, people=User.objects.all()).as_div())
                assert once == fresh
                assert ("Van" if language == "nl" else "From") in once
        filled = form_class({"since": "2026-01-02"}, people=User.objects.all())
        assert filled.is_valid()
        assert 'value="2026-01-02"' in str(filter_fields(filled))


def test_a_form_with_choices_from_the_database_is_rendered_each_time(personas: Personas) -> None:
    with tenant_scope(personas.tenant_a):
        before = str(filter_fields(PeopleFilterForm(None, teams=Team.objects.order_by("name"))))
        Team.objects.create(tenant=personas.tenant_a, name="Nieuw team")
        after = str(filter_fields(PeopleFilterForm(None, teams=Team.objects.order_by("name"))))
    assert "Nieuw team" not in before and "Nieuw team" in after


@pytest.mark.parametrize(("name", "position"), [("manage_calls", "after"), ("manage_audit", "before")])
def test_a_deeper_page_shows_the_empty_form_of_the_first(
    client: Client, personas: Personas, name: str, position: str
) -> None:
    client.force_login(personas.admin)
    url = reverse(name)
    first = client.get(url).content.decode()
    deeper = client.get(url, {position: "1"})
    assert deeper.status_code == 200 and not deeper.context["form"].is_bound
    forms_shown = [FORM.search(page) for page in (first, deeper.content.decode())]
    assert forms_shown[0] and forms_shown[1] and forms_shown[0][0] == forms_shown[1][0]
    filtered = client.get(url, {position: "1", "since": "2026-01-02"})
    assert filtered.context["form"].is_bound and 'value="2026-01-02"' in filtered.content.decode()
