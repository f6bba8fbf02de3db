"""Recordings as the capture stores them: a real object under ``tenants/<tenant_id>/``."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from recordings.models import Call, Kind, Recording
from tenants.models import User
from tenants.scoping import tenant_scope


def make_recording(
    user: User,
    *,
    remote_number: str = "+31612345678",
    local_number: str = "+31201234567",
    kind: str = Kind.STANDARD,
    size: int = 4096,
) -> Recording:
    rec_id = uuid.uuid4()
    audio = b"OggS" + os.urandom(size)
    key = storages["recordings"].save(
        f"tenants/{user.tenant_id}/recordings/{rec_id}.opus", ContentFile(audio)
    )
    ended = timezone.now()
    started = ended - timedelta(seconds=61)
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        call = Call.objects.create(
            pbx_call_id=f"pbx-{rec_id.hex[:12]}",
            user=user,
            direction="inbound",
            leg="fixed",
            local_number=local_number,
            remote_number=remote_number,
            started_at=started,
            ended_at=ended,
            kind=kind,
            record=True,
            announce=True,
            state=Call.State.RECORDED,
        )
        return Recording.objects.create(
            id=rec_id,
            call=call,
            owner=user,
            kind=kind,
            direction="inbound",
            leg="fixed",
            local_number=local_number,
            remote_number=remote_number,
            started_at=started,
            ended_at=ended,
            duration_ms=61_000,
            storage_key=key,
            mime="audio/ogg",
            size_bytes=len(audio),
            sha256=hashlib.sha256(audio).hexdigest(),
        )


def second_admin(tenant_admin: User, username: str = "bob") -> User:
    """Another customer admin of ``tenant_admin``'s tenant (four eyes need two); made once."""
    from tenants import services
    from tenants.models import Role

    existing = User.objects.filter(tenant_id=tenant_admin.tenant_id, username=username).first()
    if existing is not None:
        return existing
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    admin = services.create_user(
        tenant=tenant_admin.tenant, username=username, password="x-" + uuid.uuid4().hex, role=Role.ADMIN
    )
    TOTP.activate(admin, generate_totp_secret())  # the tenant requires an authenticator for admins
    return admin


def requested_access_copy(tenant_admin: User, number: str, reason: str = "E-mail of the person, 1 Dec"):
    """An access copy requested by ``tenant_admin`` (a second admin is made so it can be)."""
    from recordings import privacy

    second_admin(tenant_admin)
    return privacy.request_access_copy(
        tenant=tenant_admin.tenant, number=number, reason=reason, acting_user=tenant_admin
    )


def approved_access_copy(tenant_admin: User, number: str):
    """An access copy requested by ``tenant_admin`` and approved by a second admin: (copy, token)."""
    from recordings import privacy

    copy = requested_access_copy(tenant_admin, number)
    return privacy.approve_access_copy(
        tenant=tenant_admin.tenant, copy_id=copy.pk, acting_user=second_admin(tenant_admin)
    )
