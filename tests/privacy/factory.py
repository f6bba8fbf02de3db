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
