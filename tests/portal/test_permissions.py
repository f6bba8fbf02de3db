"""Every portal URL x persona: another tenant gets 404, a wrong role 403, a wrong method 405.

The completeness check fails when a portal URL has no row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from recordings import alerts, social
from recordings.models import Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording


@dataclass
class World:
    p: Personas
    rec: Recording  # a standard recording of users["always"] (team Sales, listened by lisa)
    ids: dict[str, Any]
    playback_rec: Recording | None = None  # an unsaved playback of playback["days_30"]


@pytest.fixture
def world(personas: Personas) -> World:
    owner = personas.users["always"]
    rec = make_recording(owner)
    label = social.add_label(recording=rec, name="x", acting_user=owner)
    comment = social.add_comment(recording=rec, text="x", acting_user=owner)
    issued = social.create_share(recording=rec, acting_user=owner)
    playback = make_recording(personas.playback["days_30"], kind="playback")
    alert = alerts.add_alert(tenant=personas.tenant_a, phrase="klacht", acting_user=personas.admin)
    return World(
        personas,
        rec,
        {
            "recording_id": rec.pk,
            "label_id": label.pk,
            "comment_id": comment.pk,
            "share_id": issued.share.pk,
            "token": issued.token,
            "alert_id": alert.pk,
        },
        playback,
    )


@dataclass
class Row:
    methods: tuple[str, ...]  # the allowed methods
    owner: str  # the persona key that may use it
    wrong_role: str | None  # a persona of the same tenant whose role is refused (403)
    public: bool = False
    data: dict[str, str] | None = None
    playback: bool = False  # the URL's recording is the playback one


def persona(p: Personas, key: str) -> Any:
    return {
        "owner": p.users["always"],
        "listener": p.listener,
        "admin": p.admin,
        "support": p.support,
        "charlie": p.charlie,
        "user": p.users["always"],
        "playback": p.playback["days_30"],
    }[key]


ROWS: dict[str, Row] = {
    "home": Row(("GET",), "owner", "support"),
    "player": Row(("GET",), "owner", "support"),
    "recording_audio": Row(("GET",), "owner", "support"),
    "label_add": Row(("POST",), "owner", "support", data={"name": "y"}),
    "label_remove": Row(("POST",), "owner", "support"),
    "comment_add": Row(("POST",), "owner", "support", data={"text": "y"}),
    "comment_edit": Row(("GET", "POST"), "owner", "listener", data={"text": "y"}),
    "comment_delete": Row(("POST",), "owner", "support"),
    "share_create": Row(("POST",), "owner", "listener"),
    "share_revoke": Row(("POST",), "owner", "listener"),
    "share_pin_reset": Row(("POST",), "owner", "listener"),
    "share_page": Row(("GET", "POST"), "owner", None, public=True),
    "share_audio": Row(("GET",), "owner", None, public=True),
    "switch_language": Row(("POST",), "owner", None, public=True),
    "recording_keep": Row(("POST",), "playback", "support", playback=True),
    "recording_delete": Row(("POST",), "playback", "support", playback=True),
    "outbox": Row(("GET",), "playback", "support"),
    "recording_delete_confirm": Row(("GET",), "playback", "support", playback=True),
    "review": Row(("GET",), "playback", "owner"),
    "plan": Row(("GET",), "playback", "owner"),
    "browser_notifications": Row(("GET",), "playback", "support"),
    "manifest": Row(("GET",), "owner", None, public=True),
    "service_worker": Row(("GET",), "owner", None, public=True),
    "offline": Row(("GET",), "owner", None, public=True),
    # JSON and token endpoints: each persona's answer is in tests/test_isolation.py, the bad
    # inputs in tests/notifications/test_webpush.py; here, the methods they refuse.
    "push_subscribe": Row(("POST",), "playback", None, public=True),
    "push_unsubscribe": Row(("POST",), "playback", None, public=True),
    "push_action": Row(("POST",), "playback", None, public=True),
}


def _portal_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], inside_portal: bool) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                module = getattr(p.urlconf_module, "__name__", "")
                walk(p.url_patterns, inside_portal or module in {"recordings.urls", "tenants.urls"})
            elif isinstance(p, URLPattern) and inside_portal and p.name:
                names.add(p.name)

    walk(get_resolver().url_patterns, False)
    return names


def test_every_portal_url_has_a_row() -> None:
    missing = _portal_names() - set(ROWS)
    assert not missing, f"add these portal URLs to ROWS: {sorted(missing)}"


def _url(name: str, world: World) -> str:
    from django.urls import get_resolver as resolver

    pattern = next(p for p in resolver().reverse_dict.getlist(name))
    params = pattern[0][0][1]
    ids = dict(world.ids)
    if ROWS[name].playback and world.playback_rec is not None:
        ids["recording_id"] = world.playback_rec.pk
    return reverse(name, kwargs={k: ids[k] for k in params})


def _call(client: Client, method: str, url: str, data: dict[str, str] | None) -> Any:
    fn: Callable[..., Any] = getattr(client, method.lower())
    return fn(url, data or {}) if method == "POST" else fn(url)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_wrong_method_is_405(name: str, world: World) -> None:
    row = ROWS[name]
    client = Client()
    client.force_login(persona(world.p, row.owner))
    url = _url(name, world)
    for method in ("GET", "POST", "PUT", "DELETE"):
        if method not in row.methods:
            assert _call(client, method, url, row.data).status_code == 405, method


@pytest.mark.parametrize("name", sorted(n for n, r in ROWS.items() if not r.public))
def test_other_tenant_is_404(name: str, world: World) -> None:
    row = ROWS[name]
    client = Client()
    client.force_login(world.p.charlie)
    url = _url(name, world)
    if name == "home":
        response = client.get(url)
        assert response.status_code == 200 and not response.context["recordings"]
        return
    if name == "outbox":
        response = client.get(url)
        assert response.status_code == 200 and not response.context["prompts"]
        return
    if name in {"review", "plan"}:  # a person's own page: another tenant's admin has no Playback
        assert client.get(url).status_code == 403
        return
    if name == "browser_notifications":  # the person's own switch: theirs, nothing of tenant A
        response = client.get(url)
        assert (
            response.status_code == 200
            and world.p.playback["days_30"].username not in response.content.decode()
        )
        return
    if name == "recording_audio":
        owner = Client()
        owner.force_login(persona(world.p, row.owner))
        url = owner.get(_url("player", world)).content.decode().split('src="/r/')[1].split('"')[0]
        url = "/r/" + url.replace("&amp;", "&")
        assert client.get(url).status_code in {403, 404}  # the token is someone else's: never 200
        return
    assert _call(client, row.methods[-1], url, row.data).status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, r in ROWS.items() if r.wrong_role))
def test_wrong_role_is_403(name: str, world: World) -> None:
    row = ROWS[name]
    client = Client()
    client.force_login(persona(world.p, row.wrong_role or ""))
    assert _call(client, row.methods[-1], _url(name, world), row.data).status_code == 403


@pytest.mark.parametrize("name", sorted(n for n, r in ROWS.items() if not r.public))
def test_anonymous_goes_to_log_in(name: str, world: World) -> None:
    row = ROWS[name]
    response = _call(Client(), row.methods[0], _url(name, world), row.data)
    if name == "recording_audio":  # an audio element cannot follow a log-in redirect: refused
        assert response.status_code == 403 and "Location" not in response
        return
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "name", sorted(n for n, r in ROWS.items() if not r.public and n != "recording_audio")
)
def test_the_allowed_persona_gets_through(name: str, world: World) -> None:
    row = ROWS[name]
    client = Client()
    client.force_login(persona(world.p, row.owner))
    response = _call(client, row.methods[-1], _url(name, world), row.data)
    assert response.status_code in {200, 302, 303}, response.status_code
    with tenant_scope(world.rec.tenant_id):
        assert Recording.objects.filter(pk=world.rec.pk).exists()


@pytest.fixture
def manage_ids(world: World) -> dict[str, Any]:
    from recordings.rules import add_rule
    from tenants.services import create_pbx_key

    issued = create_pbx_key(tenant=world.p.tenant_a, name="k")
    rule = add_rule(user=world.p.users["never"], list_type="whitelist", number="+31611111111")
    world.ids.update(
        {
            "user_id": world.p.users["never"].pk,
            "team_id": world.p.sales.pk,
            "key_id": issued.key.pk,
            "rule_id": rule.pk,
        }
    )
    return world.ids


MANAGE_ROWS: dict[str, tuple[tuple[str, ...], bool]] = {
    # name: (allowed methods, has an object of tenant A in the URL)
    "manage_home": (("GET",), False),
    "manage_users": (("GET", "POST"), False),
    "manage_user": (("GET",), True),
    "manage_user_update": (("POST",), True),
    "manage_user_product": (("POST",), True),
    "manage_user_active": (("POST",), True),
    "manage_user_offboard": (("GET", "POST"), True),
    "manage_user_password": (("POST",), True),
    "manage_user_rules": (("GET", "POST"), True),
    "manage_user_rule_remove": (("POST",), True),
    "manage_teams": (("GET", "POST"), False),
    "manage_team": (("GET", "POST"), True),
    "manage_team_delete": (("POST",), True),
    "manage_keys": (("GET", "POST"), False),
    "manage_key_revoke": (("POST",), True),
    "manage_settings": (("GET", "POST"), False),
    "manage_keyword_alerts": (("GET", "POST"), False),
    "manage_keyword_alert_remove": (("POST",), True),
    "manage_transcripts": (("GET", "POST"), False),
    "manage_audit": (("GET",), False),
    "manage_audit_export": (("POST",), False),
    "manage_users_bulk_licence": (("POST",), False),
    "manage_calls": (("GET",), False),
    "manage_overview": (("GET",), False),
    "manage_calls_export": (("POST",), False),
}
ROWS.update({name: Row(methods, "admin", "listener") for name, (methods, _obj) in MANAGE_ROWS.items()})


@pytest.mark.parametrize("name", sorted(MANAGE_ROWS))
def test_manage_wrong_role_other_tenant_and_method(
    name: str, world: World, manage_ids: dict[str, Any]
) -> None:
    methods, has_object = MANAGE_ROWS[name]
    url = _url(name, world)
    for persona_key in ("listener", "user"):
        client = Client()
        client.force_login(persona(world.p, persona_key))
        assert _call(client, methods[-1], url, {}).status_code == 403
    admin = Client()
    admin.force_login(world.p.admin)
    for method in ("GET", "POST", "PUT", "DELETE"):
        if method not in methods:
            assert _call(admin, method, url, {}).status_code == 405, method
    charlie = Client()
    charlie.force_login(world.p.charlie)
    if has_object:
        assert _call(charlie, methods[-1], url, {"name": "x", "active": "0"}).status_code == 404
    else:
        assert _call(charlie, methods[0], url, {}).status_code in {200, 302}
