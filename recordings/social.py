"""Labels, comments and share links: every state change of them, for the portal and the app.

Plain functions with keyword-only arguments; each checks that ``acting_user`` may do it, runs in
one transaction and raises ``ValidationError`` (a message a person can act on) or
``PermissionDenied``. Nothing is half-applied.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from recordings import live
from recordings.models import Comment, Label, Recording, ShareLink, ShareOpen, SharePinAttempt
from tenants.audit import client_ip, log_event
from tenants.models import User
from tenants.scoping import service_scope

LABEL_MAX = 40
COMMENT_MAX = 2000
# Share link lifetimes offered to the sharer (key -> (lifetime, label)); the default is 7 days.
SHARE_EXPIRY_CHOICES: dict[str, tuple[timedelta, Any]] = {
    "1h": (timedelta(hours=1), gettext_lazy("1 hour")),
    "1d": (timedelta(days=1), gettext_lazy("1 day")),
    "7d": (timedelta(days=7), gettext_lazy("7 days")),
    "30d": (timedelta(days=30), gettext_lazy("30 days")),
}
SHARE_EXPIRY_DEFAULT = "7d"
# ASCII digits only, matched in full (``$`` would let a trailing newline through).
_PIN_RE = re.compile(r"[0-9]{4,8}")
# At most this many PINs are judged per share link within any hour; the tenth wrong one locks
# the link for an hour (the right PIN too) until the owner sets a new PIN.
PIN_TRIES_PER_HOUR = 10
PIN_WINDOW = timedelta(hours=1)
# Per client (its address, across all links): this many wrong PINs within the hour are free, then
# each next try waits PIN_BACKOFF_BASE doubled per further wrong PIN since the client's last one.
PIN_BACKOFF_FREE = 3
PIN_BACKOFF_BASE = timedelta(seconds=30)


def _require_can_hear(user: User, recording: Recording) -> None:
    if (
        recording.is_deleted
        or user.tenant_id != recording.tenant_id
        or not Recording.objects.visible_to(user).filter(pk=recording.pk).exists()
    ):
        raise PermissionDenied(_("You cannot see this recording."))


def _require_owner(user: User, recording: Recording) -> None:
    _require_can_hear(user, recording)
    if recording.owner_id != user.pk:
        raise PermissionDenied(_("Only the recording's owner can do this."))


# --- labels -----------------------------------------------------------------------------------


def clean_label(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_("A label cannot be empty."))
    if len(name) > LABEL_MAX:
        raise ValidationError(_("A label has at most %(max)d characters.") % {"max": LABEL_MAX})
    return name


def add_label(*, recording: Recording, name: str, acting_user: User) -> Label:
    """Put the label ``name`` on the recording. Adding a label it already has (in any letter
    case) returns the existing one."""
    name = clean_label(name)
    with service_scope(recording.tenant_id):
        return _add_label(recording, name, acting_user)


def _add_label(recording: Recording, name: str, acting_user: User) -> Label:
    _require_can_hear(acting_user, recording)
    # Compare with the database's LOWER(), as the unique index does (Python's str.lower() differs
    # outside ASCII, e.g. "İ", and a duplicate would slip past this check into the index).
    same = Lower(Value(name))
    existing = recording.labels.annotate(lname=Lower("name")).filter(lname=same).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            label = Label.objects.create(recording=recording, name=name, created_by=acting_user)
            live.recordings_changed([recording])  # the rows show labels
            return label
    except IntegrityError:  # lost a race against the same label
        return recording.labels.annotate(lname=Lower("name")).get(lname=same)


def remove_label(*, label: Label, acting_user: User) -> None:
    with service_scope(label.tenant_id):
        _require_can_hear(acting_user, label.recording)
        with transaction.atomic():
            label.delete()
            live.recordings_changed([label.recording])


def label_suggestions(*, user: User, prefix: str = "", limit: int = 20) -> list[str]:
    """The labels this person has used before, alphabetically, optionally starting with ``prefix``."""
    if user.tenant_id is None:
        return []
    with service_scope(user.tenant_id):
        return _label_suggestions(user, prefix, limit)


def _label_suggestions(user: User, prefix: str, limit: int) -> list[str]:
    names = Label.objects.filter(created_by=user)
    if prefix:
        names = names.filter(name__istartswith=prefix.strip())
    seen: dict[str, str] = {}
    for name in names.order_by(Lower("name")).values_list("name", flat=True)[: limit * 4]:
        seen.setdefault(name.lower(), name)
    return list(seen.values())[:limit]


# --- comments ---------------------------------------------------------------------------------


def _clean_comment(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("A comment cannot be empty."))
    if len(text) > COMMENT_MAX:
        raise ValidationError(_("A comment has at most %(max)d characters.") % {"max": COMMENT_MAX})
    return text


POSITION_MAX_MS = 2**31 - 1  # Comment.position_ms, a PositiveIntegerField (~24.8 days)


def _clean_position(recording: Recording, position_ms: int | None) -> int | None:
    if position_ms is None:
        return None
    # Bounded by the recording's length, and (length not known yet) by what the column holds.
    too_far = position_ms > (recording.duration_ms or POSITION_MAX_MS) or position_ms > POSITION_MAX_MS
    if position_ms < 0 or too_far:
        raise ValidationError(_("The position lies outside the recording."))
    return position_ms


def parse_position(raw: str) -> int | None:
    """``"m:ss"``, ``"h:mm:ss"`` or seconds (``"75"``, ``"75.5"``) to milliseconds; empty is None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if ":" in raw:
            parts = [float(p) for p in raw.split(":")]
            if len(parts) > 3 or any(p < 0 for p in parts):
                raise ValueError
            seconds = 0.0
            for part in parts:
                seconds = seconds * 60 + part
        else:
            seconds = float(raw)
    except ValueError:
        raise ValidationError(_("Write the position as minutes:seconds, e.g. 1:05.")) from None
    if seconds < 0 or seconds != seconds:
        raise ValidationError(_("Write the position as minutes:seconds, e.g. 1:05."))
    return round(seconds * 1000)


def add_comment(
    *, recording: Recording, text: str, acting_user: User, position_ms: int | None = None
) -> Comment:
    """Comment on a recording anybody allowed to hear it can comment on, optionally at a position."""
    text = _clean_comment(text)
    position_ms = _clean_position(recording, position_ms)
    with service_scope(recording.tenant_id):
        _require_can_hear(acting_user, recording)
        return Comment.objects.create(
            recording=recording, author=acting_user, text=text, position_ms=position_ms
        )


def edit_comment(*, comment: Comment, text: str, acting_user: User) -> Comment:
    """Only the author edits a comment."""
    text = _clean_comment(text)
    with service_scope(comment.tenant_id):
        _require_can_hear(acting_user, comment.recording)
        if comment.author_id != acting_user.pk:
            raise PermissionDenied(_("Only its author can change a comment."))
        comment.text = text
        comment.save(update_fields=["text", "updated_at"])
    return comment


def delete_comment(*, comment: Comment, acting_user: User) -> None:
    """The author, or the recording's owner, removes a comment."""
    with service_scope(comment.tenant_id):
        _require_can_hear(acting_user, comment.recording)
        if acting_user.pk not in (comment.author_id, comment.recording.owner_id):
            raise PermissionDenied(_("Only its author or the recording's owner can remove a comment."))
        comment.delete()


# --- share links ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedShare:
    """A new share link: ``token`` exists only here (the database keeps its hash)."""

    share: ShareLink
    token: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_share(
    *,
    recording: Recording,
    acting_user: User,
    expires_in: str = SHARE_EXPIRY_DEFAULT,
    pin: str = "",
    show_party: bool = False,
    show_details: bool = True,
    show_labels: bool = False,
    show_comments: bool = False,
) -> IssuedShare:
    """The owner makes a public, expiring, revocable link to one recording (optionally PIN-locked)."""
    if expires_in not in SHARE_EXPIRY_CHOICES:
        raise ValidationError(
            _("Choose how long the link works: %(choices)s.")
            % {"choices": ", ".join(str(label) for _d, label in SHARE_EXPIRY_CHOICES.values())}
        )
    pin = _clean_pin(pin)
    token = secrets.token_urlsafe(24)
    with transaction.atomic(), service_scope(recording.tenant_id):
        _require_owner(acting_user, recording)
        share = ShareLink.objects.create(
            recording=recording,
            created_by=acting_user,
            token_hash=_hash_token(token),
            expires_at=timezone.now() + SHARE_EXPIRY_CHOICES[expires_in][0],
            pin_hash=make_password(pin) if pin else "",
            pin_set_at=timezone.now() if pin else None,
            show_party=show_party,
            show_details=show_details,
            show_labels=show_labels,
            show_comments=show_comments,
        )
        log_event(
            tenant=recording.tenant,
            actor=acting_user,
            action="share.created",
            target=share,
            detail={"recording": str(recording.pk), "expires_at": share.expires_at.isoformat()},
        )
    return IssuedShare(share=share, token=token)


def revoke_share(*, share: ShareLink, acting_user: User) -> ShareLink:
    """The owner ends a share link at once (idempotent)."""
    with transaction.atomic(), service_scope(share.tenant_id):
        _require_owner(acting_user, share.recording)
        ShareLink.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        share.refresh_from_db()
        log_event(tenant=share.recording.tenant, actor=acting_user, action="share.revoked", target=share)
    return share


def find_share(token: str) -> ShareLink | None:
    """The active share link that ``token`` is, across tenants, or None.

    The one cross-tenant read of the public share page: the token *is* what tells the tenant.
    """
    if not token or len(token) > 100:
        return None
    share = (
        ShareLink.objects.unscoped()
        .select_related("recording", "tenant")
        .filter(token_hash=_hash_token(token))
        .first()
    )
    if share is None or not share.is_active() or share.recording.is_deleted or not share.tenant.is_active:
        return None
    return share


def _clean_pin(pin: str) -> str:
    pin = (pin or "").strip()
    if pin and not _PIN_RE.fullmatch(pin):
        raise ValidationError(_("A PIN is 4 to 8 digits."))
    return pin


class PinVerdict(enum.StrEnum):
    RIGHT = "right"
    WRONG = "wrong"
    LOCKED = "locked"  # ten wrong PINs within the hour: no PIN is judged, the right one neither
    WAIT = "wait"  # this client typed too many wrong PINs lately: it waits before the next one


@dataclass(frozen=True)
class PinCheck:
    """The answer to one PIN typed on a share link's page.

    ``retry_after`` (seconds) is set for WAIT and LOCKED; ``stamp`` (for RIGHT) is what the
    browser's session keeps to show it entered the current PIN (see :func:`pin_stamp`).
    """

    verdict: PinVerdict
    retry_after: int = 0
    stamp: str = ""


def pin_stamp(share: ShareLink) -> str:
    """Which PIN of the share a browser entered: a new PIN makes earlier entries void."""
    return share.pin_set_at.isoformat() if share.pin_set_at else "set"


def pin_client_key(ip: str | None) -> str:
    """A keyed hash of the client's address (its /64 network for IPv6, which one client holds)."""
    address = ip or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        pass
    else:
        if parsed.version == 6 and parsed.ipv4_mapped is None:
            address = str(ipaddress.ip_network(f"{parsed}/64", strict=False))
        elif parsed.version == 6 and parsed.ipv4_mapped is not None:
            address = str(parsed.ipv4_mapped)
    return salted_hmac("recordings.share-pin-client", address, algorithm="sha256").hexdigest()


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _client_wait(client: str, now: datetime) -> int:
    """Seconds this client still waits before its next PIN, or 0.

    Counted over every tenant's links (the client is nobody's tenant): the one cross-tenant read
    of the PIN counter, and it reads only the count and time of this client's own tries.
    """
    recent = SharePinAttempt.objects.unscoped().filter(client=client, at__gte=now - PIN_WINDOW)
    failures = recent.count()
    if failures < PIN_BACKOFF_FREE:
        return 0
    last = recent.order_by("-at").values_list("at", flat=True).first()
    wait = PIN_BACKOFF_BASE * 2 ** min(failures - PIN_BACKOFF_FREE, 7)
    ready = last + wait
    return _seconds(ready - now) if ready > now else 0


def _window_start(share: ShareLink, now: datetime) -> datetime:
    start = now - PIN_WINDOW
    return max(start, share.pin_set_at) if share.pin_set_at else start


def check_share_pin(*, share: ShareLink, pin: str, client_ip: str | None) -> PinCheck:
    """Judge a PIN typed on a share link's public page, at most ten per link within any hour.

    The counter is in the database, so it holds across every web process: a try first takes the
    share row's write lock, counts the wrong PINs of the last hour, and (below the limit) writes
    its own row, counted as wrong until the PIN proves right. Only then is the PIN judged (outside
    the lock: hashing is slow). The tenth wrong PIN locks the link for an hour: every PIN is then
    refused, the right one too, and the recipient is told to ask the sender; the owner unlocks it
    by setting a new PIN (:func:`reset_share_pin`). A client that typed too many wrong PINs lately
    (on any link) waits an increasing time before its next one is judged.

    Raises ``ShareLink.DoesNotExist`` when the link was deleted meanwhile.
    """
    client = pin_client_key(client_ip)
    pin = (pin or "").strip()
    with service_scope(share.tenant_id):
        with transaction.atomic():
            # A no-op UPDATE takes the row's write lock on every database (PostgreSQL locks the
            # row, SQLite the database) until the end of this block: the count and the insert
            # below are one step for all processes.
            if not ShareLink.objects.filter(pk=share.pk).update(pin_locked_at=F("pin_locked_at")):
                raise ShareLink.DoesNotExist
            fresh = ShareLink.objects.get(pk=share.pk)
            now = timezone.now()
            locked_until = fresh.pin_locked_until(now)
            if locked_until is not None:
                return PinCheck(PinVerdict.LOCKED, retry_after=_seconds(locked_until - now))
            if not fresh.pin_hash:
                return PinCheck(PinVerdict.RIGHT, stamp=pin_stamp(fresh))
            since = _window_start(fresh, now)
            counted = SharePinAttempt.objects.filter(share=fresh, at__gte=since)
            if counted.count() >= PIN_TRIES_PER_HOUR:  # the tenth's lock is being written just now
                return PinCheck(PinVerdict.LOCKED, retry_after=_seconds(PIN_WINDOW))
            wait = _client_wait(client, now)
            if wait:
                return PinCheck(PinVerdict.WAIT, retry_after=wait)
            attempt = SharePinAttempt.objects.create(share=fresh, at=now, client=client)
        if _PIN_RE.fullmatch(pin) and check_password(pin, fresh.pin_hash):
            SharePinAttempt.objects.filter(pk=attempt.pk).delete()
            return PinCheck(PinVerdict.RIGHT, stamp=pin_stamp(fresh))
        _lock_after_tenth(fresh, since, now)
        return PinCheck(PinVerdict.WRONG)


def _lock_after_tenth(share: ShareLink, since: datetime, now: datetime) -> None:
    with transaction.atomic():
        failures = SharePinAttempt.objects.filter(share=share, at__gte=since).count()
        if failures < PIN_TRIES_PER_HOUR:
            return
        unlocked = Q(pin_locked_at__isnull=True) | Q(pin_locked_at__lte=now - PIN_WINDOW)
        if ShareLink.objects.filter(unlocked, pk=share.pk).update(pin_locked_at=now):
            log_event(
                tenant=share.tenant,
                actor=None,
                action="share.pin_locked",
                target=share,
                detail={"recording": str(share.recording_id), "wrong_pins": failures},
            )


def with_pin_failures(shares: QuerySet[ShareLink]) -> QuerySet[ShareLink]:
    """``shares`` with ``pin_failures`` and ``last_pin_failure``: the wrong PINs typed since each
    link's current PIN was set (what its owner sees). Subqueries, so further counts of other
    relations (``Count("opens")``) are not multiplied."""
    since_pin = Coalesce(OuterRef("pin_set_at"), OuterRef("created_at"))
    wrong = SharePinAttempt.objects.filter(share=OuterRef("pk"), at__gte=since_pin)
    return shares.annotate(
        pin_failures=Coalesce(
            Subquery(wrong.order_by().values("share").annotate(n=Count("pk")).values("n")[:1]), 0
        ),
        last_pin_failure=Subquery(wrong.order_by("-at").values("at")[:1]),
    )


def shares_with_pin_failures(recording: Recording) -> QuerySet[ShareLink]:
    """The recording's share links for its owner's list: wrong PINs (:func:`with_pin_failures`)
    and openings."""
    return with_pin_failures(recording.share_links.all()).prefetch_related("opens")


@dataclass(frozen=True)
class NewSharePin:
    """A share link's new PIN: ``pin`` exists only here (the database keeps its hash)."""

    share: ShareLink
    pin: str


def reset_share_pin(*, share: ShareLink, acting_user: User, pin: str = "") -> NewSharePin:
    """The owner gives a share link a new PIN (``pin``, or six random digits when empty).

    It clears the PIN lock; wrong PINs typed before it no longer count, and browsers that entered
    the old PIN must enter the new one. Only for a link that still works.
    """
    pin = _clean_pin(pin) or f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic(), service_scope(share.tenant_id):
        _require_owner(acting_user, share.recording)
        fresh = ShareLink.objects.select_for_update().get(pk=share.pk)
        if not fresh.is_active():
            raise ValidationError(_("This share link no longer works: create a new one."))
        now = timezone.now()
        cleared = SharePinAttempt.objects.filter(share=fresh, at__gte=_window_start(fresh, now)).count()
        fresh.pin_hash = make_password(pin)
        fresh.pin_set_at = now
        fresh.pin_locked_at = None
        fresh.save(update_fields=["pin_hash", "pin_set_at", "pin_locked_at"])
        log_event(
            tenant=fresh.recording.tenant,
            actor=acting_user,
            action="share.pin_reset",
            target=fresh,
            detail={"recording": str(fresh.recording_id), "wrong_pins_cleared": cleared},
        )
    return NewSharePin(share=fresh, pin=pin)


def record_share_open(*, share: ShareLink, request: HttpRequest) -> ShareOpen:
    """Log an opening of the public page (the caller runs inside the share's tenant scope)."""
    opened = ShareOpen.objects.create(
        share=share, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300]
    )
    log_event(
        tenant=share.tenant,
        actor=None,
        action="share.opened",
        target=share,
        detail={"recording": str(share.recording_id)},
        request=request,
    )
    return opened
