"""The right-of-access copy (art. 15 AVG): requested by one customer admin, approved by another
(four eyes), then a one-time, expiring link whose ZIP carries its own manifest and writes the
access log. Users whose Playback recordings go into a copy are told (``AccessCopyNotice``)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings.models import Kind, PlaybackAccess, Recording
from recordings.privacy.subjects import recordings_involving, subject_number
from recordings.streaming import StreamGrant, log_playback
from tenants.audit import log_event
from tenants.models import AccessCopy, AccessCopyNotice, Role, Tenant, User
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from django.http import HttpRequest

log = logging.getLogger(__name__)

# A request for an access copy must be approved within this time, and an approved copy fetched
# within this time after its approval; then it is gone and must be requested again.
ACCESS_COPY_TTL = timedelta(days=7)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedAccessCopy:
    copy: AccessCopy
    token: str


def _person(user: User | None) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _active_admins(tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant, role=Role.ADMIN, is_active=True)


def _require_admin(tenant: Tenant, user: User | None) -> User:
    if user is None or not _active_admins(tenant).filter(pk=user.pk).exists():
        raise ValidationError(_("Only an administrator of this organisation can do this."))
    return user


def can_make_access_copies(tenant: Tenant) -> bool:
    """Four eyes need two pairs: with one active admin no access copy can be made."""
    return _active_admins(tenant).count() >= 2


def request_access_copy(
    *,
    tenant: Tenant,
    number: str,
    reason: str,
    acting_user: User,
    request: HttpRequest | None = None,
) -> AccessCopy:
    """Ask for a right-of-access copy for the person with ``number`` (art. 15 AVG).

    Four eyes: nothing leaves the product until another admin of the tenant approves
    (:func:`approve_access_copy`); the request lists the recordings it will hold (those of now),
    needs a reason, and lapses after ``ACCESS_COPY_TTL`` if nobody approves it. With one admin in
    the tenant no copy can be made."""
    acting_user = _require_admin(tenant, acting_user)
    number = subject_number(number, tenant)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": _("Say why the copy is made (for example: the request's date and channel).")}
        )
    if len(reason) > 1000:
        raise ValidationError({"reason": _("Keep the reason under 1,000 characters.")})
    with transaction.atomic(), service_scope(tenant):
        if not can_make_access_copies(tenant):
            raise ValidationError(
                _(
                    "An access copy needs the approval of a second administrator, and your organisation "
                    "has only one. Make another person an administrator first."
                )
            )
        recordings = list(recordings_involving(tenant, number))
        if not recordings:
            raise ValidationError(_("There are no recordings involving %(number)s.") % {"number": number})
        copy = AccessCopy.objects.create(
            tenant=tenant,
            number=number,
            reason=reason,
            created_by=acting_user,
            expires_at=timezone.now() + ACCESS_COPY_TTL,
        )
        copy.recordings.set(recordings)
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="privacy.subject.access_copy_request",
            target=copy,
            detail={
                "recordings": len(recordings),
                "playback_recordings": sum(rec.kind == Kind.PLAYBACK for rec in recordings),
            },
            request=request,
        )
    return copy


def access_copy_for_admin(tenant: Tenant, copy_id: uuid.UUID | str) -> AccessCopy:
    """The access copy ``copy_id`` of ``tenant``; another tenant's and a missing one: Http404."""
    try:
        with service_scope(tenant):
            return AccessCopy.objects.select_related("created_by", "approved_by").get(pk=copy_id)
    except (AccessCopy.DoesNotExist, ValueError, ValidationError):
        raise Http404("No such access copy") from None


def access_copies(tenant: Tenant, *, limit: int = 50) -> list[AccessCopy]:
    """The tenant's access copies, newest first, with who requested and approved them."""
    with service_scope(tenant):
        return list(
            AccessCopy.objects.select_related("created_by", "approved_by", "refused_by")
            .prefetch_related("notices__user")
            .annotate(recording_count=Count("recordings"))
            .order_by("-created_at")[:limit]
        )


def approve_access_copy(
    *, tenant: Tenant, copy_id: uuid.UUID | str, acting_user: User, request: HttpRequest | None = None
) -> IssuedAccessCopy:
    """The second admin approves a pending request: the one-time link is made (returned only this
    once, to the approver, who sends it to the person) and expires ``ACCESS_COPY_TTL`` after now.

    The requester cannot approve their own request. Each user whose Playback recordings are in
    the copy gets a notice naming the request, the requester, the approver and the date
    (:class:`AccessCopyNotice`, shown on their recordings page): their recordings are included,
    and they are told so at the moment it is approved."""
    acting_user = _require_admin(tenant, acting_user)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic(), service_scope(tenant):
        copy = access_copy_for_admin(tenant, copy_id)
        copy = AccessCopy.objects.select_for_update().get(pk=copy.pk)
        if copy.created_by_id == acting_user.pk:
            raise ValidationError(
                _("You requested this copy: another administrator must approve it (four eyes).")
            )
        if copy.approved_at is not None:
            raise ValidationError(_("This access copy was approved already."))
        if copy.refused_at is not None:
            raise ValidationError(_("This request was refused or withdrawn; request a new copy."))
        if copy.expires_at <= now:
            raise ValidationError(_("This request expired without approval; request a new copy."))
        copy.approved_by = acting_user
        copy.approved_at = now
        copy.expires_at = now + ACCESS_COPY_TTL
        copy.token_hash = _token_hash(token)
        copy.save(update_fields=["approved_by", "approved_at", "expires_at", "token_hash"])
        playback: dict[uuid.UUID, int] = {}
        included = Recording.objects.live().filter(pk__in=copy.recordings.values("pk"))
        for owner_id in included.filter(kind=Kind.PLAYBACK, owner__isnull=False).values_list(
            "owner_id", flat=True
        ):
            playback[owner_id] = playback.get(owner_id, 0) + 1
        AccessCopyNotice.objects.bulk_create(
            [
                AccessCopyNotice(tenant=tenant, access_copy=copy, user_id=owner_id, recordings=n)
                for owner_id, n in playback.items()
            ]
        )
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="privacy.subject.access_copy_approve",
            target=copy,
            detail={
                "requested_by": copy.created_by.get_username() if copy.created_by else "",
                "recordings": included.count(),
                "playback_users_told": len(playback),
            },
            personal=("requested_by",),
            request=request,
        )
    return IssuedAccessCopy(copy=copy, token=token)


def refuse_access_copy(
    *, tenant: Tenant, copy_id: uuid.UUID | str, acting_user: User, request: HttpRequest | None = None
) -> AccessCopy:
    """An admin refuses a pending request (its requester withdraws it): no link is ever made for
    it. Only while it waits for approval."""
    acting_user = _require_admin(tenant, acting_user)
    with transaction.atomic(), service_scope(tenant):
        copy = access_copy_for_admin(tenant, copy_id)
        copy = AccessCopy.objects.select_for_update().get(pk=copy.pk)
        if copy.state != "pending":
            raise ValidationError(_("This request is no longer waiting for approval."))
        copy.refused_by = acting_user
        copy.refused_at = timezone.now()
        copy.save(update_fields=["refused_by", "refused_at"])
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="privacy.subject.access_copy_refuse",
            target=copy,
            detail={"withdrawn": copy.created_by_id == acting_user.pk},
            request=request,
        )
    return copy


def notices_for(user: User) -> list[AccessCopyNotice]:
    """The unread access-copy notices of ``user`` (their Playback recordings went into a copy)."""
    if getattr(user, "tenant_id", None) is None:
        return []
    with service_scope(user.tenant_id):
        return list(
            AccessCopyNotice.objects.filter(user=user, seen_at__isnull=True).select_related(
                "access_copy__created_by", "access_copy__approved_by"
            )
        )


def mark_notice_seen(*, notice_id: uuid.UUID | str, acting_user: User) -> AccessCopyNotice:
    """The user has read the notice (it stays, marked read). Only the user it is for: Http404."""
    with transaction.atomic(), service_scope(acting_user.tenant_id):
        notice = AccessCopyNotice.objects.filter(pk=notice_id, user=acting_user).first()
        if notice is None:
            raise Http404("No such notice")
        if notice.seen_at is None:
            notice.seen_at = timezone.now()
            notice.save(update_fields=["seen_at"])
    return notice


class AccessCopyUnavailable(Exception):
    """The link is unknown, used up or expired (the person is told the same thing in each case)."""


def find_access_copy(token: str) -> AccessCopy:
    """The usable copy that ``token`` opens: approved, unused, unexpired. The one cross-tenant
    read here: the token tells the tenant, as a phone-system key does."""
    if not token:
        raise AccessCopyUnavailable
    copy = (
        AccessCopy.objects.unscoped()
        .select_related("tenant", "created_by", "approved_by")
        .filter(
            token_hash=_token_hash(token),
            approved_at__isnull=False,
            refused_at__isnull=True,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .filter(tenant__status=Tenant.Status.ACTIVE)
        .first()
    )
    if copy is None:
        raise AccessCopyUnavailable
    return copy


MANIFEST_NAME = "manifest.json"
_EXTENSIONS = {"audio/ogg": "ogg", "audio/opus": "opus", "audio/mpeg": "mp3"}


def _copy_nonce(copy: AccessCopy, recording: Recording) -> str:
    """The access row's nonce for one recording of one copy (27 characters: the row keeps
    ``copy:<nonce>`` in its 32-character unique column)."""
    return hashlib.sha256(f"{copy.pk}:{recording.pk}".encode()).hexdigest()[:27]


def _write_zip(copy: AccessCopy, out: Any) -> tuple[dict[str, Any], list[Recording]]:
    """The ZIP of ``copy`` into ``out``: the audio of each live recording it lists and its
    manifest (also returned), with the SHA-256 of each file as written. Returns the manifest
    and the recordings whose audio is in it."""
    store = storages["recordings"]
    included: list[Recording] = []
    entries = []
    with service_scope(copy.tenant_id), zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        recordings = (
            Recording.objects.live()
            .filter(pk__in=copy.recordings.values("pk"))
            .exclude(storage_key="")
            .order_by("started_at", "id")
        )
        for rec in recordings:
            name = f"{rec.started_at:%Y%m%d-%H%M%S}-{str(rec.id)[:8]}.{_EXTENSIONS.get(rec.mime, 'audio')}"
            digest = hashlib.sha256()
            size = 0
            with store.open(rec.storage_key, "rb") as audio, archive.open(name, "w") as dest:
                while chunk := audio.read(1024 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
                    dest.write(chunk)
            sha256 = digest.hexdigest()
            if rec.sha256 and rec.sha256 != sha256:
                log.error("access copy %s: recording %s does not match its stored checksum", copy.pk, rec.pk)
            included.append(rec)
            entries.append(
                {
                    "file": name,
                    "recording_id": str(rec.id),
                    "started_at": rec.started_at.isoformat(),
                    "ended_at": rec.ended_at.isoformat(),
                    "direction": rec.direction,
                    "local_number": rec.local_number,
                    "remote_number": rec.remote_number,
                    "size_bytes": size,
                    "sha256": sha256,
                }
            )
        manifest = {
            "what": "Copy of recorded calls (art. 15 GDPR / AVG)",
            "organisation": copy.tenant.name,
            "for_number": copy.number,
            "access_copy_id": str(copy.pk),
            "requested_by": _person(copy.created_by),
            "requested_at": copy.created_at.isoformat(),
            "reason": copy.reason,
            "approved_by": _person(copy.approved_by),
            "approved_at": copy.approved_at.isoformat() if copy.approved_at else None,
            "made_at": timezone.now().isoformat(),
            "recordings": entries,
        }
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest, included


def deliver_access_copy(token: str, out: Any, *, request: HttpRequest) -> AccessCopy:
    """Write the copy ``token`` opens as a ZIP into ``out`` and use the link up, once.

    The ZIP is written first; then, in one transaction, the link is claimed (a conditional
    UPDATE: two clicks cannot both have it), the manifest is kept on the copy, the access log
    gets one row per recording in the ZIP (the playback log, ``recordings.streaming.log_playback``,
    via "copy"), and the audit log one entry. If any of that fails, the link still works and
    ``out`` must be thrown away. AccessCopyUnavailable: unknown, used up, expired or unapproved."""
    copy = find_access_copy(token)
    manifest, included = _write_zip(copy, out)
    now = timezone.now()
    with transaction.atomic(), service_scope(copy.tenant_id):
        claimed = AccessCopy.objects.filter(
            pk=copy.pk, approved_at__isnull=False, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now, manifest=manifest)
        if claimed != 1:
            raise AccessCopyUnavailable
        for rec in included:
            grant = StreamGrant(
                kind="copy", subject=str(copy.pk), recording_id=str(rec.pk), nonce=_copy_nonce(copy, rec)
            )
            log_playback(request=request, recording=rec, grant=grant, via=PlaybackAccess.Via.ACCESS_COPY)
        log_event(
            tenant=copy.tenant,
            actor=None,
            action="privacy.subject.access_copy_download",
            target=copy,
            detail={"recordings": len(included)},
            request=request,
        )
    copy.used_at, copy.manifest = now, manifest
    return copy
