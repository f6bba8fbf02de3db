"""Compare the recordings storage with the database: objects without a row, rows without an object."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.files.storage import Storage, storages

from recordings.models import Call, Recording

# Objects written and deleted within a request (the health check) are not recordings; nor are the
# audit log's seals, which share the bucket on S3 (settings.STORAGES["audit"], tenants/audit.py).
IGNORED_PREFIXES = ("healthz/", "audit-seals/")


@dataclass
class Report:
    objects: int = 0
    rows: int = 0
    orphan_objects: list[str] = field(default_factory=list)
    missing_objects: list[tuple[str, str]] = field(default_factory=list)  # (recording id, key)
    uploads: int = 0
    missing_uploads: list[tuple[str, str]] = field(default_factory=list)  # (call id, upload key)

    @property
    def clean(self) -> bool:
        return not self.orphan_objects and not self.missing_objects and not self.missing_uploads


def iter_storage_keys(storage: Storage) -> Iterator[str]:
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:
        location = (getattr(storage, "location", "") or "").strip("/")
        prefix = f"{location}/" if location else ""
        for obj in bucket.objects.filter(Prefix=prefix):
            yield obj.key[len(prefix) :]
        return

    def walk(folder: str) -> Iterator[str]:
        try:
            dirs, files = storage.listdir(folder)
        except FileNotFoundError:
            return
        for name in files:
            yield f"{folder}/{name}" if folder else name
        for name in dirs:
            yield from walk(f"{folder}/{name}" if folder else name)

    yield from walk("")


def reconcile(*, storage: Storage | None = None) -> Report:
    """Across tenants (maintenance): every live recording's object and every call's raw upload
    must exist, and every object must belong to one (a recording, an upload, the rendition a
    processing attempt is writing, or a registered provider's key). Memory: one set of the referenced keys."""
    storage = storage or storages["recordings"]
    report = Report()
    expected: dict[str, str] = {}
    for rec_id, key in (
        Recording.objects.unscoped()
        .filter(deleted_at__isnull=True)
        .exclude(storage_key="")
        .values_list("id", "storage_key")
        .iterator(chunk_size=5000)
    ):
        expected[key] = str(rec_id)
        report.rows += 1
    referenced = set(expected)
    uploads: dict[str, str] = {
        key: str(call_id)
        for call_id, key in Call.objects.unscoped().exclude(upload_key="").values_list("id", "upload_key")
    }
    report.uploads = len(uploads)
    referenced.update(uploads)
    # The rendition a processing attempt is writing belongs to its call until the recording
    # commits (a stuck call's is deleted by its next attempt); it is not an orphan.
    referenced.update(
        Call.objects.unscoped()
        .exclude(pending_rendition_key="")
        .values_list("pending_rendition_key", flat=True)
    )
    seen: set[str] = set()
    for key in iter_storage_keys(storage):
        if key.startswith(IGNORED_PREFIXES):
            continue
        report.objects += 1
        seen.add(key)
        if key not in referenced:
            report.orphan_objects.append(key)
    report.missing_objects = sorted((rec, key) for key, rec in expected.items() if key not in seen)
    report.missing_uploads = sorted((call, key) for key, call in uploads.items() if key not in seen)
    return report
