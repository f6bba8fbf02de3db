"""Privacy (AVG) duties as things the product does, one module per duty:

- ``register``: the processing register (art. 30), edited by the customer admin and exported as
  a document built from the real settings (a purpose is required before recording can be
  switched on: ``tenants.register``, the rule a licence change needs);
- ``subjects``: data subject requests: find every recording with a phone number as the other
  party (never the tenant's own lines), erase them (a counted dry run first), a metadata export;
- ``access_copies``: the right-of-access copy (art. 15), requested by one customer admin and
  approved by another (four eyes), then a one-time, expiring link;
- ``end_of_service`` and ``purge``: the end of a customer's service, the purge of every recording,
  derived file, share link and personal field of the tenant, with proof and a deletion report.

Privacy sits above ``recordings`` (it reads and deletes recordings) and above ``tenants`` (its
models live there, where their migrations are). Recordings are deleted only through
``recordings.lifecycle`` (storage first, then the row becomes a tombstone): there is one deletion
path in the product.
"""

from __future__ import annotations

from recordings.privacy.access_copies import (
    ACCESS_COPY_TTL,
    MANIFEST_NAME,
    AccessCopyUnavailable,
    IssuedAccessCopy,
    access_copies,
    access_copy_for_admin,
    approve_access_copy,
    can_make_access_copies,
    deliver_access_copy,
    find_access_copy,
    mark_notice_seen,
    notices_for,
    refuse_access_copy,
    request_access_copy,
)
from recordings.privacy.end_of_service import end_service
from recordings.privacy.purge import (
    ERASED_REPR,
    deletion_report_document,
    purge_tenant,
    storage_objects_of,
    storage_prefix,
    tenant_owned_models,
)
from recordings.privacy.register import (
    REGISTER_FIELDS,
    UNSAVED_PLAYBACK_DAYS,
    RetentionLine,
    integrity_failures,
    register_document,
    update_register,
)
from recordings.privacy.subjects import (
    ERASED_NUMBER,
    METADATA_COLUMNS,
    SERVICE_ENDED,
    SUBJECT_ERASURE,
    calls_involving,
    delete_recordings,
    erase_subject,
    metadata_export,
    normalise_number,
    own_lines,
    recordings_involving,
    search_subject,
    subject_number,
)
from tenants.register import get_register, recording_is_on, require_purpose

__all__ = [
    "ACCESS_COPY_TTL",
    "ERASED_NUMBER",
    "ERASED_REPR",
    "MANIFEST_NAME",
    "METADATA_COLUMNS",
    "REGISTER_FIELDS",
    "SERVICE_ENDED",
    "SUBJECT_ERASURE",
    "UNSAVED_PLAYBACK_DAYS",
    "AccessCopyUnavailable",
    "IssuedAccessCopy",
    "RetentionLine",
    "access_copies",
    "access_copy_for_admin",
    "approve_access_copy",
    "calls_involving",
    "can_make_access_copies",
    "delete_recordings",
    "deletion_report_document",
    "deliver_access_copy",
    "end_service",
    "erase_subject",
    "find_access_copy",
    "get_register",
    "integrity_failures",
    "mark_notice_seen",
    "metadata_export",
    "normalise_number",
    "notices_for",
    "own_lines",
    "purge_tenant",
    "recording_is_on",
    "recordings_involving",
    "refuse_access_copy",
    "register_document",
    "request_access_copy",
    "require_purpose",
    "search_subject",
    "storage_objects_of",
    "storage_prefix",
    "subject_number",
    "tenant_owned_models",
    "update_register",
]
