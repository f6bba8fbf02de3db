"""The isolation matrix: every URL of the portal, the API and the telephony interface x every
persona, with the status each must get. Tenant A's objects are in every URL; tenant B's admin
(and B's phone system) must never get a 2xx for them, nor see them in a page of their own.

``test_every_url_has_a_row`` walks ``get_resolver().url_patterns`` recursively and fails when a
URL has no row here (or a row names a URL that is gone). Only the Django admin (support staff,
tests/tenants and tests/privacy) and allauth's account pages (tests/test_hardening.py) are outside.

Personas: tenant A's admin, listener, user (licence "always", team Sales), Playback user; tenant
B's admin; anonymous; support staff; and, for the telephony interface, the phone systems of A and
B (a key, not a person). Portal requests carry the persona's session; API requests the persona's
API token (support staff and anonymous have none); telephony requests the phone system's key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from notifications.services import register_device
from recordings import alerts, privacy, rules, social, streaming
from recordings.models import Call, Recording, ShareLink
from tenants import services
from tenants.api.tokens import authenticate_api_token, issue_api_token
from tenants.models import AccessCopyNotice, User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.privacy.factory import approved_access_copy, second_admin

PEOPLE = ("anonymous", "support", "b_admin", "a_admin", "a_listener", "a_user", "a_playback")
PHONE_SYSTEMS = ("pbx_a", "pbx_b")
CROSS_TENANT = ("b_admin", "pbx_b")
OUTSIDE = ("admin/", "accounts/")  # Django's admin and allauth: tested in their own files


@dataclass
class World:
    p: Personas
    people: dict[str, User]  # persona -> person (anonymous and the phone systems have none)
    rec: Recording
    share: ShareLink
    ids: dict[str, Any]
    tokens: dict[str, str]
    keys: dict[str, str]
    markers: list[str] = field(default_factory=list)  # strings only tenant A's pages may contain


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(personas: Personas) -> World:
    p = personas
    rec = make_recording(p.users["always"], remote_number="+31611112222")
    playback = make_recording(p.playback["days_30"], remote_number="+31633334444")
    label = social.add_label(recording=rec, name="isolation", acting_user=p.users["always"])
    comment = social.add_comment(recording=rec, text="a secret remark", acting_user=p.users["always"])
    share = social.create_share(recording=rec, acting_user=p.users["always"])
    rule = rules.add_rule(user=p.playback["days_30"], list_type="whitelist", number="+31655556666")
    alert = alerts.add_alert(tenant=p.tenant_a, phrase="opzeggen", acting_user=p.admin)
    device = register_device(user=p.playback["days_30"], token="push-token-of-a", platform="android")
    key_a = services.create_pbx_key(tenant=p.tenant_a, name="PBX A")
    key_b = services.create_pbx_key(tenant=p.tenant_b, name="PBX B")
    # An approved access copy with the Playback user's recording (so they have a notice), and a
    # request of the second admin's that A's admin may approve.
    copy = approved_access_copy(p.admin, "+31633334444")
    pending = privacy.request_access_copy(
        tenant=p.tenant_a, number="+31611112222", reason="letter", acting_user=second_admin(p.admin)
    )
    with tenant_scope(p.tenant_a):
        notice = AccessCopyNotice.objects.get(user=p.playback["days_30"])
    with tenant_scope(p.tenant_a):
        call = Call.objects.create(
            pbx_call_id="iso-call-a",
            user=p.users["always"],
            direction="inbound",
            leg="fixed",
            local_number="+31201234567",
            remote_number="+31677778888",
            started_at=timezone.now(),
            kind="standard",
            mode="always",
            record=True,
            announce=True,
        )
    people = {
        "support": p.support,
        "a_admin": p.admin,
        "a_listener": p.listener,
        "a_user": p.users["always"],
        "a_playback": p.playback["days_30"],
        "b_admin": p.charlie,
    }
    tokens = {
        name: issue_api_token(user=u, name="phone", acting_user=u).secret
        for name, u in people.items()
        if name != "support"  # support staff have no app
    }
    with tenant_scope(p.tenant_a):
        token_id = issue_api_token(
            user=p.users["always"], name="old phone", acting_user=p.users["always"]
        ).token.pk
    ids = {
        "recording_id": rec.pk,
        "playback_id": playback.pk,
        "label_id": label.pk,
        "comment_id": comment.pk,
        "share_id": share.share.pk,
        "share_token": share.token,
        "copy_token": copy.token,
        "copy_id": pending.pk,
        "notice_id": notice.pk,
        "rule_id": rule.pk,
        "alert_id": alert.pk,
        "user_id": p.no_product.pk,
        "playback_user_id": p.playback["days_30"].pk,
        "team_id": p.sales.pk,
        "key_id": key_a.key.pk,
        "token_id": token_id,
        "call_id": call.pbx_call_id,
        "device_id": device.pk,
        "path": "no/such/thing",
    }
    # (not the numbers: a search page rightly echoes the number its user typed)
    markers = [str(rec.pk), str(playback.pk), "a secret remark", "user_always", "Acme"]
    keys = {"pbx_a": key_a.secret, "pbx_b": key_b.secret}
    return World(p, people, rec, share.share, ids, tokens, keys, markers)


@dataclass(frozen=True)
class Row:
    """One URL: how it is called, and the status for each persona (in PEOPLE order; for the
    telephony interface PEOPLE then PHONE_SYSTEMS)."""

    method: str
    statuses: tuple[int, ...]
    auth: str = "session"  # session | token (API) | key (telephony) | none (public)
    kwargs: tuple[tuple[str, str], ...] = ()  # URL kwarg -> key in World.ids
    data: dict[str, Any] | None = None
    json: bool = False
    stream: str = ""  # "user": a stream token for the persona; "share": the share's stream token
    fresh_label: bool = False  # each permitted persona removes a label of its own

    def expected(self) -> dict[str, int]:
        who = PEOPLE + PHONE_SYSTEMS if self.auth == "key" else PEOPLE
        assert len(self.statuses) == len(who), "one status per persona"
        return dict(zip(who, self.statuses, strict=True))


R = "recording_id"
REC = (("recording_id", R),)
PB = (("recording_id", "playback_id"),)

#                           anon  sup  B-adm A-adm list user  pb
ROWS: dict[str, Row] = {
    # --- open to everyone -----------------------------------------------------------------------
    "healthz": Row("GET", (200, 200, 200, 200, 200, 200, 200), auth="none"),
    "set_language": Row("POST", (302, 302, 302, 302, 302, 302, 302), auth="none", data={"language": "en"}),
    "switch_language": Row("POST", (302, 302, 302, 302, 302, 302, 302), data={"language": "en"}),
    # --- the portal ---------------------------------------------------------------------------
    "home": Row("GET", (302, 403, 200, 200, 200, 200, 200)),
    "player": Row("GET", (302, 403, 404, 404, 200, 200, 404), kwargs=REC),
    "recording_audio": Row("GET", (403, 403, 404, 404, 200, 200, 404), kwargs=REC, stream="user"),
    "recording_delete_confirm": Row("GET", (302, 403, 404, 404, 404, 404, 200), kwargs=PB),
    "recording_keep": Row("POST", (302, 403, 404, 404, 404, 404, 303), kwargs=PB),
    "recording_delete": Row("POST", (302, 403, 404, 404, 404, 404, 303), kwargs=PB),
    "label_add": Row("POST", (302, 403, 404, 404, 302, 302, 404), kwargs=REC, data={"name": "new"}),
    "label_remove": Row(
        "POST", (302, 403, 404, 404, 302, 302, 404), kwargs=(*REC, ("label_id", "label_id")), fresh_label=True
    ),
    "comment_add": Row("POST", (302, 403, 404, 404, 302, 302, 404), kwargs=REC, data={"text": "hi"}),
    "comment_edit": Row(
        "GET", (302, 403, 404, 404, 403, 200, 404), kwargs=(*REC, ("comment_id", "comment_id"))
    ),
    "comment_delete": Row(
        "POST", (302, 403, 404, 404, 403, 302, 404), kwargs=(*REC, ("comment_id", "comment_id"))
    ),
    "share_create": Row("POST", (302, 403, 404, 404, 403, 200, 404), kwargs=REC),
    "share_revoke": Row("POST", (302, 403, 404, 404, 403, 302, 404), kwargs=(*REC, ("share_id", "share_id"))),
    "share_pin_reset": Row(
        "POST",
        (302, 403, 404, 404, 403, 200, 404),
        kwargs=(*REC, ("share_id", "share_id")),
        data={"pin": "97531"},
    ),
    "share_page": Row(
        "GET", (200, 200, 200, 200, 200, 200, 200), auth="none", kwargs=(("token", "share_token"),)
    ),
    "share_audio": Row(
        "GET",
        (200, 200, 200, 200, 200, 200, 200),
        auth="none",
        kwargs=(("token", "share_token"),),
        stream="share",
    ),
    "outbox": Row("GET", (302, 403, 200, 200, 200, 200, 200)),
    "review": Row("GET", (302, 403, 403, 403, 403, 403, 200)),
    "plan": Row("GET", (302, 403, 403, 403, 403, 403, 200)),
    # --- the installable app and browser notifications (Web Push) ---------------------------------
    "manifest": Row("GET", (200, 200, 200, 200, 200, 200, 200), auth="none"),
    "service_worker": Row("GET", (200, 200, 200, 200, 200, 200, 200), auth="none"),
    "offline": Row("GET", (200, 200, 200, 200, 200, 200, 200), auth="none"),
    "browser_notifications": Row("GET", (302, 403, 200, 200, 200, 200, 200)),
    # (only Playback users may subscribe; the empty body is refused as bad input: 400)
    "push_subscribe": Row("POST", (302, 403, 403, 403, 403, 403, 400), data={}, json=True),
    "push_unsubscribe": Row("POST", (302, 403, 404, 404, 404, 404, 404), data={}, json=True),
    # (no session counts: only the single-use token decides; without one, a clear 400)
    "push_action": Row("POST", (400, 400, 400, 400, 400, 400, 400), auth="none", data={}),
    # --- management (customer admins) -----------------------------------------------------------
    "manage_home": Row("GET", (302, 403, 302, 302, 403, 403, 403)),
    "manage_users": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_user": Row("GET", (302, 403, 404, 200, 403, 403, 403), kwargs=(("user_id", "user_id"),)),
    # (the admin's empty form is refused as bad input: 400, past the access checks)
    "manage_user_update": Row(
        "POST", (302, 403, 404, 400, 403, 403, 403), kwargs=(("user_id", "user_id"),), data={}
    ),
    "manage_user_product": Row(
        "POST",
        (302, 403, 404, 400, 403, 403, 403),
        kwargs=(("user_id", "user_id"),),
        data={"product": "none"},
    ),
    "manage_user_active": Row(
        "POST", (302, 403, 404, 302, 403, 403, 403), kwargs=(("user_id", "user_id"),), data={"active": "0"}
    ),
    "manage_user_offboard": Row("GET", (302, 403, 404, 200, 403, 403, 403), kwargs=(("user_id", "user_id"),)),
    "manage_user_password": Row(
        "POST", (302, 403, 404, 302, 403, 403, 403), kwargs=(("user_id", "user_id"),)
    ),
    "manage_user_rules": Row(
        "GET", (302, 403, 404, 200, 403, 403, 403), kwargs=(("user_id", "playback_user_id"),)
    ),
    "manage_user_rule_remove": Row(
        "POST",
        (302, 403, 404, 302, 403, 403, 403),
        kwargs=(("user_id", "playback_user_id"), ("rule_id", "rule_id")),
    ),
    "manage_teams": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_team": Row("GET", (302, 403, 404, 200, 403, 403, 403), kwargs=(("team_id", "team_id"),)),
    "manage_team_delete": Row("POST", (302, 403, 404, 302, 403, 403, 403), kwargs=(("team_id", "team_id"),)),
    "manage_keys": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_key_revoke": Row("POST", (302, 403, 404, 302, 403, 403, 403), kwargs=(("key_id", "key_id"),)),
    "manage_settings": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_keyword_alerts": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_keyword_alert_remove": Row(
        "POST", (302, 403, 404, 302, 403, 403, 403), kwargs=(("alert_id", "alert_id"),)
    ),
    "manage_transcripts": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_audit": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_audit_export": Row("POST", (302, 403, 200, 200, 403, 403, 403)),
    "manage_users_bulk_licence": Row("POST", (302, 403, 302, 302, 403, 403, 403)),
    "manage_calls": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_overview": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "manage_calls_export": Row("POST", (302, 403, 200, 200, 403, 403, 403)),
    # --- privacy (customer admins) --------------------------------------------------------------
    "privacy:overview": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "privacy:register": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "privacy:register_markdown": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "privacy:register_document": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "privacy:staff_policy": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "privacy:audit_log": Row("GET", (302, 403, 302, 302, 403, 403, 403)),  # moved to manage_audit
    "privacy:subjects": Row("GET", (302, 403, 200, 200, 403, 403, 403), data={"number": "+31611112222"}),
    "privacy:subject_csv": Row("GET", (302, 403, 200, 200, 403, 403, 403), data={"number": "+31611112222"}),
    "privacy:subject_json": Row("GET", (302, 403, 200, 200, 403, 403, 403), data={"number": "+31611112222"}),
    # (B has one admin: no access copy can be requested there; A's is requested, then approved)
    "privacy:subject_access_copy": Row(
        "POST", (302, 403, 400, 302, 403, 403, 403), data={"number": "+31611112222", "reason": "letter"}
    ),
    "privacy:access_copies": Row("GET", (302, 403, 200, 200, 403, 403, 403)),
    "privacy:access_copy_approve": Row(
        "POST", (302, 403, 404, 200, 403, 403, 403), kwargs=(("copy_id", "copy_id"),)
    ),
    "privacy:access_copy_refuse": Row(
        "POST", (302, 403, 404, 302, 403, 403, 403), kwargs=(("copy_id", "copy_id"),)
    ),
    "privacy:notice_seen": Row(
        "POST", (302, 403, 404, 404, 404, 404, 302), kwargs=(("notice_id", "notice_id"),)
    ),
    "privacy:subject_erase": Row(
        "POST", (302, 403, 302, 302, 403, 403, 403), data={"number": "+31611112222", "confirmed_count": "1"}
    ),
    "privacy:access_copy": Row(
        "GET", (200, 200, 200, 200, 200, 200, 200), auth="none", kwargs=(("token", "copy_token"),)
    ),
    # --- the mobile app's API -------------------------------------------------------------------
    "api:login": Row("POST", (400, 400, 400, 400, 400, 400, 400), auth="none", data={}, json=True),
    "api:logout": Row("POST", (401, 401, 204, 204, 204, 204, 204), auth="token"),
    "api:tokens": Row("GET", (401, 401, 200, 200, 200, 200, 200), auth="token"),
    "api:token": Row(
        "DELETE", (401, 401, 404, 404, 404, 204, 404), auth="token", kwargs=(("token_id", "token_id"),)
    ),
    "api:me": Row("GET", (401, 401, 200, 200, 200, 200, 200), auth="token"),
    "api:recordings": Row("GET", (401, 401, 200, 200, 200, 200, 200), auth="token"),
    "api:recording": Row("GET", (401, 401, 404, 404, 200, 200, 404), auth="token", kwargs=REC),
    "api:recording_keep": Row("POST", (401, 401, 404, 404, 404, 404, 200), auth="token", kwargs=PB),
    "api:recording_stream": Row("POST", (401, 401, 404, 404, 200, 200, 404), auth="token", kwargs=REC),
    "api:recording_transcript": Row("GET", (401, 401, 404, 404, 200, 200, 404), auth="token", kwargs=REC),
    "api:recording_audio": Row(
        "GET", (403, 403, 404, 404, 200, 200, 404), auth="token", kwargs=REC, stream="user"
    ),
    "api:labels": Row("GET", (401, 401, 404, 404, 200, 200, 404), auth="token", kwargs=REC),
    "api:label": Row(
        "DELETE",
        (401, 401, 404, 404, 204, 204, 404),
        auth="token",
        kwargs=(*REC, ("label_id", "label_id")),
        fresh_label=True,
    ),
    "api:label_suggestions": Row("GET", (401, 401, 200, 200, 200, 200, 200), auth="token"),
    "api:comments": Row("GET", (401, 401, 404, 404, 200, 200, 404), auth="token", kwargs=REC),
    "api:comment": Row(
        "PATCH",
        (401, 401, 404, 404, 403, 200, 404),
        auth="token",
        kwargs=(*REC, ("comment_id", "comment_id")),
        data={"text": "changed"},
        json=True,
    ),
    "api:shares": Row("GET", (401, 401, 404, 404, 403, 200, 404), auth="token", kwargs=REC),
    "api:share_revoke": Row(
        "POST", (401, 401, 404, 404, 403, 200, 404), auth="token", kwargs=(*REC, ("share_id", "share_id"))
    ),
    "api:share_opens": Row(
        "GET", (401, 401, 404, 404, 403, 200, 404), auth="token", kwargs=(*REC, ("share_id", "share_id"))
    ),
    "api:devices": Row("GET", (401, 401, 200, 200, 200, 200, 200), auth="token"),
    "api:device": Row(
        "DELETE", (401, 401, 404, 404, 404, 404, 204), auth="token", kwargs=(("device_id", "device_id"),)
    ),
    "api:rules": Row("GET", (401, 401, 403, 403, 403, 403, 200), auth="token"),
    "api:rule": Row(
        "GET", (401, 401, 403, 403, 403, 403, 200), auth="token", kwargs=(("rule_id", "rule_id"),)
    ),
    "api:team": Row("GET", (401, 401, 403, 403, 200, 403, 403), auth="token"),  # listeners only
    "api-schema": Row("GET", (200, 200, 200, 200, 200, 200, 200), auth="none"),
    "api-docs": Row("GET", (200, 200, 200, 200, 200, 200, 200), auth="none"),
    # (any other path under /api/: the API's JSON 404 with or without a token)
    "api-not-found": Row(
        "GET", (404, 404, 404, 404, 404, 404, 404), auth="token", kwargs=(("rest", "path"),)
    ),
    # --- the telephony interface (phone systems: last two columns, A's key then B's) ------------
    "rpi:calls": Row("POST", (401, 401, 401, 401, 401, 401, 401, 400, 400), auth="key", data={}, json=True),
    "rpi:call": Row(
        "GET", (401, 401, 401, 401, 401, 401, 401, 200, 404), auth="key", kwargs=(("call_id", "call_id"),)
    ),
    "rpi:events": Row(
        "POST",
        (401, 401, 401, 401, 401, 401, 401, 400, 404),
        auth="key",
        kwargs=(("call_id", "call_id"),),
        data={},
        json=True,
    ),
    "rpi:end": Row(
        "POST",
        (401, 401, 401, 401, 401, 401, 401, 400, 404),
        auth="key",
        kwargs=(("call_id", "call_id"),),
        data={},
        json=True,
    ),
    "rpi:audio": Row(
        "PUT", (401, 401, 401, 401, 401, 401, 401, 415, 404), auth="key", kwargs=(("call_id", "call_id"),)
    ),
    # (an unknown path is the same JSON 404 with or without a key: nothing to protect)
    "rpi:not_found": Row(
        "GET", (404, 404, 404, 404, 404, 404, 404, 404, 404), auth="key", kwargs=(("path", "path"),)
    ),
}


def url_patterns(outside: tuple[str, ...] = OUTSIDE) -> list[tuple[str, str]]:
    """Every URL pattern of the project as (route, namespaced name; "" when it has none), except
    those whose route starts with one of ``outside``. tests/test_insider.py walks them all."""
    found: list[tuple[str, str]] = []

    def walk(patterns: list[Any], route: str, namespace: str) -> None:
        for pattern in patterns:
            here = route + str(pattern.pattern)
            if here.startswith(outside):
                continue
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, here, inner)
            elif isinstance(pattern, URLPattern):
                found.append((here, namespace + pattern.name if pattern.name else ""))

    walk(get_resolver().url_patterns, "", "")
    return found


def _url_names() -> set[str]:
    """Every named URL of the project outside the admin and allauth, with its namespace."""
    names: set[str] = set()
    for route, name in url_patterns():
        assert name, f"URL {route!r} has no name: name it and add a row"
        names.add(name)
    return names


def test_every_url_has_a_row() -> None:
    names = _url_names()
    assert not names - set(ROWS), f"add rows to the isolation matrix for: {sorted(names - set(ROWS))}"
    assert not set(ROWS) - names, f"rows for URLs that no longer exist: {sorted(set(ROWS) - names)}"


def _client(world: World, row: Row, who: str) -> tuple[Client, dict[str, str]]:
    client = Client()
    headers: dict[str, str] = {}
    person = world.people.get(who)
    if row.auth == "key":
        if who in PHONE_SYSTEMS:
            headers["authorization"] = f"Bearer {world.keys[who]}"
        elif person is not None:
            client.force_login(person)  # a session is no phone-system key
    elif row.auth == "token":
        if who in world.tokens:
            headers["authorization"] = f"Bearer {world.tokens[who]}"
        elif person is not None:
            client.force_login(person)  # support staff: a session is no API token
    elif person is not None:
        client.force_login(person)
    return client, headers


def _request(world: World, name: str, who: str) -> Any:
    row = ROWS[name]
    client, headers = _client(world, row, who)
    person = world.people.get(who)
    if row.fresh_label:
        label = social.add_label(
            recording=world.rec, name=f"label-{who}", acting_user=world.p.users["always"]
        )
        world.ids["label_id"] = label.pk
    url = reverse(name, kwargs={k: world.ids[v] for k, v in row.kwargs})
    data = dict(row.data or {})
    if row.stream == "user" and person is not None:
        # Bound to the persona's credential as the player and the app bind it: the API token it
        # sends, else its session.
        session = client.cookies.get(settings.SESSION_COOKIE_NAME)
        api_token = (
            authenticate_api_token(world.tokens[who]) if row.auth == "token" and who in world.tokens else None
        )
        data["t"] = streaming.issue_stream_token(
            user=person,
            recording=world.rec,
            session_key=None if api_token else (session.value if session else ""),
            api_token=api_token,
        )
    elif row.stream == "share":
        data["t"] = streaming.issue_share_stream_token(share=world.share)
    call = getattr(client, row.method.lower())
    if row.json or row.method in {"PATCH", "DELETE"}:
        return call(url, json.dumps(data), content_type="application/json", headers=headers)
    if row.method == "PUT":
        return call(url, b"", content_type="application/octet-stream", headers=headers)
    return call(url, data, headers=headers)


def _succeeds(who: str, status: int) -> bool:
    return who != "anonymous" and status < 400


@pytest.mark.parametrize("name", sorted(ROWS))
def test_matrix(name: str, world: World) -> None:
    """Each persona gets its status. Refused personas go first, so a permitted (perhaps
    destructive) request runs after them, as the last ones."""
    expected = ROWS[name].expected()
    order = sorted(expected, key=lambda who: _succeeds(who, expected[who]))
    seen = {}
    for who in order:
        response = _request(world, name, who)
        if getattr(response, "streaming", False):
            # Read it all: the test client then closes the file (without ending the test's
            # database connection, as response.close() would through request_finished).
            b"".join(response.streaming_content)
        seen[who] = response.status_code
        readable = ROWS[name].auth != "none" and not getattr(response, "streaming", False)
        if who in CROSS_TENANT and 200 <= response.status_code < 300 and readable:
            body = response.content.decode(errors="replace")
            leaked = [m for m in world.markers if m in body]
            assert not leaked, f"{who} saw tenant A's {leaked} at {name}"
    assert seen == expected


def test_zero_cross_tenant_2xx_for_tenant_a_objects() -> None:
    """The table itself: for every URL naming one of A's objects, B's admin and B's phone system
    get no 2xx (public token links are the same for everyone by design)."""
    for name, row in ROWS.items():
        if row.auth == "none" or not row.kwargs:
            continue
        for who, status in row.expected().items():
            if who in CROSS_TENANT:
                assert not 200 <= status < 300, (name, who, status)


def test_lists_of_tenant_b_hold_nothing_of_tenant_a(world: World) -> None:
    """Lists without ids in the URL: B's admin gets its own (empty of A's) page."""
    client = Client()
    client.force_login(world.p.charlie)
    for name in ["home", "manage_users", "manage_audit", "privacy:subjects"]:
        body = client.get(reverse(name), {"number": "+31611112222"}).content.decode()
        assert not [m for m in world.markers if m in body], name
    assert Recording.objects.unscoped().filter(tenant=world.p.tenant_a).count() == 2
