"""The insider matrix (issue 13): every privileged persona x every way to a recording's audio or
content, with the answer each must get.

Tenant isolation is tests/test_isolation.py. This file asks the other question: inside the
tenant, and from the support side, can anyone hear (or read) what they may not? One recording is
at stake: a standard recording of ``user_always`` (the owner, team Sales), with a label, a
comment and a PIN-protected share link. The listener of Sales may hear it (visible_to); the
customer admin and a colleague in the same team may not; support staff and a superuser have no
way to it at all; the share recipient has the link and the PIN; "anonymous" holds the owner's
stream URLs without any credential; "signed_out" holds the owner's URLs and the owner's own
credentials after log-out (the old session cookie, the API token revoked by the app's log-out).

How each persona asks (:func:`_portal`, :func:`_api`): customer users with their own browser
session (portal and admin) or their own API token (API); support staff and the superuser with
the session of the real log-in form and their authenticator code (they have no app token);
the recipient with the browser in which it entered the
share's PIN; anonymous with none; signed_out with the dead session cookie or revoked token.

Stream URLs: "own URL" is one issued to the persona itself (bound to its own session; the
persona's own API stream URL where it may ask for one), "copied URL" is the owner's, presented
with the persona's credential. Personas without a URL of their own (anonymous, the recipient)
use the owner's in both rows; signed_out uses the URL issued to its old credential.

Each cell expects a set of statuses and whether the content arrives: for an allowed audio cell
the recording's exact bytes, for an allowed page its marker; a denied cell must not carry audio,
a ZIP, an audio or ZIP Content-Type or an attachment, nor the row's marker.

``test_every_route_has_a_row_or_a_reason`` walks every URL pattern of the project (the admin and
allauth included, with tests/test_isolation.py's walker) and fails when a route is neither in the
matrix nor in :data:`NO_RECORDING_CONTENT`, the reviewed list of routes that cannot carry a
recording's content, each with its reason; the project's management commands likewise.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recordings import privacy, social, streaming
from recordings.models import Call, Recording, ShareLink
from tenants import services
from tenants.api.tokens import issue_api_token
from tenants.models import Role, User
from tenants.scoping import tenant_scope
from tests.base import PASSWORD, Personas, login, make_superuser
from tests.factories import make_recording
from tests.streams import player_audio_url
from tests.test_isolation import url_patterns

PERSONAS = (
    "owner",  # the positive control
    "listener",  # listens to team Sales: may hear the owner's standard recordings
    "admin",  # the customer admin: hears only their own (visible_to)
    "colleague",  # another user of the same tenant and team
    "support",  # support staff (Django admin, no permissions of its own)
    "superuser",  # support staff with every Django-admin permission
    "recipient",  # a share recipient: the share link and its PIN, no account
    "anonymous",  # the owner's old URLs, no credential at all
    "signed_out",  # the owner's old URLs with the owner's dead session cookie / revoked token
)
REMOTE = "+31611112222"  # the other party of the call: a data subject
OWN_NUMBER = "+31201234567"  # the tenant's own line (local_number of every factory recording)
PIN = "4321"
COMMENT = "a private remark about the customer"
LABEL = "insider-label"
NEW_PASSWORD = "a brand new password 42"


@dataclass
class World:
    p: Personas
    people: dict[str, User]
    rec: Recording
    audio: bytes  # the recording's stored bytes
    share: ShareLink
    share_token: str
    used_copy_token: str
    comment_id: Any
    call_id: Any  # the call behind the recording (the support admin's call pages)
    clients: dict[str, Client] = field(default_factory=dict)  # persona -> its browser
    tokens: dict[str, str] = field(default_factory=dict)  # persona -> its API token
    api_tokens: dict[str, Any] = field(default_factory=dict)  # persona -> that token's row
    portal_urls: dict[str, str] = field(default_factory=dict)  # persona -> its old portal URL
    api_urls: dict[str, str] = field(default_factory=dict)  # persona -> its old API URL


def _session_key(client: Client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else None


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _call_of(rec: Recording) -> Call:
    """The recording's call as the telephony interface left it, with the upload's key kept (a
    secret the support admin's call pages must not show)."""
    with tenant_scope(rec.tenant_id):
        call = Call.objects.create(
            tenant_id=rec.tenant_id,
            pbx_call_id="insider-1",
            user=rec.owner,
            kind=rec.kind,
            direction=rec.direction,
            leg=rec.leg,
            local_number=rec.local_number or "+31201234567",
            remote_number=REMOTE,
            started_at=rec.started_at,
            ended_at=rec.ended_at,
            record=True,
            announce=True,
            state=Call.State.RECORDED,
            upload_key=f"{rec.storage_key}.upload",
        )
        Recording.objects.filter(pk=rec.pk).update(call=call)
    return call


@pytest.fixture
def world(personas: Personas) -> World:
    p = personas
    owner = p.users["always"]
    rec = make_recording(owner, remote_number=REMOTE)
    call = _call_of(rec)
    with storages["recordings"].open(rec.storage_key, "rb") as stored:
        audio = stored.read()
    social.add_label(recording=rec, name=LABEL, acting_user=owner)
    comment = social.add_comment(recording=rec, text=COMMENT, acting_user=owner)
    issued = social.create_share(recording=rec, acting_user=owner, pin=PIN)
    used_copy_token = _used_access_copy_link(p)
    people = {
        "owner": owner,
        "listener": p.listener,
        "admin": p.admin,
        "colleague": p.users["always_pause"],
        "support": p.support,
        "superuser": make_superuser(),
    }
    w = World(p, people, rec, audio, issued.share, issued.token, used_copy_token, comment.pk, call.pk)

    # signed_out first: the owner's URLs of a browser and an app that then signed out.
    browser = Client()
    browser.force_login(owner)
    dead_cookie = _session_key(browser)
    w.portal_urls["signed_out"] = player_audio_url(browser, rec)
    assert browser.post(reverse("account_logout")).status_code == 302
    w.clients["signed_out"] = Client()
    w.clients["signed_out"].cookies[settings.SESSION_COOKIE_NAME] = dead_cookie or ""
    app_token = issue_api_token(user=owner, name="old phone", acting_user=owner).secret
    w.api_urls["signed_out"] = _api_stream_path(rec, app_token)
    assert _api_post(reverse("api:logout"), app_token).status_code == 204
    w.tokens["signed_out"] = app_token

    for name, person in people.items():
        client = Client()
        if person.is_staff:  # as the admin requires: password and authenticator code
            TOTP.activate(person, generate_totp_secret())
            assert login(client, person.username).status_code == 302
        else:
            client.force_login(person)
        w.clients[name] = client
        if person.tenant_id is not None:
            issued_token = issue_api_token(user=person, name="phone", acting_user=person)
            w.tokens[name], w.api_tokens[name] = issued_token.secret, issued_token.token
    w.portal_urls["owner"] = player_audio_url(w.clients["owner"], rec)
    w.api_urls["owner"] = _api_stream_path(rec, w.tokens["owner"])

    recipient = Client()
    assert recipient.post(reverse("share_page", args=[issued.token]), {"pin": PIN}).status_code == 302
    w.clients["recipient"] = recipient
    w.clients["anonymous"] = Client()
    return w


def _used_access_copy_link(p: Personas) -> str:
    """The link of an access copy the data subject has downloaded already: an old URL now. With
    four eyes (issue 13) a second admin approves the request before any link exists."""
    if hasattr(privacy, "approve_access_copy"):
        second = services.create_user(tenant=p.tenant_a, username="bea", password=PASSWORD, role=Role.ADMIN)
        TOTP.activate(second, generate_totp_secret())
        asked = privacy.request_access_copy(
            tenant=p.tenant_a, number=REMOTE, reason="The person's letter", acting_user=p.admin
        )
        token = privacy.approve_access_copy(tenant=p.tenant_a, copy_id=asked.pk, acting_user=second).token
    else:
        token = privacy.create_access_copy(tenant=p.tenant_a, number=REMOTE, acting_user=p.admin).token
    downloaded = _result(Client().post(reverse("privacy:access_copy", args=[token])))
    assert downloaded.status == 200 and downloaded.body.startswith(b"PK\x03\x04")
    return token


def _api_post(url: str, token: str) -> Any:
    return Client().post(url, headers={"authorization": f"Bearer {token}"})


def _api_stream_path(rec: Recording, token: str) -> str:
    response = _api_post(reverse("api:recording_stream", args=[rec.pk]), token)
    assert response.status_code == 200
    return _path(response.json()["url"])


# --- how a persona asks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    status: int
    body: bytes
    headers: dict[str, str]


def _result(response: Any) -> Result:
    # A streaming response is read to its end, as a browser would.
    streamed = getattr(response, "streaming", False)
    body = b"".join(response.streaming_content) if streamed else response.content
    return Result(response.status_code, body, {k.lower(): v for k, v in response.headers.items()})


def _portal(w: World, who: str) -> Client:
    """The persona's browser (its session; the recipient's holds the share's PIN)."""
    return w.clients[who]


def _api(w: World, who: str) -> tuple[Client, dict[str, str]]:
    """An API call as the persona: its app token where it has one (signed_out: the revoked
    one), else its browser session (support staff and the superuser have no app)."""
    if who in w.tokens:
        return Client(), {"authorization": f"Bearer {w.tokens[who]}"}
    return w.clients[who], {}


def _api_get(w: World, who: str, url: str) -> Result:
    client, headers = _api(w, who)
    return _result(client.get(url, headers=headers))


def _own_portal_url(w: World, who: str) -> str:
    if who in w.portal_urls:
        return w.portal_urls[who]
    person = w.people.get(who)
    if person is None:  # anonymous and the recipient have no URL of their own
        return w.portal_urls["owner"]
    return streaming.stream_url(user=person, recording=w.rec, session_key=_session_key(w.clients[who]))


def _own_api_url(w: World, who: str) -> str:
    if who in w.api_urls:
        return w.api_urls[who]
    person = w.people.get(who)
    if person is None:
        return w.api_urls["owner"]
    client, headers = _api(w, who)
    asked = client.post(reverse("api:recording_stream", args=[w.rec.pk]), headers=headers)
    if asked.status_code == 200:
        return _path(asked.json()["url"])
    # Refused a URL: one minted for the persona anyway, bound to its own credential (its app
    # token; staff: their session), to test the audio endpoint's own check. (Before the stream
    # branch of issue 13, stream tokens take no app token: then the session binding.)
    bind: dict[str, Any] = {"session_key": _session_key(w.clients[who])}
    if who in w.api_tokens and "api_token" in inspect.signature(streaming.issue_stream_token).parameters:
        bind = {"api_token": w.api_tokens[who]}
    token = streaming.issue_stream_token(user=person, recording=w.rec, **bind)
    return f"{reverse('api:recording_audio', args=[w.rec.pk])}?t={token}"


def _copied_portal_url(w: World, who: str) -> str:
    return w.portal_urls["signed_out" if who == "signed_out" else "owner"]


def _copied_api_url(w: World, who: str) -> str:
    return w.api_urls["signed_out" if who == "signed_out" else "owner"]


def _share_audio_url(w: World) -> str:
    """The audio URL the share page hands the recipient once the PIN is right."""
    token = streaming.issue_share_stream_token(share=w.share)
    return f"{reverse('share_audio', args=[w.share_token])}?t={token}"


def _subject_request(w: World, who: str, number: str) -> Result:
    """Ask for the access copy of ``number``; if a link comes back, follow it to the ZIP (the
    data subject's link is in the asker's hands then)."""
    client = _portal(w, who)
    response = client.post(reverse("privacy:subject_access_copy"), {"number": number})
    link = re.search(r"/privacy/copy/([^/\"'<\s]+)/", response.content.decode(errors="replace"))
    if response.status_code == 200 and link:
        return _result(client.post(reverse("privacy:access_copy", args=[link.group(1)])))
    return _result(response)


def _set_password(w: World, who: str) -> Result:
    url = reverse("admin:auth_user_password_change", args=[w.people["owner"].pk])
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    return _result(_portal(w, who).post(url, data))


def _add_customer_user(w: World, who: str) -> Result:
    data = {
        "username": "mole",
        "tenant": str(w.p.tenant_a.pk),
        "role": "user",
        "pbx_id": "",
        "email": "",
        "password": NEW_PASSWORD,
        "_save": "Save",
    }
    return _result(_portal(w, who).post(reverse("admin:tenants_user_add"), data))


# --- what counts as the content having arrived ----------------------------------------------------

AUDIO_MAGIC = (b"RIFF", b"OggS", b"ID3", b"fLaC", b"PK\x03\x04")  # PK: a ZIP (of audio)
MPEG_SYNC = re.compile(rb"\xff[\xe0-\xff]")  # an MPEG frame header; never in UTF-8 text


def _holds_audio(w: World, r: Result) -> bool:
    """Audio (or a ZIP) at the start, an MPEG frame header anywhere, or a piece of the file."""
    piece = w.audio[len(w.audio) // 2 :][:64]
    return r.body.startswith(AUDIO_MAGIC) or bool(MPEG_SYNC.search(r.body)) or piece in r.body


def _gets_the_audio(w: World, r: Result) -> bool:
    return r.body == w.audio and r.headers.get("content-type", "").startswith("audio/")


def _shows(*markers: str) -> Callable[[World, Result], bool]:
    def leaked(w: World, r: Result) -> bool:
        body = r.body.decode(errors="replace")
        return any(m.format(rec=w.rec.pk) in body for m in markers)

    return leaked


def _owner_password_changed(w: World, r: Result) -> bool:
    owner = User.objects.get(pk=w.people["owner"].pk)
    return owner.check_password(NEW_PASSWORD)


def _mole_has_a_password(w: World, r: Result) -> bool:
    mole = User.objects.filter(username="mole").first()
    return mole is not None and mole.check_password(NEW_PASSWORD)


def _a_zip(w: World, r: Result) -> bool:
    return r.body.startswith(b"PK\x03\x04") or "attachment" in r.headers.get("content-disposition", "")


@dataclass(frozen=True)
class Route:
    url_name: str  # the URL pattern this row covers (for the completeness check)
    probe: Callable[[World, str], Result]
    leaked: Callable[[World, Result], bool]  # did the content (audio, text, credential) arrive?
    exports_metadata: bool = False  # an attachment by design (a register, never recordings)


def _get(url_name: str, *args: Callable[[World], Any], data: dict[str, str] | None = None) -> Any:
    def probe(w: World, who: str) -> Result:
        url = reverse(url_name, args=[arg(w) for arg in args])
        return _result(_portal(w, who).get(url, data or {}))

    return probe


def _rec(w: World) -> Any:
    return w.rec.pk


def _share(w: World) -> str:
    return w.share_token


# A row of the subject search's results: the owner's name in its cell (the name alone is in every
# page's header for its own session).
FOUND_ROW = "<td>user_always</td>"
SECRETS_OF_THE_RECORDING = ("<audio", COMMENT, "{rec}.mp3", REMOTE, "/audio?t=", "/s/")

ROUTES: dict[str, Route] = {
    # --- the portal ---------------------------------------------------------------------------
    "portal list": Route("home", _get("home"), _shows("/r/{rec}/")),
    "portal player page": Route("player", _get("player", _rec), _shows("<audio", COMMENT)),
    "portal audio, own URL": Route(
        "recording_audio",
        lambda w, who: _result(_portal(w, who).get(_own_portal_url(w, who))),
        _gets_the_audio,
    ),
    "portal audio, copied URL": Route(
        "recording_audio",
        lambda w, who: _result(_portal(w, who).get(_copied_portal_url(w, who))),
        _gets_the_audio,
    ),
    "portal comment edit": Route(
        "comment_edit",
        lambda w, who: _result(_portal(w, who).get(reverse("comment_edit", args=[w.rec.pk, w.comment_id]))),
        _shows(COMMENT),
    ),
    "portal new share PIN": Route(
        "share_pin_reset",
        lambda w, who: _result(
            _portal(w, who).post(reverse("share_pin_reset", args=[w.rec.pk, w.share.pk]), {"pin": "98765"})
        ),
        _shows("<audio", COMMENT),
    ),
    "portal new share link": Route(
        "share_create",
        lambda w, who: _result(
            _portal(w, who).post(reverse("share_create", args=[w.rec.pk]), {"expires_in": "7d"})
        ),
        _shows("/s/", "<audio"),
    ),
    # --- the share link -----------------------------------------------------------------------
    "share page": Route("share_page", _get("share_page", _share), _shows("/audio?t=", "<audio")),
    "share audio": Route(
        "share_audio", lambda w, who: _result(_portal(w, who).get(_share_audio_url(w))), _gets_the_audio
    ),
    # --- the mobile app's API -----------------------------------------------------------------
    "API list": Route(
        "api:recordings", lambda w, who: _api_get(w, who, reverse("api:recordings")), _shows("{rec}")
    ),
    "API detail": Route(
        "api:recording",
        lambda w, who: _api_get(w, who, reverse("api:recording", args=[w.rec.pk])),
        _shows("{rec}"),
    ),
    "API transcript": Route(
        "api:recording_transcript",
        lambda w, who: _api_get(w, who, reverse("api:recording_transcript", args=[w.rec.pk])),
        _shows("{rec}"),
    ),
    "API stream URL": Route(
        "api:recording_stream",
        lambda w, who: _result(
            _api(w, who)[0].post(reverse("api:recording_stream", args=[w.rec.pk]), headers=_api(w, who)[1])
        ),
        _shows("/audio?t="),
    ),
    "API audio, own URL": Route(
        "api:recording_audio", lambda w, who: _api_get(w, who, _own_api_url(w, who)), _gets_the_audio
    ),
    "API audio, copied URL": Route(
        "api:recording_audio", lambda w, who: _api_get(w, who, _copied_api_url(w, who)), _gets_the_audio
    ),
    "API comments": Route(
        "api:comments",
        lambda w, who: _api_get(w, who, reverse("api:comments", args=[w.rec.pk])),
        _shows(COMMENT),
    ),
    "API labels": Route(
        "api:labels",
        lambda w, who: _api_get(w, who, reverse("api:labels", args=[w.rec.pk])),
        _shows(LABEL),
    ),
    "API new share link": Route(
        "api:shares",
        lambda w, who: _result(
            _api(w, who)[0].post(
                reverse("api:shares", args=[w.rec.pk]),
                {"expires_in": "7d"},
                content_type="application/json",
                headers=_api(w, who)[1],
            )
        ),
        _shows("/s/"),
    ),
    # --- the data-subject tools (customer admins) ---------------------------------------------
    "subject search, other party": Route(
        "privacy:subjects", _get("privacy:subjects", data={"number": REMOTE}), _shows(FOUND_ROW)
    ),
    "subject search, own line": Route(
        "privacy:subjects", _get("privacy:subjects", data={"number": OWN_NUMBER}), _shows(FOUND_ROW)
    ),
    "subject CSV, other party": Route(
        "privacy:subject_csv", _get("privacy:subject_csv", data={"number": REMOTE}), _shows("{rec}")
    ),
    "subject CSV, own line": Route(
        "privacy:subject_csv", _get("privacy:subject_csv", data={"number": OWN_NUMBER}), _shows("{rec}")
    ),
    "subject JSON, other party": Route(
        "privacy:subject_json", _get("privacy:subject_json", data={"number": REMOTE}), _shows("{rec}")
    ),
    "subject JSON, own line": Route(
        "privacy:subject_json", _get("privacy:subject_json", data={"number": OWN_NUMBER}), _shows("{rec}")
    ),
    "access copy, one admin alone": Route(
        "privacy:subject_access_copy", lambda w, who: _subject_request(w, who, REMOTE), _a_zip
    ),
    "access copy, own line": Route(
        "privacy:subject_access_copy", lambda w, who: _subject_request(w, who, OWN_NUMBER), _a_zip
    ),
    "access copy, used link": Route(
        "privacy:access_copy",
        lambda w, who: _result(
            _portal(w, who).post(reverse("privacy:access_copy", args=[w.used_copy_token]))
        ),
        _a_zip,
    ),
    # --- exports and print views --------------------------------------------------------------
    "audit log": Route("manage_audit", _get("manage_audit"), _shows(COMMENT, LABEL)),
    "audit log, CSV": Route(
        "manage_audit_export",
        lambda w, who: _result(_portal(w, who).post(reverse("manage_audit_export"))),
        _shows(COMMENT, LABEL),
        exports_metadata=True,
    ),
    "calls list": Route(
        "manage_calls", _get("manage_calls"), _shows(COMMENT, LABEL, "{rec}/audio", "/r/{rec}/")
    ),
    "calls, CSV": Route(
        "manage_calls_export",
        lambda w, who: _result(_portal(w, who).post(reverse("manage_calls_export"))),
        _shows(COMMENT, LABEL, "{rec}/audio", "/r/{rec}/"),
        exports_metadata=True,
    ),
    "register, print view": Route(
        "privacy:register_document", _get("privacy:register_document"), _shows(*SECRETS_OF_THE_RECORDING)
    ),
    "register, Markdown": Route(
        "privacy:register_markdown",
        _get("privacy:register_markdown"),
        _shows(*SECRETS_OF_THE_RECORDING),
        exports_metadata=True,
    ),
    "staff policy": Route(
        "privacy:staff_policy", _get("privacy:staff_policy"), _shows(*SECRETS_OF_THE_RECORDING)
    ),
    # --- the Django admin (support staff) -----------------------------------------------------
    "admin recordings": Route(
        "admin:recordings_recording_changelist",
        _get("admin:recordings_recording_changelist"),
        _shows(*SECRETS_OF_THE_RECORDING),
    ),
    "admin recording": Route(
        "admin:recordings_recording_change",
        _get("admin:recordings_recording_change", _rec),
        _shows(*SECRETS_OF_THE_RECORDING, "{rec}/audio"),
    ),
    "admin calls": Route(
        "admin:recordings_call_changelist",
        _get("admin:recordings_call_changelist"),
        _shows(*SECRETS_OF_THE_RECORDING),
    ),
    "admin call": Route(
        "admin:recordings_call_change",
        _get("admin:recordings_call_change", lambda w: w.call_id),
        _shows(*SECRETS_OF_THE_RECORDING, ".upload"),
    ),
    "admin: customer's password": Route(
        "admin:auth_user_password_change", _set_password, _owner_password_changed
    ),
    "admin: new customer user": Route("admin:tenants_user_add", _add_customer_user, _mole_has_a_password),
}


@dataclass(frozen=True)
class Expect:
    statuses: frozenset[int]
    content: bool  # True: the content arrives (allowed); False: it must not (denied)

    def __repr__(self) -> str:
        return f"{'gets' if self.content else 'denied'}{sorted(self.statuses)}"


def D(*statuses: int) -> Expect:
    """Denied: one of ``statuses``, and no audio, no ZIP, no attachment, no marker."""
    return Expect(frozenset(statuses), content=False)


OK = Expect(frozenset({200}), content=True)
NEW = Expect(frozenset({200, 201}), content=True)
AUDIO = Expect(frozenset({200, 206}), content=True)
EMPTY = D(200)  # a page, without the content (the share page without the PIN: its PIN form)
LOGIN = D(302)  # the portal and the admin send a browser without a live session to log in
R400, R401, R403, R404 = D(400), D(401), D(403), D(404)
DENY = D(403, 404)  # refused (404: the person cannot see the recording at all)
GONE = D(302, 403)  # an audio URL without the live session it was issued to: log in, or refused
NOURL = D(401, 403)  # an API audio URL without its person's live token
REFUSE = D(200, 400)  # the form again with an error, or a 400
PENDING = D(200, 202, 302, 303, 400, 403)  # one admin's request: awaits a second admin, or refused
META = D(200, 403)  # the admin's metadata at most (support staff may be given the view permission)
NOPWD = D(200, 302, 403)  # the form, a user made without a password, or refused

# One line per route, one column per persona (PERSONAS order); see the module docstring.
#                                    owner   listen  admin   collg   support super   recip   anon    signd_out
MATRIX: dict[str, tuple[Expect, ...]] = {
    "portal list":                   (OK,     OK,     EMPTY,  EMPTY,  R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "portal player page":            (OK,     OK,     R404,   R404,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "portal audio, own URL":         (AUDIO,  AUDIO,  DENY,   DENY,   R403,   R403,   GONE,   GONE,   GONE),
    "portal audio, copied URL":      (AUDIO,  R403,   DENY,   DENY,   R403,   R403,   GONE,   GONE,   GONE),
    "portal comment edit":           (OK,     R403,   R404,   R404,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "portal new share link":         (OK,     R403,   R404,   R404,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "portal new share PIN":          (OK,     R403,   R404,   R404,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "share page":                    (EMPTY,  EMPTY,  EMPTY,  EMPTY,  EMPTY,  EMPTY,  OK,     EMPTY,  EMPTY),
    "share audio":                   (R403,   R403,   R403,   R403,   R403,   R403,   AUDIO,  R403,   R403),
    "API list":                      (OK,     OK,     EMPTY,  EMPTY,  R401,   R401,   R401,   R401,   R401),
    "API detail":                    (OK,     OK,     R404,   R404,   R401,   R401,   R401,   R401,   R401),
    "API stream URL":                (OK,     OK,     R404,   R404,   R401,   R401,   R401,   R401,   R401),
    "API transcript":                (OK,     OK,     R404,   R404,   R401,   R401,   R401,   R401,   R401),
    "API audio, own URL":            (AUDIO,  AUDIO,  DENY,   DENY,   NOURL,  NOURL,  NOURL,  NOURL,  NOURL),
    "API audio, copied URL":         (AUDIO,  R403,   DENY,   DENY,   NOURL,  NOURL,  NOURL,  NOURL,  NOURL),
    "API comments":                  (OK,     OK,     R404,   R404,   R401,   R401,   R401,   R401,   R401),
    "API labels":                    (OK,     OK,     R404,   R404,   R401,   R401,   R401,   R401,   R401),
    "API new share link":            (NEW,    R403,   R404,   R404,   R401,   R401,   R401,   R401,   R401),
    # The subject tools are the admin's; a subject is the other party, never the tenant's line.
    "subject search, other party":   (R403,   R403,   OK,     R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "subject search, own line":      (R403,   R403,   REFUSE, R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "subject CSV, other party":      (R403,   R403,   OK,     R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "subject CSV, own line":         (R403,   R403,   R400,   R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "subject JSON, other party":     (R403,   R403,   OK,     R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "subject JSON, own line":        (R403,   R403,   R400,   R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    # Four eyes: one admin's request yields no ZIP (a page saying it awaits a second admin,
    # or a refusal); the own line is refused outright.
    "access copy, one admin alone":  (R403,   R403,   PENDING, R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "access copy, own line":         (R403,   R403,   REFUSE, R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "access copy, used link":        (R404,   R404,   R404,   R404,   R404,   R404,   R404,   R404,   R404),
    "audit log":                     (R403,   R403,   EMPTY,  R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "audit log, CSV":                (R403,   R403,   EMPTY,  R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "calls list":                    (R403,   R403,   EMPTY,  R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "calls, CSV":                    (R403,   R403,   EMPTY,  R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "register, print view":          (R403,   R403,   EMPTY,  R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "register, Markdown":            (R403,   R403,   EMPTY,  R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    "staff policy":                  (R403,   R403,   EMPTY,  R403,   R403,   R403,   LOGIN,  LOGIN,  LOGIN),
    # Support staff see metadata at most; never audio, a storage key, a number or a comment.
    "admin recordings":              (LOGIN,  LOGIN,  LOGIN,  LOGIN,  META,   EMPTY,  LOGIN,  LOGIN,  LOGIN),
    "admin recording":               (LOGIN,  LOGIN,  LOGIN,  LOGIN,  META,   EMPTY,  LOGIN,  LOGIN,  LOGIN),
    "admin calls":                   (LOGIN,  LOGIN,  LOGIN,  LOGIN,  META,   EMPTY,  LOGIN,  LOGIN,  LOGIN),
    "admin call":                    (LOGIN,  LOGIN,  LOGIN,  LOGIN,  META,   EMPTY,  LOGIN,  LOGIN,  LOGIN),
    # Staff never hold a customer's credentials (a password reset is the customer's admins', or
    # a link to the user's own e-mail address).
    "admin: customer's password":    (LOGIN,  LOGIN,  LOGIN,  LOGIN,  DENY,   DENY,   LOGIN,  LOGIN,  LOGIN),
    "admin: new customer user":      (LOGIN,  LOGIN,  LOGIN,  LOGIN,  R403,   NOPWD,  LOGIN,  LOGIN,  LOGIN),
}  # fmt: skip

CELLS: list[tuple[str, str, Expect]] = [
    (who, route, expected)
    for route, row in MATRIX.items()
    for who, expected in zip(PERSONAS, row, strict=True)
]


def _slug(text: str) -> str:
    """A test id that ``pytest -k`` can take: ``owner-portal_audio_own_URL``."""
    return re.sub(r"\W+", "_", text).strip("_")


def _check(w: World, route: Route, expected: Expect, r: Result, where: str) -> None:
    assert r.status in expected.statuses, f"{where}: status {r.status}, expected {expected!r}"
    if expected.content:
        assert route.leaked(w, r), f"{where}: the content did not arrive (status {r.status})"
        return
    content_type = r.headers.get("content-type", "")
    assert not _holds_audio(w, r), f"{where}: audio or a ZIP in the body"
    assert not content_type.startswith(("audio/", "application/zip")), f"{where}: {content_type}"
    if not route.exports_metadata:
        disposition = r.headers.get("content-disposition", "")
        assert "attachment" not in disposition, f"{where}: {disposition}"
    assert not route.leaked(w, r), f"{where}: the content arrived"


def test_the_denied_check_sees_audio_zips_and_attachments() -> None:
    """A denied cell's check is not blind: audio, a piece of it in a page, a ZIP, an audio
    Content-Type or an attachment each fail it (a dead check would pass every denied cell)."""
    from tests.factories import rendition

    audio = rendition()[0]
    w: Any = SimpleNamespace(audio=audio)
    route = Route("home", lambda _w, _who: Result(200, b"", {}), lambda _w, _r: False)
    middle = audio[len(audio) // 2 :][:64]
    for body, headers in [
        (audio, {"content-type": "application/octet-stream"}),
        (b"<html>" + middle + b"</html>", {"content-type": "text/html"}),
        (b"PK\x03\x04 a zip", {"content-type": "application/octet-stream"}),
        (b"{}", {"content-type": "audio/mpeg"}),
        (b"{}", {"content-type": "application/json", "content-disposition": "attachment; filename=a"}),
    ]:
        with pytest.raises(AssertionError):
            _check(w, route, D(200), Result(200, body, headers), "self-test")
    _check(w, route, D(200), Result(200, b"<p>nothing</p>", {"content-type": "text/html"}), "self-test")


@pytest.mark.parametrize(("who", "route", "expected"), CELLS, ids=[f"{w}-{_slug(r)}" for w, r, _e in CELLS])
def test_cell(who: str, route: str, expected: Expect, world: World) -> None:
    result = ROUTES[route].probe(world, who)
    _check(world, ROUTES[route], expected, result, f"{who} at {route!r}")


def test_the_matrix_is_complete() -> None:
    """Every route row has one answer per persona, and every row has a way to ask."""
    assert set(MATRIX) == set(ROUTES)
    for route, row in MATRIX.items():
        assert len(row) == len(PERSONAS), route
    # The positive controls: someone gets each way's content, so a dead probe cannot pass.
    for route, row in MATRIX.items():
        if not route.startswith(("access copy", "admin", "audit", "calls", "register", "staff", "subject")):
            assert any(e.content for e in row), f"{route}: no persona gets the content"


# --- the share recipient: only the shared recording, only with the PIN, only while it lives ---


def _enter_pin(client: Client, token: str, pin: str) -> int:
    return client.post(reverse("share_page", args=[token]), {"pin": pin}).status_code


def _live_right_pin(w: World, c: Client) -> None:
    assert _enter_pin(c, w.share_token, PIN) == 302


def _no_pin(w: World, c: Client) -> None:
    assert c.get(reverse("share_page", args=[w.share_token])).status_code == 200


def _wrong_pin(w: World, c: Client) -> None:
    assert _enter_pin(c, w.share_token, "9999") in {403, 429}


def _revoked(w: World, c: Client) -> None:
    _live_right_pin(w, c)  # heard it once; then the owner ends the link
    social.revoke_share(share=w.share, acting_user=w.people["owner"])


def _expired(w: World, c: Client) -> None:
    _live_right_pin(w, c)
    ShareLink.objects.unscoped().filter(pk=w.share.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )


def _locked(w: World, c: Client) -> None:
    """Ten wrong PINs lock the share: then even the right one is refused."""
    guesser = Client()
    for _n in range(10):
        assert _enter_pin(guesser, w.share_token, "9999") in {403, 429}
    assert _enter_pin(c, w.share_token, PIN) in {403, 429}


def _recording_deleted(w: World, c: Client) -> None:
    _live_right_pin(w, c)
    Recording.objects.unscoped().filter(pk=w.rec.pk).update(deleted_at=timezone.now())


SHARE_STATES: list[tuple[str, Callable[[World, Client], None], Expect]] = [
    ("live, right PIN", _live_right_pin, AUDIO),
    ("no PIN entered", _no_pin, D(403)),
    ("wrong PIN", _wrong_pin, D(403)),
    ("revoked after listening", _revoked, D(403, 404, 410)),
    ("expired after listening", _expired, D(403, 404, 410)),
    ("locked by 10 wrong PINs, then the right one", _locked, D(403, 429)),
    ("recording deleted after listening", _recording_deleted, D(403, 404, 410)),
]


@pytest.mark.parametrize(
    ("state", "arrange", "expected"), SHARE_STATES, ids=[_slug(s) for s, _a, _e in SHARE_STATES]
)
def test_share_recipient(
    state: str, arrange: Callable[[World, Client], None], expected: Expect, world: World
) -> None:
    recipient = Client()
    arrange(world, recipient)
    result = _result(recipient.get(_share_audio_url(world)))
    _check(world, ROUTES["share audio"], expected, result, f"recipient, share {state}")


def test_the_share_audio_is_the_shared_recording_only(world: World) -> None:
    """A share's audio token names its recording: it opens no other recording's audio."""
    other = make_recording(world.people["owner"], remote_number="+31699990000")
    recipient = world.clients["recipient"]
    share_token = streaming.issue_share_stream_token(share=world.share)
    for url in (
        f"{reverse('recording_audio', args=[other.pk])}?t={share_token}",
        f"{reverse('api:recording_audio', args=[other.pk])}?t={share_token}",
        f"{reverse('api:recording_audio', args=[world.rec.pk])}?t={share_token}",
    ):
        _check(world, ROUTES["share audio"], D(302, 401, 403, 404), _result(recipient.get(url)), url)


# --- completeness: every route of the project has a row here, or a reason it needs none ---------

_ADMIN_VIEWS = ("changelist", "add", "history", "delete", "change")


def _admin_model(app_model: str, reason: str) -> dict[str, str]:
    """The routes the Django admin makes for one registered model, all with one reason."""
    app, model = app_model.split("/")
    routes = {f"admin:{app}_{model}_{view}": reason for view in _ADMIN_VIEWS}
    routes[f"admin/{app}/{model}/<path:object_id>/"] = f"redirects to the change page; {reason}"
    return routes


# Routes that cannot carry a recording's audio or content, each with the reason (reviewed).
# A route without a name is listed by its pattern.
NO_RECORDING_CONTENT: dict[str, str] = {
    "healthz": "liveness JSON: database, storage and broker state, nothing of a tenant",
    "set_language": "Django's set_language: a cookie and a redirect",
    "switch_language": "stores the person's language and redirects",
    "recording_delete_confirm": "the owner's own playback: a question, no audio URL, no comments",
    "recording_keep": "a state change of the owner's playback; answers a redirect",
    "recording_delete": "a state change of the owner's playback; answers a redirect",
    "label_add": "adds a label to a recording the person may hear (get_recording_for_user)",
    "label_remove": "removes a label of a recording the person may hear",
    "comment_add": "adds a comment to a recording the person may hear",
    "comment_delete": "deletes a comment; answers a redirect or the person's own comment list",
    "share_revoke": "the owner ends a share link; answers a redirect",
    "outbox": "the person's own push prompts (keep or delete a playback): no audio",
    "review": "the Playback user's own unsaved playbacks (visible_to and owner): rows link to the player",
    "plan": "the Playback user's own tier and minutes, and their own next recording due",
    "manifest": "the web app manifest: names, colours and icon URLs, the same for everyone",
    "service_worker": "the service worker's script: shell URLs; it never caches or intercepts "
    "/r/, /s/, /api/ or audio (tests/notifications/test_pwa_browser.py)",
    "offline": "a static page (no user's data: the service worker keeps it)",
    "browser_notifications": "the person's own switch for browser notifications and a count",
    "push_subscribe": "stores the person's own browser subscription; answers JSON with its id",
    "push_unsubscribe": "switches off the person's own browser; answers JSON",
    "push_action": "a notification button: keeps or deletes the one recording its single-use "
    "token names, answers a JSON sentence; the token opens no page and no audio "
    "(tests/notifications/test_webpush.py::test_the_token_never_reaches_audio_or_pages)",
    "manage_home": "a redirect to the admin's first management page",
    "manage_users": "user names, roles and products; no recordings",
    "manage_user": "one user's account and products; no recordings",
    "manage_user_update": "changes a user's name, e-mail or role (customer admins only)",
    "manage_user_product": "changes a user's licence or subscription",
    "manage_users_bulk_licence": "changes several users' licence mode",
    "manage_overview": "counts of calls and minutes per day, product and reason; no recordings",
    "manage_user_active": "activates or deactivates a user",
    "manage_user_offboard": (
        "deactivates a person and keeps, hands over (new owner or team membership) or deletes "
        "their recordings; the pages show counts and names, never audio"
    ),
    "manage_user_password": (
        "sends the person a link to set a password, to their own e-mail; the admin never sees or sets "
        "one (tests/portal/test_manage.py)"
    ),
    "manage_user_rules": "a Playback user's blacklist/whitelist numbers, no recordings",
    "manage_user_rule_remove": "removes one such number",
    "manage_teams": "team names, members and listeners",
    "manage_team": "one team's members and listeners",
    "manage_team_delete": "deletes a team",
    "manage_keys": "the phone system's key names and prefixes",
    "manage_key_revoke": "revokes a phone-system key",
    "manage_settings": "the tenant's settings (retention, announcement, language)",
    "manage_keyword_alerts": "the tenant's keyword alert words and phrases; no recordings, no transcripts",
    "manage_keyword_alert_remove": "removes one keyword alert (labels already put stay)",
    "manage_transcripts": "transcripts on or off, their purpose and redaction options; no recordings",
    "privacy:overview": "links to the privacy pages and counts",
    "privacy:register": "the processing register's form (purpose, interest, retention)",
    "privacy:audit_log": "a redirect to manage_audit (in the matrix)",
    "privacy:subject_erase": "erases a subject's recordings; answers a redirect",
    "api:login": "issues an API token for a user name and password; no recordings",
    "api:logout": "revokes the calling token",
    "api:tokens": "the person's own app sign-ins",
    "api:token": "revokes one of the person's own app sign-ins",
    "api:me": "the person's own account and product",
    "api:recording_keep": "a state change of the owner's playback; answers its metadata",
    "api:label": "removes a label (answers 204)",
    "api:label_suggestions": "the person's own label names",
    "api:comment": "the author edits or removes their own comment",
    "api:share_revoke": "the owner ends a share link; answers its metadata (no token)",
    "api:share_opens": "when the owner's share link was opened; no audio",
    "api:devices": "the person's own push devices",
    "api:device": "removes one of the person's own push devices",
    "api:rules": "a Playback user's own numbers",
    "api:rule": "one of those numbers",
    "api:team": "a listener's team members (names), no recordings",
    "api-schema": "the OpenAPI document",
    "api-docs": "the API's documentation page",
    "api-not-found": "the API's JSON 404 for anything else",
    "rpi:calls": "the phone system reports a call (key-authenticated); answers record or not",
    "rpi:call": "a call's state for the phone system; no audio",
    "rpi:events": "call events from the phone system",
    "rpi:end": "the end of a call from the phone system",
    "rpi:audio": "the phone system uploads audio (inbound only; nothing is read back)",
    "rpi:not_found": "the telephony interface's JSON 404",
    # allauth: signing in and the person's own credentials; no recordings anywhere
    "account_login": "the log-in form",
    "account_logout": "log-out",
    "account_inactive": "says the account is inactive",
    "account_signup": "sign-up (closed: users are made by their admins)",
    "account_reauthenticate": "asks the person's own password again",
    "account_request_reauthentication_code": "re-authentication by e-mailed code",
    "account_confirm_reauthentication_code": "confirms that code",
    "account_email": "the person's own e-mail addresses",
    "account_email_verification_sent": "says a verification e-mail was sent",
    "account_change_password": "the person changes their own password",
    "account_set_password": "the person sets their own first password",
    "account_reset_password": "asks for a reset link to the person's own e-mail address",
    "account_confirm_login_code": "log-in by e-mailed code",
    "account_confirm_email": "confirms an e-mail address",
    "account_reset_password_from_key_done": "says the password was reset",
    "account_reset_password_from_key": "the reset link from the person's own e-mail",
    "account_reset_password_done": "says a reset link was sent",
    "mfa_index": "the person's own second factors",
    "mfa_authenticate": "the authenticator-code step of log-in",
    "mfa_reauthenticate": "re-authentication by authenticator code",
    "mfa_activate_totp": "sets up the person's own authenticator app",
    "mfa_deactivate_totp": "removes it",
    "mfa_view_recovery_codes": "the person's own recovery codes",
    "mfa_generate_recovery_codes": "new recovery codes",
    "mfa_download_recovery_codes": "the person's own recovery codes as text (no recordings)",
    # the Django admin (support staff) beyond the rows above
    "admin:index": "the list of admin sections",
    "admin:login": "the admin's log-in form",
    "admin:logout": "admin log-out",
    "admin:password_change": "the staff member's own password",
    "admin:password_change_done": "says it was changed",
    "admin:autocomplete": "names of related objects for the admin's select boxes (no model here uses it)",
    "admin:jsi18n": "the admin's JavaScript translations",
    "admin:view_on_site": "redirects to get_absolute_url; no registered model has one",
    "admin:app_list": "one app's models",
    "admin/(?P<url>.*)$": "the admin's catch-all: a 404 or a redirect to log in",
    "admin:recordings_recording_add": "refused to everyone (RecordingAdmin.has_add_permission)",
    "admin:recordings_call_add": "refused to everyone (CallAdmin is read-only)",
    "admin:recordings_call_delete": "refused to everyone (CallAdmin is read-only)",
    "admin:recordings_call_history": "the admin's log lines for one call: none can be made",
    "admin/recordings/call/<path:object_id>/": "redirects to the change page (in the matrix)",
    "privacy:access_copies": "the admins' list of access-copy requests: number, reason, who asked, approved",
    "privacy:access_copy_refuse": "refuses a pending access-copy request; answers a redirect",
    "privacy:notice_seen": "marks a user's access-copy notice as read; answers a redirect",
    "privacy:access_copy_approve": (
        "a second admin approves another's request and is shown the one-time link (four eyes; the "
        "requester cannot approve, other roles 403, another tenant 404: tests/privacy/test_subjects.py)"
    ),
    "admin:recordings_recording_delete": "refused to everyone (has_delete_permission)",
    "admin:recordings_recording_history": "the admin's log lines for one recording: none can be made",
    "admin/recordings/recording/<path:object_id>/": "redirects to the change page (in the matrix)",
    "admin:tenants_user_changelist": "user names, tenants, roles",
    "admin:tenants_user_change": "one user's account (roles and teams: tests/tenants, the staff branch)",
    "admin:tenants_user_history": "the admin's log lines for one user",
    "admin:tenants_user_delete": "deletes a user (their recordings stay the tenant's)",
    "admin/tenants/user/<path:object_id>/": "redirects to the change page",
    **_admin_model("auth/group", "permission groups"),
    **_admin_model("account/emailaddress", "users' e-mail addresses"),
    **_admin_model("tenants/tenant", "customers' names and settings; ending a service deletes"),
    **_admin_model("tenants/deletionreport", "counts of an end-of-service purge, no personal data"),
    **_admin_model("tenants/team", "team names, members and listeners"),
    **_admin_model("tenants/licence", "a user's recording mode"),
    **_admin_model("tenants/playbacksubscription", "a user's Playback tier"),
    **_admin_model("tenants/pbxkey", "phone-system key names and prefixes"),
    **_admin_model("tenants/auditentry", "audit entries: actions and ids, read-only"),
    **_admin_model("mfa/authenticator", "that a user has a second factor; never its secret"),
}


def _route_keys() -> set[str]:
    return {name or route for route, name in url_patterns(outside=())}


def test_every_route_has_a_row_or_a_reason() -> None:
    keys = _route_keys()
    in_matrix = {route.url_name for route in ROUTES.values()}
    both = in_matrix & set(NO_RECORDING_CONTENT)
    assert not both, f"in the matrix and also listed as without content: {sorted(both)}"
    missing = keys - in_matrix - set(NO_RECORDING_CONTENT)
    assert not missing, (
        "new routes: add rows to the insider matrix (MATRIX), or, if they cannot carry a "
        f"recording's audio or content, to NO_RECORDING_CONTENT with a reason: {sorted(missing)}"
    )
    stale = (in_matrix | set(NO_RECORDING_CONTENT)) - keys
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"


# Exports outside HTTP: the project's management commands (support staff run them on a server).
# None may write a recording's audio or content out; a new command needs a row here.
COMMANDS_WITHOUT_RECORDING_CONTENT: dict[str, str] = {
    "reconcile_recordings": "lists storage keys and recording ids that do not match; no audio",
    "verify_recordings": "re-hashes stored audio and reports ids that fail; writes no audio out",
    "simulate_calls": "a test phone system: sends synthetic audio in, reads none back",
    "demo": "makes a demo tenant and prints its sign-ins; no customer's recordings",
    "verify_audit_log": "recomputes the audit chains and reports a break",
}


def test_every_management_command_of_the_project_is_reviewed() -> None:
    from django.core.management import get_commands

    apps = {"hiprecorder", "recordings", "tenants", "notifications"}
    ours = {name for name, app in get_commands().items() if app in apps}
    missing = ours - set(COMMANDS_WITHOUT_RECORDING_CONTENT)
    assert not missing, (
        f"new commands: can they write a recording out? Review and list them: {sorted(missing)}"
    )
    stale = set(COMMANDS_WITHOUT_RECORDING_CONTENT) - ours
    assert not stale, f"commands that no longer exist: {sorted(stale)}"
