"""The audit log as people read it: each entry as one sentence in the reader's language, and the
kinds of action a reader filters by.

``SENTENCES`` holds one sentence per action code written anywhere in the code
(tests/tenants/test_audit_sentences.py fails when a code has none); ``PATTERN_SENTENCES`` those of
the support admin's generated codes (``support.<model>.<verb>``). The sentence's placeholders are
filled from the entry: ``actor`` (who), ``person`` (the person it was about), ``team`` and the
entry's own facts (product before and after, a count). Names are those of today, written
"Jan Jansen (jjansen)"; after the end of service erased the entry's personal data, they read
"(erased)", as do its personal details.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.audit.entries import AuditEntry
from tenants.models import PlaybackTier, RecordingMode, Role, Team, User

USER_TARGET = "tenants.user"
TEAM_TARGET = "tenants.team"


@dataclass(frozen=True)
class Kind:
    """A kind of action, as the reader names it; ``codes`` are action codes or, ending in a
    dot, the start of a family of codes."""

    key: str
    label: Promise
    codes: tuple[str, ...]

    def q(self) -> Q:
        query = Q()
        for code in self.codes:
            query |= Q(action__startswith=code) if code.endswith(".") else Q(action=code)
        return query


KINDS: tuple[Kind, ...] = (
    Kind("sign_ins", gettext_lazy("Sign-ins and app access"), ("auth.",)),
    Kind("people", gettext_lazy("People and products"), ("manage.user.",)),
    Kind("teams", gettext_lazy("Teams"), ("manage.team.",)),
    Kind("rules", gettext_lazy("Contact rules"), ("manage.contact_rule.",)),
    Kind(
        "settings",
        gettext_lazy("Settings and phone-system keys"),
        ("manage.settings.", "manage.pbx_key.", "transcripts.", "manage.keyword_alert."),
    ),
    Kind(
        "listening",
        gettext_lazy("Listening and sharing"),
        ("recording.played", "recording.transcript_read", "recording.transcript_snippets_read", "share."),
    ),
    Kind("privacy", gettext_lazy("Privacy"), ("privacy.",)),
    Kind("exports", gettext_lazy("Exports"), ("manage.audit.export", "manage.calls.export")),
    Kind(
        "support",
        gettext_lazy("Support staff and the system"),
        ("support.", "recording.integrity_failed"),
    ),
)
KINDS_BY_KEY = {kind.key: kind for kind in KINDS}

S = gettext_lazy
SENTENCES: dict[str, Promise] = {
    # sign-ins and the app
    "auth.sign_in": S("%(actor)s signed in (%(via)s)"),
    "auth.sign_in_failed": S("Somebody tried to sign in as %(person)s and failed (%(via)s)"),
    "auth.token_revoked": S("%(actor)s signed out of the app"),
    # people and their products
    "manage.user.create": S("%(actor)s added %(person)s as %(role)s"),
    "manage.user.update": S("%(actor)s changed the details of %(person)s (role: %(role_before)s → %(role)s)"),
    "manage.user.activate": S("%(actor)s reactivated %(person)s"),
    "manage.user.deactivate": S("%(actor)s deactivated %(person)s"),
    "manage.user.password_reset": S("%(actor)s sent %(person)s a link to set a new password"),
    "manage.user.product": S("%(actor)s changed the product of %(person)s from %(before)s to %(after)s"),
    "manage.user.offboard": S("%(actor)s deactivated %(person)s: %(outcome)s"),
    # teams
    "manage.team.create": S("%(actor)s created the team %(team)s"),
    "manage.team.update": S(
        "%(actor)s changed the team %(team)s (%(members)s members, %(listeners)s listeners)"
    ),
    "manage.team.delete": S("%(actor)s removed the team %(team)s"),
    # contact rules, settings, keys
    "manage.contact_rule.create": S("%(actor)s added a number to the %(list)s of %(rule_person)s"),
    "manage.contact_rule.update": S("%(actor)s changed a number on the %(list)s of %(rule_person)s"),
    "manage.contact_rule.delete": S("%(actor)s removed a number from the %(list)s of %(rule_person)s"),
    "manage.settings.update": S("%(actor)s changed the settings (%(changes)s)"),
    "manage.settings.retention": S(
        "%(actor)s changed the retention from %(before)s to %(after)s days "
        "(%(due)s standard recordings due at once; purpose: %(purpose)s)"
    ),
    "manage.pbx_key.create": S("%(actor)s issued the phone-system key %(prefix)s…"),
    "manage.pbx_key.revoke": S("%(actor)s revoked the phone-system key %(prefix)s…"),
    "transcripts.enable": S("%(actor)s switched transcripts of calls on"),
    "transcripts.disable": S("%(actor)s switched transcripts of calls off"),
    "manage.keyword_alert.create": S("%(actor)s added the keyword alert “%(phrase)s”"),
    "manage.keyword_alert.delete": S("%(actor)s removed the keyword alert “%(phrase)s”"),
    "transcripts.redaction": S("%(actor)s changed which numbers and addresses transcripts redact"),
    "transcripts.mute_audio_on": S("%(actor)s switched on silencing the redacted words in the audio"),
    "transcripts.mute_audio_off": S("%(actor)s switched off silencing the redacted words in the audio"),
    # listening and sharing
    "recording.played": S("%(actor)s listened to a recording (%(via)s)"),
    "recording.transcript_read": S("%(actor)s read the transcript of a recording"),
    "recording.transcript_snippets_read": S(
        "%(actor)s read where a search was found in the transcripts of %(recordings)s recordings"
    ),
    "recording.integrity_failed": S("The system found a damaged recording: %(problem)s"),
    "share.created": S("%(actor)s shared a recording by link"),
    "share.revoked": S("%(actor)s revoked a shared link"),
    "share.opened": S("Somebody opened a shared link"),
    "share.pin_locked": S("A shared link was locked after %(wrong_pins)s wrong PINs"),
    "share.pin_reset": S("%(actor)s gave a shared link a new PIN"),
    # privacy
    "privacy.register.change": S("%(actor)s changed the processing register (%(fields)s)"),
    "privacy.subject.search": S("%(actor)s searched the recordings of a caller (%(recordings)s found)"),
    "privacy.subject.erase": S("%(actor)s erased the recordings of a caller (%(recordings)s recordings)"),
    "privacy.subject.export": S("%(actor)s exported the data of a caller (%(recordings)s recordings)"),
    "privacy.subject.access_copy_request": S(
        "%(actor)s asked for a copy for a caller (%(recordings)s recordings)"
    ),
    "privacy.subject.access_copy_approve": S(
        "%(actor)s approved a caller's copy that %(requested_by)s asked for (%(recordings)s recordings)"
    ),
    "privacy.subject.access_copy_refuse": S("%(actor)s refused or withdrew a caller's copy"),
    "privacy.subject.access_copy_download": S("A caller downloaded their copy (%(recordings)s recordings)"),
    # support staff and the end of service
    "support.user.password_reset_sent": S("Support (%(actor)s) sent %(person)s a link to set a new password"),
    "support.tenant.end_service": S("Support (%(actor)s) ended the service"),
    "support.tenant.resume_purge": S("Support (%(actor)s) resumed the removal of the data"),
    "support.tenant.purged": S("The system removed the data after the end of service (%(status)s)"),
    # the console itself
    "manage.audit.export": S("%(actor)s exported %(rows)s entries of the audit log"),
    "manage.calls.export": S("%(actor)s exported %(rows)s calls (without audio)"),
}

# Codes made up from parts (tenants.admin: ``support.<model>.<verb>``).
PATTERN_SENTENCES: tuple[tuple[re.Pattern[str], Promise], ...] = (
    (re.compile(r"support\.[a-z_]+\.create"), S("Support (%(actor)s) added %(object)s")),
    (re.compile(r"support\.[a-z_]+\.change"), S("Support (%(actor)s) changed %(object)s (%(fields)s)")),
    (re.compile(r"support\.[a-z_]+\.delete"), S("Support (%(actor)s) removed %(object)s")),
)
UNKNOWN_SENTENCE = S("%(actor)s: %(action)s")

# The second half of an offboarding's sentence, by the admin's choice (recordings.offboarding).
OFFBOARD_OUTCOMES: dict[str, Promise] = {
    "keep": S(
        "%(standard)s standard recordings kept until the retention period ends, "
        "%(playback)s Playback recordings follow their own rules"
    ),
    "hand_over": S(
        "%(handed_over)s standard recordings handed to %(receiver)s, "
        "%(playback)s Playback recordings follow their own rules"
    ),
    "delete": S("%(deleted)s recordings deleted"),
}


def sentence_template(action: str) -> Promise | None:
    """The sentence of an action code, or None when the code has none."""
    if action in SENTENCES:
        return SENTENCES[action]
    for pattern, sentence in PATTERN_SENTENCES:
        if pattern.fullmatch(action):
            return sentence
    return None


def _product_label(value: Any) -> str:
    if not value:
        return str(_("no product"))
    product, _sep, setting = str(value).partition(":")
    if product == "licence" and setting in RecordingMode.values:
        return str(_("licence %(mode)s") % {"mode": RecordingMode(setting).label})
    if product == "playback" and setting in PlaybackTier.values:
        return str(_("Playback %(tier)s") % {"tier": PlaybackTier(setting).label})
    return str(value)


def _role_label(value: Any) -> str:
    return str(Role(value).label) if value in Role.values else str(value or "")


_VIA = {
    "portal": gettext_lazy("portal"),
    "app": gettext_lazy("app"),
    "share": gettext_lazy("shared link"),
}


class _Facts(dict[str, str]):
    """The placeholders of a sentence; one that the entry lacks reads as "–" (an old entry
    written before a fact was recorded must still read as a sentence)."""

    def __missing__(self, key: str) -> str:
        return "–"


@dataclass(frozen=True)
class ReadableEntry:
    entry: AuditEntry
    actor: str
    sentence: str


class Names:
    """The people and teams named by a batch of entries, loaded in two queries."""

    def __init__(self, tenant_id: uuid.UUID, entries: Sequence[AuditEntry]) -> None:
        user_ids: set[uuid.UUID] = {e.actor_id for e in entries if e.actor_id}
        team_ids: set[str] = set()
        for entry in entries:
            if entry.target_type == USER_TARGET:
                user_ids.add(_uuid(entry.target_id))
            elif entry.target_type == TEAM_TARGET:
                team_ids.add(entry.target_id)
            if isinstance(entry.detail.get("user"), str):
                user_ids.add(_uuid(entry.detail["user"]))
            if isinstance(entry.detail.get("team_id"), str):
                team_ids.add(entry.detail["team_id"])
        user_ids.discard(_NO_ID)
        people = User.objects.filter(tenant_id=tenant_id, pk__in=user_ids)
        # only what a name needs (``picker_label``): not the password, settings and the rest
        people = people.only("id", "tenant_id", "username", "first_name", "last_name")
        self.users = {u.pk: u for u in people}
        team_uuids = {_uuid(t) for t in team_ids} - {_NO_ID}
        self.teams = {
            str(t.pk): t.name for t in Team.objects.unscoped().filter(tenant_id=tenant_id, pk__in=team_uuids)
        }

    def person(self, user_id: Any) -> str:
        user = self.users.get(_uuid(user_id))
        return user.picker_label if user is not None else str(_("a removed person"))


_NO_ID = uuid.UUID(int=0)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return _NO_ID


def _count(value: Any) -> str:
    return str(value) if isinstance(value, int) else "–"


def facts(entry: AuditEntry, names: Names) -> dict[str, str]:
    """The placeholders of the entry's sentence."""
    erased = entry.personal_erased_at is not None
    detail = entry.detail_display
    out = _Facts({k: str(v) for k, v in detail.items() if isinstance(v, str | int)})
    out["action"] = entry.action
    if erased:
        out["actor"] = entry.actor_display
    elif entry.actor_id:
        out["actor"] = (
            names.users[entry.actor_id].picker_label if entry.actor_id in names.users else entry.actor_display
        )
    else:
        out["actor"] = entry.actor_display
    if entry.target_type == USER_TARGET:
        out["person"] = str(_("(erased)")) if erased else names.person(entry.target_id)
    if entry.target_type == TEAM_TARGET:
        out["team"] = names.teams.get(entry.target_id) or str(detail.get("name") or _("(removed team)"))
    if "user" in detail:
        out["rule_person"] = str(_("(erased)")) if erased else names.person(detail["user"])
    if entry.action == "manage.user.product":
        out["before"], out["after"] = (
            _product_label(detail.get("before")),
            _product_label(detail.get("after")),
        )
    if "role" in detail:
        out["role"] = _role_label(detail["role"])
    if "role_before" in detail:
        out["role_before"] = _role_label(detail["role_before"])
    if "via" in detail:
        via = _VIA.get(str(detail["via"]))
        out["via"] = str(via) if via is not None else str(detail["via"])
    if "list" in detail:
        out["list"] = str(_("whitelist") if detail["list"] == "whitelist" else _("blacklist"))
    if isinstance(detail.get("fields"), list):
        out["fields"] = ", ".join(str(f) for f in detail["fields"]) or "–"
    if entry.action == "manage.settings.update":
        out["changes"] = ", ".join(f"{k}: {v}" for k, v in sorted(detail.items())) or "–"
    for key in ("recordings", "rows", "members", "listeners", "wrong_pins", "due"):
        if key in detail:
            out[key] = _count(detail[key])
    if entry.action == "manage.user.offboard":
        out["outcome"] = _offboard_outcome(detail, out, names, erased)
    if entry.target_type:
        out["object"] = entry.target_type.rpartition(".")[2]
    return out


def _offboard_outcome(detail: dict[str, Any], out: dict[str, str], names: Names, erased: bool) -> str:
    outcome = OFFBOARD_OUTCOMES.get(str(detail.get("choice")))
    if outcome is None:
        return "–"
    parts = _Facts(out)
    for key in ("standard", "playback", "deleted", "handed_over"):
        parts[key] = _count(detail.get(key))
    if erased:
        parts["receiver"] = str(_("(erased)"))
    elif "user" in detail:
        parts["receiver"] = names.person(detail["user"])
    else:
        team = names.teams.get(str(detail.get("team_id"))) or str(
            detail.get("team_name") or _("(removed team)")
        )
        parts["receiver"] = str(_("the team %(team)s") % {"team": team})
    return str(outcome) % parts


def readable(tenant_id: uuid.UUID, entries: Iterable[AuditEntry]) -> list[ReadableEntry]:
    """The tenant's entries with their sentences, in the active language."""
    rows = list(entries)
    names = Names(tenant_id, rows)
    sentences: dict[str, str] = {}  # each action's sentence looked up and translated once
    out = []
    for entry in rows:
        parts = facts(entry, names)
        sentence = sentences.get(entry.action)
        if sentence is None:
            sentence = sentences[entry.action] = str(sentence_template(entry.action) or UNKNOWN_SENTENCE)
        out.append(ReadableEntry(entry=entry, actor=parts["actor"], sentence=sentence % parts))
    return out
