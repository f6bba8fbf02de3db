"""Privacy (AVG) duties as things the product does.

- the processing register (art. 30): edited by the customer admin, exported as a document built
  from the real settings; a purpose is required before recording can be switched on;
- data subject requests: find every recording with a phone number as the other party (never the
  tenant's own lines), erase them (a counted dry run first), a metadata export, and a
  right-of-access copy: requested by one customer admin, approved by another (four eyes), then a
  one-time, expiring link whose ZIP carries its own manifest and writes the access log;
- the end of a customer's service: purge every recording, derived file, share link and personal
  field of the tenant, prove that no storage object under the tenant remains, and keep a deletion
  report without personal data.

Recordings are deleted only through ``recordings.lifecycle`` (storage first, then the row becomes a
tombstone): there is one deletion path in the product.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import phonenumbers
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.db.models.deletion import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants import audit, numbers
from tenants.audit import log_event
from tenants.models import (
    AccessCopy,
    AccessCopyNotice,
    DeletionReport,
    LegalBasis,
    Licence,
    PlaybackSubscription,
    ProcessingRegister,
    RecordingMode,
    Role,
    Tenant,
    User,
)
from tenants.scoping import TenantOwned, tenant_scope

if TYPE_CHECKING:
    from django.http import HttpRequest

    from recordings.models import Recording

log = logging.getLogger(__name__)

# A request for an access copy must be approved within this time, and an approved copy fetched
# within this time after its approval; then it is gone and must be requested again.
ACCESS_COPY_TTL = timedelta(days=7)
UNSAVED_PLAYBACK_DAYS = 3


def storage_prefix(tenant_id: uuid.UUID | str) -> str:
    """Every storage object of a tenant lives under this prefix (the capture work's key layout)."""
    return f"tenants/{tenant_id}/"


# --- the processing register ---------------------------------------------------------------------

REGISTER_FIELDS = ("purpose", "legal_basis", "legitimate_interest", "data_subjects", "sub_processors")


def get_register(tenant: Tenant) -> ProcessingRegister:
    with tenant_scope(tenant):
        register, _created = ProcessingRegister.objects.get_or_create(tenant=tenant)
    return register


def recording_is_on(tenant: Tenant) -> bool:
    """Anyone in the tenant whose calls can be recorded (a licence other than "never", or a
    Playback subscription)."""
    with tenant_scope(tenant):
        return (
            Licence.objects.exclude(mode=RecordingMode.NEVER).exists()
            or PlaybackSubscription.objects.exists()
        )


def require_purpose(tenant: Tenant) -> None:
    """Recording may only be switched on once the register states why calls are recorded."""
    with tenant_scope(tenant):
        register = ProcessingRegister.objects.filter(tenant=tenant).first()
    if register is None or not register.has_purpose:
        raise ValidationError(
            _(
                "Record the purpose of call recording in the processing register (Manage → Privacy) "
                "before switching recording on."
            )
        )


def update_register(
    *, tenant: Tenant, acting_user: User | None, request: HttpRequest | None = None, **changes: Any
) -> ProcessingRegister:
    """Change the register (and the announcement to callers, which it documents). The purpose
    cannot be emptied while recording is on, and a legitimate interest needs its argument."""
    announce = changes.pop("announce_recording", None)
    unknown = set(changes) - set(REGISTER_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown register fields: %s") % ", ".join(sorted(unknown)))
    with transaction.atomic(), tenant_scope(tenant):
        ProcessingRegister.objects.get_or_create(tenant=tenant)
        register = ProcessingRegister.objects.select_for_update().get(tenant=tenant)
        changed = sorted(f for f, v in changes.items() if getattr(register, f) != v)
        for field, value in changes.items():
            setattr(register, field, value.strip() if isinstance(value, str) else value)
        if register.legal_basis not in LegalBasis.values:
            raise ValidationError({"legal_basis": _("Choose a legal basis from the list.")})
        if not register.has_purpose and recording_is_on(tenant):
            raise ValidationError(
                {
                    "purpose": _(
                        "Calls are being recorded: the purpose cannot be empty. Switch recording off first."
                    )
                }
            )
        if (
            register.has_purpose
            and register.legal_basis == LegalBasis.LEGITIMATE_INTEREST
            and not register.legitimate_interest.strip()
        ):
            raise ValidationError(
                {
                    "legitimate_interest": _(
                        "With legitimate interest as the legal basis, write down the interest and why "
                        "recording is necessary for it."
                    )
                }
            )
        register.updated_by = acting_user
        register.full_clean(exclude=["tenant", "updated_by"])
        register.save()
        if announce is not None and bool(announce) != tenant.announce_recording:
            from tenants.services import update_tenant_settings

            update_tenant_settings(tenant=tenant, acting_user=acting_user, announce_recording=bool(announce))
            tenant.announce_recording = bool(announce)
            changed.append("announce_recording")
        if changed:
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="privacy.register.change",
                target=register,
                detail={"fields": changed},
                request=request,
            )
    return register


@dataclass(frozen=True)
class RetentionLine:
    product: str
    rule: str


def register_document(tenant: Tenant) -> dict[str, Any]:
    """Everything the exported register says, read from the live settings (not typed by hand)."""
    from recordings.models import Kind, Recording

    register = get_register(tenant)
    with tenant_scope(tenant):
        users = User.objects.filter(tenant=tenant, is_active=True)
        admins = users.filter(role=Role.ADMIN).count()
        listeners = users.filter(role=Role.LISTENER).count()
        licences = Licence.objects.exclude(mode=RecordingMode.NEVER).count()
        subscriptions = PlaybackSubscription.objects.count()
        modes = sorted(set(Licence.objects.values_list("mode", flat=True)))
        tiers = sorted(set(PlaybackSubscription.objects.values_list("tier", flat=True)))
        live = Recording.objects.live()
        counts = {
            "standard": live.filter(kind=Kind.STANDARD).count(),
            "playback": live.filter(kind=Kind.PLAYBACK).count(),
        }
    retention = [
        RetentionLine(
            _("Standard recordings (Call Recording licence)"),
            _("%(days)s days after the call, then deleted automatically") % {"days": tenant.retention_days},
        ),
        RetentionLine(
            _("Playback, not saved"),
            _("%(days)s days after the call, then deleted automatically") % {"days": UNSAVED_PLAYBACK_DAYS},
        ),
        RetentionLine(
            _("Playback, saved"),
            _("by the user's tier: 30 days, 90 days, or within a 100,000-minute quota (oldest first)"),
        ),
    ]
    return {
        "tenant": tenant,
        "register": register,
        "legal_basis": LegalBasis(register.legal_basis).label,
        "retention": retention,
        "announce": tenant.announce_recording,
        "require_mfa": tenant.require_mfa_for_admins,
        "access": {
            "admins": admins,
            "listeners": listeners,
            "licences": licences,
            "subscriptions": subscriptions,
            "modes": [RecordingMode(m).label for m in modes],
            "tiers": tiers,
        },
        "counts": counts,
        "generated_at": timezone.now(),
    }


def integrity_failures(tenant: Tenant, *, limit: int = 50) -> list[Recording]:
    """Live recordings whose stored object failed its last checksum check (newest failure first),
    for the customer admin: metadata only."""
    from recordings.models import Recording

    with tenant_scope(tenant):
        return list(
            Recording.objects.live()
            .filter(tenant=tenant, integrity_failed_at__isnull=False)
            .select_related("owner")
            .order_by("-integrity_failed_at", "id")[:limit]
        )


# --- data subject requests -----------------------------------------------------------------------


def normalise_number(raw: str, tenant: Tenant) -> str:
    """E.164 form of a number typed in international or national form (the tenant's country):
    the one rule for typed numbers, ``tenants.numbers.normalise_input``."""
    try:
        return numbers.normalise_input(raw, country=tenant.country)
    except numbers.InvalidNumber as exc:
        raise ValidationError({"number": exc.message}) from None


def _e164_or_none(raw: str, tenant: Tenant) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, tenant.country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def own_lines(tenant: Tenant) -> set[str]:
    """The tenant's own numbers, in E.164: every ``local_number`` seen in its calls and
    recordings, and its users' phone-system ids where those are phone numbers. Call inside the
    tenant's scope. (A distinct scan of the calls: one column, few values.)"""
    from recordings.models import Call, Recording

    # order_by(): without it a model's default ordering joins the DISTINCT (a row per call).
    calls = Call.objects.filter(tenant=tenant).order_by()
    recordings = Recording.objects.filter(tenant=tenant).order_by()
    seen = set(calls.values_list("local_number", flat=True).distinct())
    seen |= set(recordings.values_list("local_number", flat=True).distinct())
    seen |= set(User.objects.filter(tenant=tenant).exclude(pbx_id="").values_list("pbx_id", flat=True))
    lines = set()
    for raw in seen:
        e164 = _e164_or_none(raw or "", tenant)
        if e164:
            lines.add(e164)
    return lines


def subject_number(raw: str, tenant: Tenant) -> str:
    """The E.164 number of a data subject, typed by a customer admin. A subject is the other party
    of a call: a number that is one of the tenant's own lines (or a user's extension) would match
    the tenant's staff instead (every recording of a line), so it is refused, whatever its
    formatting (both sides are compared in E.164)."""
    text = (raw or "").strip(" ")
    compact = "".join(ch for ch in text if ch not in " -.()")
    with tenant_scope(tenant):
        if compact and User.objects.filter(tenant=tenant, pbx_id=compact).exists():
            raise ValidationError(
                {"number": _("%(raw)s is an extension of your own organisation.") % {"raw": text}}
            )
        number = normalise_number(text, tenant)
        if number in own_lines(tenant):
            raise ValidationError(
                {
                    "number": _(
                        "%(number)s is one of your organisation's own numbers. Requests from people "
                        "are searched by the other party's number only."
                    )
                    % {"number": number}
                }
            )
    return number


def recordings_involving(tenant: Tenant, number: str) -> QuerySet[Recording]:
    """Live recordings of the tenant where ``number`` (E.164) is the other party (never the
    tenant's own line: see :func:`subject_number`). Call inside the tenant's scope."""
    from recordings.models import Recording

    return (
        Recording.objects.live()
        .filter(tenant=tenant, remote_number=number)
        .select_related("owner")
        .order_by("started_at", "id")
    )


def calls_involving(tenant: Tenant, number: str) -> QuerySet[Any]:
    from recordings.models import Call

    return Call.objects.filter(tenant=tenant, remote_number=number)


def _delete_recordings(ids: list[uuid.UUID], *, reason: str) -> Any:
    """The product's one deletion path (``recordings.lifecycle``): storage objects first, then the
    rows become tombstones without personal content. Call outside a transaction."""
    from recordings import lifecycle

    return lifecycle.delete_recording_objects(recordings=ids, reason=reason)


SUBJECT_ERASURE = "subject_erasure"
SERVICE_ENDED = "service_ended"
ERASED_NUMBER = ""


def erase_subject(
    *,
    tenant: Tenant,
    number: str,
    confirmed_count: int,
    acting_user: User | None,
    request: HttpRequest | None = None,
) -> int:
    """Erase every recording involving ``number`` (art. 17 AVG), and the number from the calls.

    ``confirmed_count`` is the count the admin saw in the dry run; if it no longer matches (a call
    came in meanwhile) nothing is erased and the admin is asked to count again.
    """
    number = subject_number(number, tenant)
    with tenant_scope(tenant):
        ids = list(recordings_involving(tenant, number).values_list("id", flat=True))
        if len(ids) != confirmed_count:
            raise ValidationError(
                _(
                    "The number of recordings changed since you counted (%(then)s, now %(now)s). "
                    "Count again before erasing."
                )
                % {"then": confirmed_count, "now": len(ids)}
            )
        result = _delete_recordings(ids, reason=SUBJECT_ERASURE)
        with transaction.atomic():
            scrubbed = 0
            if not result.failed:
                scrubbed = calls_involving(tenant, number).update(remote_number=ERASED_NUMBER)
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="privacy.subject.erase",
                detail={"recordings": result.rows, "failed": len(result.failed), "calls_scrubbed": scrubbed},
                request=request,
            )
    if result.failed:
        raise ValidationError(
            _("%(n)s recording(s) could not be deleted from storage and are still there; try again.")
            % {"n": len(result.failed)}
        )
    return len(ids)


METADATA_COLUMNS = [
    "recording_id",
    "kind",
    "direction",
    "leg",
    "started_at",
    "ended_at",
    "duration_seconds",
    "local_number",
    "remote_number",
    "staff_member",
    "saved",
    "expires_at",
]


def _metadata_rows(tenant: Tenant, number: str) -> list[dict[str, Any]]:
    rows = []
    for rec in recordings_involving(tenant, number):
        rows.append(
            {
                "recording_id": str(rec.id),
                "kind": rec.kind,
                "direction": rec.direction,
                "leg": rec.leg,
                "started_at": rec.started_at.isoformat(),
                "ended_at": rec.ended_at.isoformat(),
                "duration_seconds": round(rec.duration_ms / 1000, 1),
                "local_number": rec.local_number,
                "remote_number": rec.remote_number,
                "staff_member": rec.owner.get_full_name() or rec.owner.get_username() if rec.owner else "",
                "saved": rec.saved,
                "expires_at": rec.expires_at.isoformat() if rec.expires_at else "",
            }
        )
    return rows


def metadata_export(
    *, tenant: Tenant, number: str, fmt: str, acting_user: User | None, request: HttpRequest | None = None
) -> tuple[str, str]:
    """The metadata (never audio) of every recording involving ``number``: (content, media type)."""
    if fmt not in {"csv", "json"}:
        raise ValidationError(_("Export as csv or json."))
    number = subject_number(number, tenant)
    with tenant_scope(tenant):
        rows = _metadata_rows(tenant, number)
    log_event(
        tenant=tenant,
        actor=acting_user,
        action="privacy.subject.export",
        detail={"format": fmt, "recordings": len(rows)},
        request=request,
    )
    if fmt == "json":
        body = json.dumps({"number": number, "recordings": rows}, indent=2)
        return body, "application/json"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METADATA_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue(), "text/csv"


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
    from recordings.models import Kind

    acting_user = _require_admin(tenant, acting_user)
    number = subject_number(number, tenant)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": _("Say why the copy is made (for example: the request's date and channel).")}
        )
    if len(reason) > 1000:
        raise ValidationError({"reason": _("Keep the reason under 1,000 characters.")})
    with transaction.atomic(), tenant_scope(tenant):
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
        copy.recordings.set([rec.pk for rec in recordings])
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
    from django.http import Http404

    try:
        with tenant_scope(tenant):
            return AccessCopy.objects.select_related("created_by", "approved_by").get(pk=copy_id)
    except (AccessCopy.DoesNotExist, ValueError, ValidationError):
        raise Http404("No such access copy") from None


def access_copies(tenant: Tenant, *, limit: int = 50) -> list[AccessCopy]:
    """The tenant's access copies, newest first, with who requested and approved them."""
    with tenant_scope(tenant):
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
    from recordings.models import Kind, Recording

    acting_user = _require_admin(tenant, acting_user)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic(), tenant_scope(tenant):
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
    with transaction.atomic(), tenant_scope(tenant):
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
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        return list(
            AccessCopyNotice.objects.filter(user=user, seen_at__isnull=True).select_related(
                "access_copy__created_by", "access_copy__approved_by"
            )
        )


def mark_notice_seen(*, notice_id: uuid.UUID | str, acting_user: User) -> AccessCopyNotice:
    """The user has read the notice (it stays, marked read). Only the user it is for: Http404."""
    from django.http import Http404

    with transaction.atomic(), tenant_scope(acting_user.tenant_id):  # type: ignore[arg-type]
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
    from recordings.models import Recording

    store = storages["recordings"]
    included: list[Recording] = []
    entries = []
    with tenant_scope(copy.tenant_id), zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
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
    from recordings.models import PlaybackAccess
    from recordings.streaming import StreamGrant, log_playback

    copy = find_access_copy(token)
    manifest, included = _write_zip(copy, out)
    now = timezone.now()
    with transaction.atomic(), tenant_scope(copy.tenant_id):
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


# --- the end of a customer's service -------------------------------------------------------------


def end_service(*, tenant: Tenant, acting_user: User, request: HttpRequest | None = None) -> DeletionReport:
    """Support staff end a customer's service: nobody of the tenant can sign in any more, and a
    task purges the tenant's data. Calling it again for an ended tenant resumes the purge."""
    from tenants import tasks

    if not getattr(acting_user, "is_support_staff", False):
        raise ValidationError(_("Only support staff can end a customer's service."))
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if tenant.status != Tenant.Status.ENDED:
            tenant.status = Tenant.Status.ENDED
            tenant.ended_at = timezone.now()
            tenant.save(update_fields=["status", "ended_at"])
        report, created = DeletionReport.objects.get_or_create(
            tenant=tenant, defaults={"requested_by": acting_user.get_username()}
        )
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="support.tenant.end_service" if created else "support.tenant.resume_purge",
            target=tenant,
            request=request,
        )
        from hiprecorder.tasks import enqueue

        enqueue(tasks.purge_tenant, str(tenant.pk))
    return report


def tenant_owned_models() -> list[type[TenantOwned]]:
    """Every concrete tenant-owned model, whoever added it (so a new table cannot be forgotten)."""
    return [m for m in apps.get_models() if issubclass(m, TenantOwned) and not m._meta.abstract]


def _walk(store: Any, prefix: str) -> list[str]:
    """Every object name under ``prefix`` (recursively)."""
    try:
        dirs, files = store.listdir(prefix)
    except FileNotFoundError:
        return []
    names = [f"{prefix}{name}" for name in files]
    for sub in dirs:
        names.extend(_walk(store, f"{prefix}{sub}/"))
    return names


def storage_objects_of(tenant_id: uuid.UUID | str) -> list[str]:
    return _walk(storages["recordings"], storage_prefix(tenant_id))


def _remaining_rows(tenant_id: uuid.UUID) -> int:
    rows = sum(m.objects.unscoped().filter(tenant_id=tenant_id).count() for m in tenant_owned_models())
    return rows + User.objects.filter(tenant_id=tenant_id).count()


def _bump(report: DeletionReport, key: str, n: int) -> None:
    if n:
        counts = dict(report.counts)
        counts[key] = counts.get(key, 0) + n
        DeletionReport.objects.filter(pk=report.pk).update(counts=counts)
        report.counts = counts


def _scrub_admin_history(tenant_id: uuid.UUID, batch: int) -> int:
    """Blank the object names in Django's admin history (``LogEntry.object_repr``) of every row
    of the tenant and its people; idempotent. Returns how many entries were blanked now."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    scrubbed = 0
    querysets = [m.objects.unscoped().filter(tenant_id=tenant_id) for m in tenant_owned_models()]
    querysets.append(User.objects.filter(tenant_id=tenant_id))
    for rows in querysets:
        content_type = ContentType.objects.get_for_model(rows.model)
        ids = [str(pk) for pk in rows.values_list("pk", flat=True)]
        for start in range(0, len(ids), batch):
            scrubbed += (
                LogEntry.objects.filter(content_type=content_type, object_id__in=ids[start : start + batch])
                .exclude(object_repr=ERASED_REPR)
                .update(object_repr=ERASED_REPR)
            )
    return scrubbed


ERASED_REPR = "(erased)"


def _erase_audit_personal_fields(report: DeletionReport, tenant_id: uuid.UUID, batch: int) -> int:
    """Blank the personal fields of the tenant's audit entries; the entries still holding any."""
    _bump(report, "audit_entries_anonymised", audit.erase_personal_fields(tenant_id=tenant_id, batch=batch))
    left = audit.personal_data_left(tenant_id=tenant_id)
    DeletionReport.objects.filter(pk=report.pk).update(audit_entries_with_personal_data=left)
    report.audit_entries_with_personal_data = left
    return left


def purge_tenant(*, tenant_id: uuid.UUID | str, batch: int | None = None) -> DeletionReport:
    """Delete everything of an ended tenant, in batches; safe to run again after an interruption
    (each step deletes what is still there). Ends with proof: no storage object under the tenant's
    prefix and no row of the tenant remain, or the report says failed."""
    from django.conf import settings

    from recordings.models import Recording

    batch = batch or settings.PURGE_BATCH
    tenant_id = uuid.UUID(str(tenant_id))
    tenant = Tenant.objects.get(pk=tenant_id)
    if tenant.status != Tenant.Status.ENDED:
        raise ValidationError(_("The service of %(tenant)s has not ended.") % {"tenant": tenant})
    report = DeletionReport.objects.get(tenant=tenant)
    if report.status == DeletionReport.Status.DONE:
        # Entries written since (support staff asking to resume) lose their personal fields too.
        _erase_audit_personal_fields(report, tenant_id, batch)
        return report
    now = timezone.now()
    DeletionReport.objects.filter(pk=report.pk).update(
        status=DeletionReport.Status.RUNNING, started_at=report.started_at or now, runs=report.runs + 1
    )
    report.refresh_from_db()
    if "storage_objects_at_start" not in report.counts:
        report.counts = {**report.counts, "storage_objects_at_start": len(storage_objects_of(tenant_id))}
        DeletionReport.objects.filter(pk=report.pk).update(counts=report.counts)

    with tenant_scope(tenant):
        # 1. Recordings, through the one deletion path (storage objects first).
        failed: set[uuid.UUID] = set()
        while True:
            chunk = list(Recording.objects.live().exclude(pk__in=failed).values_list("pk", flat=True)[:batch])
            if not chunk:
                break
            result = _delete_recordings(chunk, reason=SERVICE_ENDED)
            failed.update(result.failed)
            _bump(report, "recordings", result.rows)
            _bump(report, "recording_objects", result.objects)
        # (a recording whose objects could not be deleted still goes as a row; its objects are
        # swept again in step 4 and counted there if they remain)
        # 1b. Support staff's admin history names the objects it changed ("Jan Jansen – always"):
        #     blank those names while the rows still say which entries are the tenant's.
        _bump(report, "admin_history_anonymised", _scrub_admin_history(tenant_id, batch))
        # 2. Every row of the tenant, tombstones included (shares, labels, comments cascade).
        #    Passes repeat until nothing is left, so a PROTECTed reference only changes the order.
        models_in_order = sorted(tenant_owned_models(), key=lambda m: m is not Recording)
        progress = True
        while progress:
            progress = False
            for model in models_in_order:
                while True:
                    ids = list(
                        model.objects.unscoped()
                        .filter(tenant_id=tenant_id)
                        .values_list("pk", flat=True)[:batch]
                    )
                    if not ids:
                        break
                    try:
                        deleted, per_model = model.objects.unscoped().filter(pk__in=ids).delete()
                    except ProtectedError:
                        break
                    for key, n in per_model.items():
                        _bump(report, f"rows:{key}", n)
                    progress = progress or bool(deleted)
        # 3. The people themselves (their MFA devices and e-mail addresses go with them).
        while True:
            ids = list(User.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True)[:batch])
            if not ids:
                break
            _deleted, per_model = User.objects.filter(pk__in=ids).delete()
            for key, n in per_model.items():
                _bump(report, f"rows:{key}", n)
        # 4. Whatever is left in storage under the tenant (raw uploads, a half-written rendition).
        store = storages["recordings"]
        swept = 0
        for name in storage_objects_of(tenant_id):
            try:
                store.delete(name)
            except Exception:  # counted below as remaining; the report says failed
                log.exception("end of service: could not delete %s", name)
            else:
                swept += 1
        _bump(report, "storage_objects_swept", swept)

    # 5. The personal fields of the tenant's audit chain (names, addresses, browsers, numbers);
    #    the entries themselves stay, and the chain still verifies (tenants.audit, scheme 2).
    audit_left = _erase_audit_personal_fields(report, tenant_id, batch)

    # 6. Proof.
    objects_remaining = len(storage_objects_of(tenant_id))
    rows_remaining = _remaining_rows(tenant_id)
    status = (
        DeletionReport.Status.DONE
        if objects_remaining == 0 and rows_remaining == 0 and audit_left == 0
        else DeletionReport.Status.FAILED
    )
    DeletionReport.objects.filter(pk=report.pk).update(
        status=status,
        finished_at=timezone.now(),
        objects_remaining=objects_remaining,
        rows_remaining=rows_remaining,
    )
    report.refresh_from_db()
    log_event(
        tenant=tenant,
        actor=None,
        action="support.tenant.purged",
        target=tenant,
        detail={
            "status": status,
            "objects_remaining": objects_remaining,
            "rows_remaining": rows_remaining,
            "audit_entries_with_personal_data": audit_left,
        },
    )
    return report


def deletion_report_document(report: DeletionReport) -> dict[str, Any]:
    """The report as plain data (for the admin and an export): counts, times, verification."""
    return {
        "tenant_id": str(report.tenant_id),
        "requested_by": report.requested_by,
        "requested_at": report.requested_at.isoformat(),
        "started_at": report.started_at.isoformat() if report.started_at else None,
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "status": report.status,
        "runs": report.runs,
        "counts": report.counts,
        "objects_remaining": report.objects_remaining,
        "rows_remaining": report.rows_remaining,
        "audit_entries_with_personal_data": report.audit_entries_with_personal_data,
        "verified": report.verified,
    }
