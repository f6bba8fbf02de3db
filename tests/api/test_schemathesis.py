"""schemathesis against /api/schema/, with two tenants' tokens.

For every operation of the contract, hypothesis-generated requests (schemathesis' positive and
negative data) are sent as a Playback user of tenant A ("acme"), with path ids that are often
real objects of that user, and checked: no server error, responses and status codes as the
schema says, and schemathesis' ``ignored_auth`` (the same request without/with a broken token
must not succeed) and ``use_after_free``. Then:

- **no cross-tenant access**: the same request with the token of tenant B's admin never
  succeeds on A's objects, and no answer to B contains an id of A's;
- **deleted recordings stay unreachable**: once a recording was deleted, no later answer
  succeeds on its URLs or mentions it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from notifications.services import register_device
from recordings import rules, social
from tests.api.helpers import token_for
from tests.base import Personas
from tests.factories import make_recording

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    ignored_auth,
    use_after_free,
]


@dataclass
class World:
    ids: dict[str, list[str]]
    token_a: str
    token_b: str
    a_ids: set[str]
    deleted: set[str] = field(default_factory=set)


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """Schemathesis calls the WSGI app directly, so Django's request signals would close the
    database connection after each request (its autocommit differs inside the test's transaction;
    SQLite's in-memory database is exempt, PostgreSQL is not). Django's test client disconnects
    the same handler for the same reason."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(personas: Personas) -> World:
    owner = personas.playback["days_30"]
    recordings = [make_recording(owner) for _ in range(4)]
    recordings += [make_recording(owner, saved=True, with_audio=False)]
    labels = [social.add_label(recording=r, name="l", acting_user=owner) for r in recordings]
    comments = [social.add_comment(recording=r, text="c", acting_user=owner) for r in recordings]
    shares = [social.create_share(recording=r, acting_user=owner).share for r in recordings]
    rule = rules.add_rule(user=owner, list_type="blacklist", number="+31612345678")
    device = register_device(user=owner, token="acme-phone", platform="ios")
    token_a = token_for(owner, "schemathesis A")
    ids = {
        "recording_id": [str(r.pk) for r in recordings],
        "label_id": [str(x.pk) for x in labels],
        "comment_id": [str(x.pk) for x in comments],
        "share_id": [str(x.pk) for x in shares],
        "rule_id": [str(rule.pk)],
        "device_id": [str(device.pk)],
        "token_id": [],
    }
    a_ids = {i for values in ids.values() for i in values} | {str(owner.pk), str(personas.tenant_a.pk)}
    return World(ids=ids, token_a=token_a, token_b=token_for(personas.charlie, "schemathesis B"), a_ids=a_ids)


def _load_schema() -> Any:
    # Loaded at collection (schemathesis' lazy fixture loader does not run on pytest 9): the
    # schema view needs no database.
    from hiprecorder.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _load_schema()


def _use_real_ids(case: Any, world: World) -> bool:
    """Point the case at tenant A's objects for about two of three generated ids."""
    used = False
    for name, value in list((case.path_parameters or {}).items()):
        choices = world.ids.get(name)
        if not choices:
            continue
        try:
            pick = uuid.UUID(str(value)).int
        except ValueError:
            continue
        if pick % 3:
            case.path_parameters[name] = choices[pick % len(choices)]
            used = True
    return used


def _text(response: Any) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, AttributeError):
        return ""


@schema.parametrize()
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_contract(case: Any, world: World) -> None:
    real = _use_real_ids(case, world)
    path_ids = {str(v) for v in (case.path_parameters or {}).values()}
    was_deleted = bool(path_ids & world.deleted)

    response = case.call_and_validate(headers={"Authorization": f"Bearer {world.token_a}"}, checks=CHECKS)

    # Deleted recordings stay unreachable.
    if was_deleted:
        assert not 200 <= response.status_code < 300 or case.operation.method.upper() == "DELETE", (
            f"{case.operation.label} answered {response.status_code} for a deleted recording"
        )
    if 200 <= response.status_code < 300:
        mentioned = {d for d in world.deleted if d in _text(response)}
        assert not mentioned, f"{case.operation.label} mentions deleted recordings {mentioned}"
    if (
        case.operation.method.upper() == "DELETE"
        and case.operation.path == "/api/v1/recordings/{recording_id}"
        and response.status_code == 204
    ):
        world.deleted.add(str(case.path_parameters["recording_id"]))

    # No cross-tenant access: tenant B's token on the same request.
    other = case.call(headers={"Authorization": f"Bearer {world.token_b}"})
    assert other.status_code < 500, f"{case.operation.label}: server error for tenant B"
    if real and case.operation.path != "/api/v1/recordings/{recording_id}/audio":
        assert not 200 <= other.status_code < 300, (
            f"{case.operation.label} let tenant B reach tenant A's object: {other.status_code}"
        )
    leaked = {i for i in world.a_ids if i in _text(other)}
    assert not leaked, f"{case.operation.label} showed tenant A's ids to tenant B: {leaked}"


def test_the_schema_is_served_as_json(client: Any, db: None) -> None:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert json.loads(response.content)["openapi"].startswith("3.")
