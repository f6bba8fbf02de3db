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

import collections
import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import GenerationMode
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


# The stateful runs: which linked operations (hiprecorder.api.LINKS), and how many scenarios per
# hypothesis run (each a chain of linked requests); derandomised. One run per kind of object, so
# that easy chains (rules) do not crowd out longer ones (list → comment → delete → edit).
STATEFUL_RUNS = {
    "recordings": (15, ["recordings_list", "recordings_detail", "recordings_delete", "comments_list"]),
    "comments": (15, ["recordings_list", "comments_add", "comments_edit", "comments_delete"]),
    "labels": (10, ["recordings_list", "labels_add", "labels_remove"]),
    "shares": (10, ["recordings_list", "shares_create", "shares_revoke", "shares_opens"]),
    "rules": (5, ["rules_add", "rules_detail", "rules_update", "rules_delete"]),
}
STATEFUL_RUN_COUNT = 4
# What each run must have done at least once (else it checked nothing).
STATEFUL_MUST_REACH = {
    "recordings": ["recordings_delete 204"],
    "comments": ["comments_delete 204"],
    "labels": ["labels_remove 204"],
    "shares": ["shares_revoke 200"],
    "rules": ["rules_delete 204"],
}


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


# --- stateful: the schema's links, followed; deleted objects must stay unreachable -------------


@pytest.mark.parametrize("run", list(STATEFUL_RUNS))
def test_deleted_objects_stay_unreachable_following_the_links(
    personas: Personas, world: World, run: str
) -> None:
    """schemathesis' state machine follows the schema's OpenAPI links (hiprecorder.api.LINKS):
    list → delete / detail / comments of the same recording, add a comment → edit / delete it,
    add a rule → read / change / delete it, share → revoke. ``use_after_free`` fails when an
    object still answers 2xx after its successful DELETE; on top, a revoked share link, and the
    share links of a deleted recording, must no longer open (their public page answers 404).
    Derandomised: the same scenarios every run."""
    from django.db import transaction
    from werkzeug.test import Client

    from hiprecorder.wsgi import application

    # The public share pages, through the WSGI app like schemathesis' requests (Django's test
    # client would reconnect the signal that closes the test's connection after a request).
    share_pages = Client(application)

    owner = personas.playback["days_30"]
    # The linked operations that create, read and delete (devices: no read to check after removal).
    scenarios, operations = STATEFUL_RUNS[run]
    linked = schema.include(operation_id=operations)
    linked.config.phases.stateful.inference.algorithms = []  # only the schema's own links
    linked.config.phases.stateful.generation.modes = [GenerationMode.POSITIVE]
    share_page: dict[str, str] = {}  # share id -> the public page's path
    shares_of: dict[str, list[str]] = {}  # recording id -> its share ids
    steps: list[str] = []
    numbers: list[str] = []

    machine = linked.as_state_machine()

    class Workflow(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            # Every scenario starts from the same data (the world's), so that the same draws give
            # the same requests and answers: hypothesis needs that, and deletions do not pile up.
            self.scenario = transaction.atomic()
            self.scenario.__enter__()
            # The newest recordings (the list's first rows, which the links use): rows only, no
            # audio file, so that all a scenario changes is rolled back with it.
            for _ in range(2):
                make_recording(owner, with_audio=False)

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)
            super().teardown()

        def before_call(self, case: Any) -> None:
            # Realistic values where random ones are nearly always refused (the stateless test
            # sends those): a fresh phone number for a rule, no PIN for a share, a plain text for
            # a comment's edit (a refused edit would not show that the comment is gone).
            operation = case.operation.definition.raw.get("operationId")
            if operation == "rules_add" and isinstance(case.body, dict):
                numbers.append(f"+3161{len(numbers):07d}")
                case.body = {**case.body, "number": numbers[-1]}
            if operation == "comments_edit":
                case.body = {"text": "Edited."}
            if operation == "shares_create" and isinstance(case.body, dict):
                case.body = {key: value for key, value in case.body.items() if key != "pin"}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {world.token_a}"}}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            operation = case.operation.definition.raw.get("operationId")
            steps.append(f"{operation} {response.status_code}")
            recording_id = str((case.path_parameters or {}).get("recording_id", ""))
            if operation == "shares_create" and response.status_code == 201:
                body = response.json()
                share_page[body["share"]["id"]] = urlsplit(body["url"]).path
                shares_of.setdefault(recording_id, []).append(body["share"]["id"])
            gone: list[str] = []
            if operation == "shares_revoke" and response.status_code == 200:
                gone = [str(case.path_parameters["share_id"])]
            if operation == "recordings_delete" and response.status_code == 204:
                gone = shares_of.pop(recording_id, [])
            for share_id in gone:
                path = share_page.get(share_id)
                if path is not None:
                    status = share_pages.get(path).status_code
                    assert status == 404, f"{operation}: share {share_id} still opens ({status})"

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                checks=CHECKS,
                headers=kwargs.get("headers"),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    # Several derandomised runs (they differ by their step count). Each scenario starts from the
    # same rows (rolled back), but the API's answers are not a pure function of hypothesis' draws
    # across a run (e.g. an earlier scenario's requests leave caches and counters behind), and
    # when a revisited prefix takes another turn hypothesis ends that run (FlakyStrategyDefinition):
    # what ran until then was checked, and the next run goes on. The runs together must reach
    # the deletions below.
    for step_count in range(6, 6 + STATEFUL_RUN_COUNT):
        with contextlib.suppress(FlakyStrategyDefinition):
            Workflow.run(
                settings=hypothesis_settings(
                    max_examples=scenarios,
                    stateful_step_count=step_count,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
    done = set(steps)
    missing = [step for step in STATEFUL_MUST_REACH[run] if step not in done]
    assert not missing, f"the stateful run never did {missing}: {sorted(done)}"
    print(f"{run}: {len(steps)} requests", dict(collections.Counter(steps)))


def test_the_schema_is_served_as_json(client: Any, db: None) -> None:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert json.loads(response.content)["openapi"].startswith("3.")
