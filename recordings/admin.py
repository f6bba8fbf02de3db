"""Support staff's view of recordings: metadata only, read-only, across tenants.

Support staff cannot listen: no audio, no storage keys, no streaming or share links, no
waveform — and the parties' numbers only masked. Nothing can be added, changed or deleted here
(deletion goes through the customer's own tools, or the end of service).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recordings.models import Recording
from tenants.admin import UnscopedAdminMixin


def mask_number(number: str) -> str:
    """``+31612345678`` -> ``…678``: enough to tell calls apart in a support ticket, no more."""
    if not number or number == "anonymous":
        return number or "–"
    return "…" + number[-3:]


@admin.register(Recording)
class RecordingAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    # Only these fields exist on the page: never storage_key, sha256, peaks, segments, numbers.
    fields = [
        "id",
        "tenant",
        "owner",
        "kind",
        "direction",
        "leg",
        "local_party",
        "remote_party",
        "started_at",
        "ended_at",
        "duration_ms",
        "mime",
        "size_bytes",
        "saved",
        "expires_at",
        "verified_at",
        "created_at",
        "deleted_at",
        "deletion_reason",
    ]
    readonly_fields = fields
    list_display = [
        "started_at",
        "tenant",
        "owner",
        "kind",
        "direction",
        "duration_ms",
        "verified_at",
        "deleted_at",
    ]
    list_filter = ["tenant", "kind", "direction", "saved", ("deleted_at", admin.EmptyFieldListFilter)]
    date_hierarchy = "started_at"
    list_select_related = ["tenant", "owner"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Recording]:
        return super().get_queryset(request).select_related("owner")

    @admin.display(description="local party")
    def local_party(self, obj: Recording) -> str:
        return mask_number(obj.local_number)

    @admin.display(description="remote party")
    def remote_party(self, obj: Recording) -> str:
        return mask_number(obj.remote_number)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
