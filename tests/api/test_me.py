"""``PATCH /api/v1/me``: the signed-in user's language, through the portal switch's service."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tenants import services
from tests.api.helpers import client_for
from tests.api.test_auth import assert_error
from tests.base import Personas


def test_the_user_changes_their_language(personas: Personas) -> None:
    user = personas.users["always"]  # Acme: Dutch
    client = client_for(user)
    response = client.patch("/api/v1/me", {"language": "en"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["language"] == "en"
    assert response.json()["effective_language"] == "en"
    user.refresh_from_db()
    assert user.language == "en"
    assert client.get("/api/v1/me").json()["effective_language"] == "en"
    # The portal shows the same choice.
    portal = Client()
    portal.force_login(user)
    assert '<html lang="en">' in portal.get(reverse("home")).content.decode()
    # Empty: the customer's language again.
    body = client.patch("/api/v1/me", {"language": ""}, format="json").json()
    assert (body["language"], body["effective_language"]) == ("", "nl")


@pytest.mark.parametrize("body", [{"language": "de"}, {"language": "EN"}, {"language": None}, {}])
def test_an_unknown_language_is_a_field_error_and_changes_nothing(personas: Personas, body: Any) -> None:
    user = personas.users["always"]
    response = client_for(user).patch("/api/v1/me", body, format="json")
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["language"]
    user.refresh_from_db()
    assert user.language == ""


def test_changing_the_language_needs_a_token(personas: Personas) -> None:
    assert_error(APIClient().patch("/api/v1/me", {"language": "en"}, format="json"), 401, "not_authenticated")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer hipapp_0000_nope")
    assert_error(client.patch("/api/v1/me", {"language": "en"}, format="json"), 401, "authentication_failed")


def test_only_the_person_chooses_their_language(personas: Personas) -> None:
    with pytest.raises(ValidationError):
        services.set_user_language(user=personas.listener, language="en", acting_user=personas.admin)
    with pytest.raises(ValidationError) as refused:
        services.set_user_language(user=personas.listener, language="fr", acting_user=personas.listener)
    assert "language" in refused.value.message_dict
    personas.listener.refresh_from_db()
    assert personas.listener.language == ""


def test_the_portal_switch_and_the_app_use_the_same_service(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = services.set_user_language

    def spy(**kwargs: Any) -> Any:
        calls.append((kwargs["user"].username, kwargs["language"]))
        return real(**kwargs)

    monkeypatch.setattr(services, "set_user_language", spy)
    portal = Client()
    portal.force_login(personas.listener)
    portal.post(reverse("switch_language"), {"language": "en", "next": reverse("home")})
    client_for(personas.users["always"]).patch("/api/v1/me", {"language": "en"}, format="json")
    assert calls == [("lisa", "en"), ("user_always", "en")]
