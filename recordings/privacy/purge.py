"""The purge at the end of a customer's service: delete every recording, derived file, share link and personal
field of the tenant, prove that no storage object under the tenant remains, and keep a deletion
report without personal data."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db.models.deletion import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings.models import Recording
from recordings.privacy.subjects import SERVICE_ENDED, delete_recordings
from tenants import audit
from tenants.audit import log_event
from tenants.models import DeletionReport, Tenant, User
from tenants.scoping import TenantOwned, service_scope

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def storage_prefix(tenant_id: uuid.UUID | str) -> str:
    """Every storage object of a tenant lives under this prefix (the capture work's key layout)."""
    return f"tenants/{tenant_id}/"


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

    with service_scope(tenant):
        # 1. Recordings, through the one deletion path (storage objects first).
        failed: set[uuid.UUID] = set()
        while True:
            chunk = list(Recording.objects.live().exclude(pk__in=failed).values_list("pk", flat=True)[:batch])
            if not chunk:
                break
            result = delete_recordings(chunk, reason=SERVICE_ENDED)
            failed.update(result.failed)
            _bump(report, "recordings", result.rows)
            _bump(report, "recording_objects", result.objects)
            # What went with them (transcripts, labels, shares, ...), under the same keys as the
            # rows of step 2, so a transcript is counted whichever step deleted it.
            for label, n in result.derived.items():
                _bump(report, f"rows:{label}", n)
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
