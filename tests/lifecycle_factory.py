"""Recordings as the capture makes them, with a real object in the recordings storage."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from recordings.models import Call, Kind, Recording
from tenants.models import User
from tenants.scoping import tenant_scope


def make_recording(
    user: User,
    *,
    kind: str = Kind.PLAYBACK,
    ended_at: datetime | None = None,
    duration_ms: int = 61_000,
    remote_number: str = "+31612345678",
    with_object: bool = True,
) -> Recording:
    ended_at = ended_at or timezone.now()
    started_at = ended_at - timedelta(milliseconds=duration_ms)
    rec_id = uuid.uuid4()
    key = ""
    if with_object:
        key = storages["recordings"].save(
            f"{user.tenant_id}/{rec_id}.opus", ContentFile(b"OggS" + rec_id.bytes)
        )
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        call = Call.objects.create(
            pbx_call_id=f"pbx-{rec_id.hex[:12]}",
            user=user,
            direction="inbound",
            leg="mobile",
            local_number="+31201234567",
            remote_number=remote_number,
            started_at=started_at,
            ended_at=ended_at,
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
            leg="mobile",
            local_number="+31201234567",
            remote_number=remote_number,
            started_at=started_at,
            ended_at=ended_at,
            duration_ms=duration_ms,
            storage_key=key,
            mime="audio/ogg",
            size_bytes=20,
            sha256="0" * 64,
            peaks=[0.1, 0.5, 0.2],
        )


def object_exists(key: str) -> bool:
    return bool(key) and storages["recordings"].exists(key)


def committed():  # type: ignore[no-untyped-def]
    """Run the on-commit callbacks (tasks sent with ``enqueue``) at the end of the block, as a
    real commit would; tests run inside a transaction that never commits."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def use_file_storage(settings: object, folder: object) -> None:
    """Time-travel tests keep recordings on disk even on the real stack: S3 refuses requests
    signed with a travelled clock (RequestTimeTooSkewed). The S3 deletion path is covered by
    tests that run in real time (test_sweep_concurrency, test_lifecycle_e2e, bench_expiry)."""
    storages = dict(settings.STORAGES)  # type: ignore[attr-defined]
    if storages["recordings"]["BACKEND"].endswith("FileSystemStorage"):
        return
    storages["recordings"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(folder)},
    }
    settings.STORAGES = storages  # type: ignore[attr-defined]
