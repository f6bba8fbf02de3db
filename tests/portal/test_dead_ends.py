"""No dead ends: no sign-up link, friendly 403/404/500 pages with a way back, staff sent to the
admin, a favicon, and the messages list as a plain list in a status region."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views.defaults import server_error

from tests.base import Personas, login
from tests.portal import pagewalk


def _client(language: str) -> Client:
    client = Client()
    client.cookies["django_language"] = language
    return client


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_log_in_page_offers_no_sign_up(db: None, language: str) -> None:
    body = _client(language).get(reverse("account_login")).content.decode()
    assert 'name="login"' in body and 'name="password"' in body
    assert reverse("account_signup") not in body
    assert "sign up" not in body.lower() and "registreer" not in body.lower()


@pytest.mark.parametrize(
    ("language", "text"), [("nl", "Deze pagina bestaat niet"), ("en", "This page does not exist")]
)
def test_404_is_in_the_layout_with_a_way_back(db: None, language: str, text: str) -> None:
    response = _client(language).get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert text in body
    assert 'class="topbar"' in body and 'href="/"' in body and 'class="button"' in body
    assert not pagewalk.foreign_text(body, language)


def test_another_tenants_recording_gives_the_friendly_404(personas: Personas) -> None:
    from tests.factories import make_recording

    rec = make_recording(personas.users["always"])
    client = Client()
    client.force_login(personas.charlie)
    response = client.get(reverse("player", args=[rec.pk]))
    assert response.status_code == 404
    assert "This page does not exist" in response.content.decode()  # Globex speaks English


def test_staff_in_the_portal_are_sent_to_the_admin(personas: Personas) -> None:
    client = Client()
    client.force_login(personas.support)
    response = client.get(reverse("home"))
    assert response.status_code == 403
    body = response.content.decode()
    assert f'href="{reverse("admin:index")}"' in body
    assert "Support staff work in the admin" in body
    assert "403 Forbidden" not in body


def test_a_wrong_role_gets_a_way_back_not_the_admin(personas: Personas) -> None:
    client = Client()
    client.force_login(personas.listener)
    response = client.get(reverse("manage_users"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "U kunt deze pagina niet openen" in body  # Acme speaks Dutch
    assert 'href="/"' in body and reverse("admin:index") not in body


@pytest.mark.parametrize(("language", "text"), [("nl", "Er ging iets mis"), ("en", "Something went wrong")])
def test_500_renders_without_a_request_context(db: None, language: str, text: str) -> None:
    """Django renders 500.html with a bare Context (no user, no csrf_token): it must not need one."""
    with translation.override(language):
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    body = response.content.decode()
    assert text in body and 'href="/"' in body and f'lang="{language}"' in body
    assert "/static/css/app.css" in body


def test_there_is_a_favicon(db: None) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an icon file
    assert finders.find("favicon.svg")
    page = Client().get(reverse("account_login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in page


def test_messages_are_a_plain_list_in_a_status_region(personas: Personas) -> None:
    client = Client()
    assert login(client, personas.users["always"].username).status_code == 302
    body = client.get(reverse("home")).content.decode()
    assert '<div class="messages" role="status"><ul><li class="success">' in body
    assert '<ul class="messages" role="status">' not in body


EXPIRED = [("nl", "De pagina is verlopen"), ("en", "The page has expired")]


@pytest.mark.parametrize(("language", "text"), EXPIRED)
def test_a_form_without_its_csrf_token_gets_a_way_back(db: None, language: str, text: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies["django_language"] = language
    response = client.post(reverse("switch_language"), {"language": "en"})
    assert response.status_code == 403
    body = response.content.decode()
    assert text in body and 'class="topbar"' in body and 'href="/"' in body
    assert not pagewalk.foreign_text(body, language)
