"""Strict input in the portal (issue 13): dates and positions that Python cannot turn into a time
or a number are a form error on the page, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.base import Personas


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    client.force_login(personas.admin)
    client.post(reverse("manage_settings"), {"retention_days": "31", "language": "en"})  # one entry
    return client


@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize("day", ["0001-01-01", "1999-12-31", "9999-12-31"])
def test_audit_dates_out_of_range_are_a_form_error(admin: Client, field: str, day: str) -> None:
    response = admin.get(reverse("manage_audit"), {field: day})
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors
    assert not response.context["filtered"]  # no half-applied filter
    assert "manage.settings.update" in response.content.decode()


def test_audit_dates_in_range_filter(admin: Client) -> None:
    response = admin.get(reverse("manage_audit"), {"since": "2000-01-01", "until": "2999-12-31"})
    assert response.status_code == 200 and response.context["filtered"]
    assert "manage.settings.update" in response.content.decode()


@pytest.mark.parametrize("before", ["²", "١٢", "9" * 40, "-1", "1\n"])
def test_audit_position_that_is_not_ascii_digits_is_ignored(admin: Client, before: str) -> None:
    response = admin.get(reverse("manage_audit"), {"before": before})
    assert response.status_code == 200
    assert "manage.settings.update" in response.content.decode()
