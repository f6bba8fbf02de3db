"""Strict input on the API (issue 13, finding 6): JSON depth and size bounded before parsing,
cursors that do not overflow, numbers judged as sent, and a PATCH racing a DELETE of the same rule."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from recordings import rules
from recordings.listing import encode_cursor
from recordings.models import ContactRule
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for, make_recording
from tests.api.test_auth import assert_error
from tests.base import Personas


def _rules(personas: Personas) -> list[ContactRule]:
    with tenant_scope(personas.tenant_a):
        return list(ContactRule.objects.all())


# --- JSON depth and size -----------------------------------------------------------------------


@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"":', "}")])
def test_json_nested_50000_deep_is_400_malformed(personas: Personas, opener: str, closer: str) -> None:
    client = client_for(personas.playback["days_30"])
    raw = opener * 50_000 + "1" + closer * 50_000
    response = client.post("/api/v1/rules", data=raw, content_type="application/json")
    error = assert_error(response, 400, "malformed_json")
    assert "deeper" in error["message"]
    assert _rules(personas) == []


def test_json_inside_the_depth_limit_is_parsed(personas: Personas) -> None:
    client = client_for(personas.playback["days_30"])
    body = {"list_type": "blacklist", "number": "+31201111111", "note": "[" * 100 + "{" * 100}
    response = client.post("/api/v1/rules", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content  # brackets inside a string are not depth


def test_a_body_over_the_limit_is_413(personas: Personas, settings: Any) -> None:
    settings.JSON_MAX_BODY_BYTES = 2048
    client = client_for(personas.playback["days_30"])
    body = {"list_type": "blacklist", "number": "+31201111111", "padding": "x" * 4096}
    response = client.post("/api/v1/rules", data=json.dumps(body), content_type="application/json")
    assert_error(response, 413, "body_too_large")
    assert _rules(personas) == []


@pytest.mark.parametrize("raw", ["NaN", '{"number": Infinity}', "{"])
def test_not_json_is_400_malformed(personas: Personas, raw: str) -> None:
    client = client_for(personas.playback["days_30"])
    response = client.post("/api/v1/rules", data=raw, content_type="application/json")
    assert_error(response, 400, "malformed_json")


# --- cursors -----------------------------------------------------------------------------------


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 50_000 + "]" * 50_000,
        json.dumps({"t": "0001-01-01T00:00:00+23:59", "i": "6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2f1e"}),
        json.dumps({"t": {"t": "x"}, "i": "6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2f1e"}),
    ],
)
def test_a_forged_cursor_is_400(personas: Personas, raw: str) -> None:
    client = client_for(personas.users["always"])
    response = client.get("/api/v1/recordings", {"cursor": _cursor(raw)})
    assert_error(response, 400, "invalid")


def test_a_portal_cursor_out_of_range_starts_from_the_top(client: Client, personas: Personas) -> None:
    owner = personas.playback["days_30"]
    made = make_recording(owner)
    client.force_login(owner)
    forged = {"t": "0001-01-01T00:00:00+23:59", "i": "6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2f1e"}
    cursor = _cursor(json.dumps(forged))
    response = client.get(reverse("home"), {"after": cursor})
    assert response.status_code == 200
    assert [r.pk for r in response.context["recordings"]] == [made.pk]  # from the top


def test_the_portal_and_the_api_share_one_cursor_format(client: Client, personas: Personas) -> None:
    """A cursor the API hands out pages the portal's list at the same place, and back."""
    owner = personas.playback["days_30"]
    made = [make_recording(owner) for _ in range(3)]
    newest_first = sorted(made, key=lambda r: (r.started_at, r.pk), reverse=True)
    api_page = client_for(owner).get("/api/v1/recordings", {"limit": 1})
    assert api_page.status_code == 200
    api_cursor = api_page.json()["next_cursor"]
    client.force_login(owner)
    portal = client.get(reverse("home"), {"after": api_cursor})
    assert [r.pk for r in portal.context["recordings"]] == [r.pk for r in newest_first[1:]]
    portal_cursor = encode_cursor(newest_first[0].started_at, newest_first[0].pk)
    api_next = client_for(owner).get("/api/v1/recordings", {"cursor": portal_cursor})
    assert [row["id"] for row in api_next.json()["results"]] == [str(r.pk) for r in newest_first[1:]]


# --- numbers as sent ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["+31201111111\n", "0201111111\t", "+31201111111 ext. 5", "020 CALL NOW"])
def test_a_rule_number_with_anything_but_a_number_is_400(personas: Personas, number: str) -> None:
    client = client_for(personas.playback["days_30"])
    made = client.post("/api/v1/rules", {"list_type": "blacklist", "number": number}, format="json")
    error = assert_error(made, 400, "invalid")
    assert "number" in error["fields"]
    assert _rules(personas) == []


# --- a PATCH racing a DELETE of the same rule ----------------------------------------------------


def _rule(personas: Personas) -> ContactRule:
    return rules.add_rule(user=personas.playback["days_30"], list_type="blacklist", number="+31201111111")


def test_patch_of_a_rule_deleted_after_the_lookup_is_404_and_does_not_bring_it_back(
    personas: Personas,
) -> None:
    """Deterministic on any database: the DELETE lands between the service's lookup and its write."""
    rule = _rule(personas)
    client = client_for(personas.playback["days_30"])
    real_lookup = rules._locked_rule

    def lookup_then_deleted(pk: Any) -> ContactRule | None:
        found = real_lookup(pk)
        ContactRule.objects.filter(pk=pk).delete()  # the racing DELETE
        return found

    with mock.patch.object(rules, "_locked_rule", side_effect=lookup_then_deleted):
        response = client.patch(f"/api/v1/rules/{rule.pk}", {"note": "moved"}, format="json")
    # save() would have found no row to UPDATE and INSERTed the rule again (200).
    assert_error(response, 404, "not_found")
    # The refused request wrote nothing. (The DELETE ran inside the refused request's transaction
    # here, so it is rolled back with it; in a real race it is another request's and stays.)
    assert [(r.pk, r.note) for r in _rules(personas)] == [(rule.pk, "")]


def test_patch_of_a_rule_deleted_before_the_lookup_is_404(personas: Personas) -> None:
    rule = _rule(personas)
    client = client_for(personas.playback["days_30"])
    real_lookup = rules._locked_rule

    def deleted_then_lookup(pk: Any) -> ContactRule | None:
        ContactRule.objects.filter(pk=pk).delete()
        return real_lookup(pk)

    with mock.patch.object(rules, "_locked_rule", side_effect=deleted_then_lookup):
        response = client.patch(f"/api/v1/rules/{rule.pk}", {"list_type": "whitelist"}, format="json")
    assert_error(response, 404, "not_found")  # was a 500: ContactRule.DoesNotExist
    assert [r.list_type for r in _rules(personas)] == ["blacklist"]  # rolled back with the request


def test_patch_after_the_rule_is_deleted_is_404(personas: Personas) -> None:
    rule = _rule(personas)
    client = client_for(personas.playback["days_30"])
    assert client.delete(f"/api/v1/rules/{rule.pk}").status_code == 204
    assert_error(client.patch(f"/api/v1/rules/{rule.pk}", {"note": "x"}, format="json"), 404, "not_found")


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_patch_racing_delete_on_postgresql_is_200_or_404_never_500(personas: Personas) -> None:
    """Threads on PostgreSQL: a PATCH and a DELETE of the same rule at once, 40 times. The PATCH
    answers 200 (it won: the DELETE then removes the changed rule) or 404 (it lost); never a 500,
    and the rule never survives its DELETE."""
    if connection.vendor != "postgresql":
        pytest.skip("threads race only on PostgreSQL")
    user = personas.playback["days_30"]
    seen: list[tuple[int, int]] = []
    for attempt in range(40):
        rule = rules.add_rule(user=user, list_type="blacklist", number=f"+3120111{attempt:04d}")
        answers = _race(user, f"/api/v1/rules/{rule.pk}")
        assert answers["patch"] in (200, 404), answers
        assert answers["delete"] in (204, 404), answers
        seen.append((answers["patch"], answers["delete"]))
        with tenant_scope(personas.tenant_a):
            assert not ContactRule.objects.filter(pk=rule.pk).exists()
    assert len(seen) == 40


def _race(user: Any, url: str) -> dict[str, int]:
    """PATCH and DELETE ``url`` at once from two threads; their status codes."""
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def run(name: str) -> None:
        try:
            client = client_for(user)
            barrier.wait()
            if name == "patch":
                answers[name] = client.patch(url, {"note": "x"}, format="json").status_code
            else:
                answers[name] = client.delete(url).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("patch", "delete")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


# --- patterns anchored at the very end (no "$" that lets a final newline through) ---------------


def test_a_country_code_with_a_newline_is_refused_by_the_database(db: None) -> None:
    from django.db import DataError, IntegrityError, transaction

    from tenants.models import Tenant

    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Tenant.objects.create(name="Newline BV", slug="newline-bv", country="NL\n")
    assert not Tenant.objects.filter(slug="newline-bv").exists()


@pytest.mark.parametrize("pin", ["١٢٣٤", "12345\u0661", "1234\n5"])
def test_a_share_pin_is_ascii_digits_only(personas: Personas, pin: str) -> None:
    from django.core.exceptions import ValidationError

    from recordings import social
    from recordings.models import ShareLink

    owner = personas.playback["days_30"]
    recording = make_recording(owner)
    with pytest.raises(ValidationError):
        social.create_share(recording=recording, acting_user=owner, pin=pin)
    with tenant_scope(personas.tenant_a):
        assert not ShareLink.objects.exists()
