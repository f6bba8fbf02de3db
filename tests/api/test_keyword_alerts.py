"""Keyword alerts in the app's API: the home list's `alert` filter (the portal's filter, through
the same listing and visibility), labels that say whether a keyword alert put them, and both in
the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from recordings import alerts, social
from recordings.models import Recording
from tenants.models import User
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for, make_recording
from tests.api.test_auth import assert_error
from tests.api.test_schema_and_docs import load_schema
from tests.base import Personas

pytestmark = pytest.mark.django_db


def _ids(user: User, **params: Any) -> set[str]:
    response = client_for(user).get("/api/v1/recordings", params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def alerted(personas: Personas) -> dict[str, Recording]:
    """A Sales member's recording a keyword alert labelled, one without, one a person labelled
    with the alert's word, and a Playback user's alerted recording."""
    p = personas
    alerts.add_alert(tenant=p.tenant_a, phrase="opzeggen", acting_user=p.admin)
    made = {
        "alerted": make_recording(p.users["always"], remote_number="+31611110001"),
        "quiet": make_recording(p.users["always"], remote_number="+31611110002"),
        "manual": make_recording(p.users["always"], remote_number="+31611110003"),
        "playback": make_recording(p.playback["days_30"], remote_number="+31611110004"),
    }
    with tenant_scope(p.tenant_a):
        assert alerts.apply_alerts(recording=made["alerted"], text="Ik wil mijn abonnement opzeggen.")
        assert alerts.apply_alerts(recording=made["playback"], text="opzeggen graag")
    social.add_label(recording=made["manual"], name="opzeggen", acting_user=p.users["always"])
    return made


def test_the_alert_filter_lists_alerted_recordings_the_user_may_hear(
    personas: Personas, alerted: dict[str, Recording]
) -> None:
    p, r = personas, {name: str(rec.pk) for name, rec in alerted.items()}
    owner = p.users["always"]
    assert _ids(owner, alert="true") == {r["alerted"]}  # not the one a person labelled by hand
    assert _ids(owner) == {r["alerted"], r["quiet"], r["manual"]}  # without the filter: all
    assert _ids(owner, alert="yes") == {r["alerted"]}  # the portal's value works too
    # The listener of Sales hears the member's standard recordings, not the Playback user's.
    assert _ids(p.listener, alert="true") == {r["alerted"]}
    assert _ids(p.playback["days_30"], alert="true") == {r["playback"]}
    # A colleague who may hear neither, and the other customer's admin, find nothing.
    assert _ids(p.users["on_demand"], alert="true") == set()
    assert _ids(p.charlie, alert="true") == set()
    # The filter combines with the others (one listing, one set of filters).
    assert _ids(owner, alert="true", q="+31611110002") == set()
    assert _ids(owner, alert="true", q="+31611110001") == {r["alerted"]}


def test_the_same_filter_as_the_home_list(personas: Personas, alerted: dict[str, Recording]) -> None:
    """The app and the portal's home list give the same recordings for the alert filter."""
    home = Client()
    home.force_login(personas.listener)
    page = home.get("/", {"alert": "yes"}).content.decode()
    api = _ids(personas.listener, alert="true")
    every = {str(rec.pk) for rec in alerted.values()}
    assert {pk for pk in every if pk in page} == api


@pytest.mark.parametrize("value", ["false", "0", "maybe", "2"])
def test_a_bad_alert_value_is_a_clear_400(personas: Personas, value: str) -> None:
    error = assert_error(
        client_for(personas.users["always"]).get("/api/v1/recordings", {"alert": value}), 400, "invalid"
    )
    assert set(error["fields"]) == {"alert"}
    if value in ("false", "0"):
        assert "leave `alert` out" in " ".join(error["fields"]["alert"])


def test_labels_say_whether_a_keyword_alert_put_them(
    personas: Personas, alerted: dict[str, Recording]
) -> None:
    owner = client_for(personas.users["always"])
    alerted_labels = owner.get(f"/api/v1/recordings/{alerted['alerted'].pk}/labels").json()
    assert [(label["name"], label["automatic"]) for label in alerted_labels] == [("opzeggen", True)]
    manual_labels = owner.get(f"/api/v1/recordings/{alerted['manual'].pk}/labels").json()
    assert [(label["name"], label["automatic"]) for label in manual_labels] == [("opzeggen", False)]
    added = owner.post(
        f"/api/v1/recordings/{alerted['quiet'].pk}/labels", {"name": "terugbellen"}, format="json"
    )
    assert added.status_code == 201 and added.json()["automatic"] is False
    # A client cannot make its label look automatic: the field is read-only.
    forged = owner.post(
        f"/api/v1/recordings/{alerted['quiet'].pk}/labels",
        {"name": "klacht", "automatic": True},
        format="json",
    )
    assert forged.status_code == 201 and forged.json()["automatic"] is False
    with tenant_scope(personas.tenant_a):
        assert not alerted["quiet"].labels.filter(automatic=True).exists()


def test_the_schema_documents_the_filter_and_the_automatic_labels(client: Client) -> None:
    schema = load_schema(client)
    listing = schema["paths"]["/api/v1/recordings"]["get"]
    [alert] = [param for param in listing["parameters"] if param["name"] == "alert"]
    assert alert["in"] == "query" and alert["schema"]["type"] == "boolean"
    assert "keyword alert" in alert["description"]
    assert "400" in listing["responses"]
    label = schema["components"]["schemas"]["Label"]
    assert label["properties"]["automatic"]["type"] == "boolean"
    assert label["properties"]["automatic"]["readOnly"] is True
    assert "keyword alert" in label["properties"]["automatic"]["description"]
    assert "automatic" in label["required"]
