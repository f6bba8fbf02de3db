"""Labels, comments and share links: every state change of them, for the portal and the app.

Plain functions with keyword-only arguments; each checks that ``acting_user`` may do it, runs in
one transaction and raises ``ValidationError`` (a message a person can act on) or
``PermissionDenied``. Nothing is half-applied.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from recordings.models import Comment, Label, Recording, ShareLink, ShareOpen
from tenants.audit import log_event
from tenants.models import User
from tenants.scoping import tenant_scope

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
_PIN_RE = re.compile(r"[0-9]{4,8}")  # fullmatch: "$" lets a final newline through


def audit_event(**kwargs: Any) -> Any:
    """Write to the tenant's audit log (``tenants.audit.log_event``)."""
    return log_event(**kwargs)


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
    with tenant_scope(recording.tenant_id):
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
            return Label.objects.create(recording=recording, name=name, created_by=acting_user)
    except IntegrityError:  # lost a race against the same label
        return recording.labels.annotate(lname=Lower("name")).get(lname=same)


def remove_label(*, label: Label, acting_user: User) -> None:
    with tenant_scope(label.tenant_id):
        _require_can_hear(acting_user, label.recording)
        label.delete()


def label_suggestions(*, user: User, prefix: str = "", limit: int = 20) -> list[str]:
    """The labels this person has used before, alphabetically, optionally starting with ``prefix``."""
    if user.tenant_id is None:
        return []
    with tenant_scope(user.tenant_id):
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
    with tenant_scope(recording.tenant_id):
        _require_can_hear(acting_user, recording)
        return Comment.objects.create(
            recording=recording, author=acting_user, text=text, position_ms=position_ms
        )


def edit_comment(*, comment: Comment, text: str, acting_user: User) -> Comment:
    """Only the author edits a comment."""
    text = _clean_comment(text)
    with tenant_scope(comment.tenant_id):
        _require_can_hear(acting_user, comment.recording)
        if comment.author_id != acting_user.pk:
            raise PermissionDenied(_("Only its author can change a comment."))
        comment.text = text
        comment.save(update_fields=["text", "updated_at"])
    return comment


def delete_comment(*, comment: Comment, acting_user: User) -> None:
    """The author, or the recording's owner, removes a comment."""
    with tenant_scope(comment.tenant_id):
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
    pin = (pin or "").strip()
    if pin and not _PIN_RE.fullmatch(pin):
        raise ValidationError(_("A PIN is 4 to 8 digits."))
    token = secrets.token_urlsafe(24)
    with transaction.atomic(), tenant_scope(recording.tenant_id):
        _require_owner(acting_user, recording)
        share = ShareLink.objects.create(
            recording=recording,
            created_by=acting_user,
            token_hash=_hash_token(token),
            expires_at=timezone.now() + SHARE_EXPIRY_CHOICES[expires_in][0],
            pin_hash=make_password(pin) if pin else "",
            show_party=show_party,
            show_details=show_details,
            show_labels=show_labels,
            show_comments=show_comments,
        )
        audit_event(
            tenant=recording.tenant,
            actor=acting_user,
            action="share.created",
            target=share,
            detail={"recording": str(recording.pk), "expires_at": share.expires_at.isoformat()},
        )
    return IssuedShare(share=share, token=token)


def revoke_share(*, share: ShareLink, acting_user: User) -> ShareLink:
    """The owner ends a share link at once (idempotent)."""
    with transaction.atomic(), tenant_scope(share.tenant_id):
        _require_owner(acting_user, share.recording)
        ShareLink.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        share.refresh_from_db()
        audit_event(tenant=share.recording.tenant, actor=acting_user, action="share.revoked", target=share)
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


def check_share_pin(share: ShareLink, pin: str) -> bool:
    return bool(share.pin_hash) and check_password((pin or "").strip(), share.pin_hash)


def record_share_open(*, share: ShareLink, request: HttpRequest) -> ShareOpen:
    """Log an opening of the public page (the caller runs inside the share's tenant scope)."""
    from recordings.streaming import client_ip

    opened = ShareOpen.objects.create(
        share=share, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300]
    )
    audit_event(
        tenant=share.tenant,
        actor=None,
        action="share.opened",
        target=share,
        detail={"recording": str(share.recording_id)},
        request=request,
    )
    return opened
