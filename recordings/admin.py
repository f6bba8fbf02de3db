"""Support staff's view of recordings: metadata only, read-only, across tenants.

Support staff cannot listen: no audio, no storage keys, no streaming or share links, no
waveform — and the parties' numbers only masked. Nothing can be added, changed or deleted here
(deletion goes through the customer's own tools, or the end of service).

Also here: the admin of Playback subscriptions (a change goes through the lifecycle, as the
portal's does) and, from ``recordings.privacy.admin``, the end of a customer's service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from recordings import lifecycle, products
from recordings.models import Call, Integrity, Recording
from recordings.privacy import admin as privacy_admin  # noqa: F401  (the end of service action)
from tenants.admin import TenantOwnedForm, UnscopedAdminMixin
from tenants.models import PlaybackSubscription
from tenants.scoping import tenant_scope
from tenants.support import staff_member


def mask_number(number: str) -> str:
    """``+31612345678`` -> ``…678``: enough to tell calls apart in a support ticket, no more."""
    if not number or number == "anonymous":
        return number or "–"
    return "…" + number[-3:]


class IntegrityFilter(admin.SimpleListFilter):
    """The last checksum check (``manage.py verify_recordings``): verified, failed, not checked yet."""

    title = "integrity"
    parameter_name = "integrity"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in Integrity.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Recording]) -> QuerySet[Recording]:
        if self.value() == Integrity.FAILED:
            return queryset.filter(integrity_failed_at__isnull=False)
        if self.value() == Integrity.VERIFIED:
            return queryset.filter(integrity_failed_at__isnull=True, verified_at__isnull=False)
        if self.value() == Integrity.UNCHECKED:
            return queryset.filter(integrity_failed_at__isnull=True, verified_at__isnull=True)
        return queryset


class ReadOnlyMaskedAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    """What support staff see of a call or a recording: read-only, numbers masked."""

    @admin.display(description="local party")
    def local_party(self, obj: Call | Recording) -> str:
        return mask_number(obj.local_number)

    @admin.display(description="remote party")
    def remote_party(self, obj: Call | Recording) -> str:
        return mask_number(obj.remote_number)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Recording)
class RecordingAdmin(ReadOnlyMaskedAdmin):
    # Only these fields exist on the page: never storage_key, sha256, peaks, segments, numbers.
    fields = readonly_fields = (
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
        "integrity_status",
        "verified_at",
        "integrity_failed_at",
        "integrity_problem",
        "created_at",
        "deleted_at",
        "deletion_reason",
    )
    list_display = [
        "started_at",
        "tenant",
        "owner",
        "kind",
        "direction",
        "duration_ms",
        "integrity_status",
        "deleted_at",
    ]
    list_filter = [
        "tenant",
        "kind",
        "direction",
        "saved",
        IntegrityFilter,
        ("deleted_at", admin.EmptyFieldListFilter),
    ]
    date_hierarchy = "started_at"
    list_select_related = ["tenant", "owner"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Recording]:
        return super().get_queryset(request).select_related("owner")

    @admin.display(description="integrity")
    def integrity_status(self, obj: Recording) -> str:
        if obj.integrity == Integrity.FAILED:
            return f"⚠ FAILED: {obj.get_integrity_problem_display()}"
        if obj.integrity == Integrity.VERIFIED:
            return f"verified {obj.verified_at:%Y-%m-%d %H:%M}"
        return "not checked yet"


@admin.register(Call)
class CallAdmin(ReadOnlyMaskedAdmin):
    """Calls as the telephony interface left them, so support sees one that ended ``failed`` and
    why (``error_code``: e.g. ``audio_missing``, ``processing_stalled``; issue 19). Read-only;
    no numbers in full, no storage keys."""

    fields = readonly_fields = (
        "id",
        "tenant",
        "pbx_call_id",
        "user",
        "kind",
        "mode",
        "direction",
        "leg",
        "local_party",
        "remote_party",
        "started_at",
        "ended_at",
        "state",
        "outcome",
        "error_code",
        "processing_attempts",
        "uploaded_at",
        "updated_at",
    )
    list_display = [
        "started_at",
        "tenant",
        "pbx_call_id",
        "state",
        "outcome",
        "error_code",
        "processing_attempts",
    ]
    list_filter = ["state", "tenant", "kind"]
    search_fields = ["pbx_call_id"]
    date_hierarchy = "started_at"
    show_full_result_count = False


@admin.register(PlaybackSubscription)
class PlaybackSubscriptionAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    form = TenantOwnedForm
    list_display = ["user", "tier", "tenant"]
    list_filter = ["tenant", "tier"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]

    # Through the lifecycle, as the portal does: a tier change re-computes the saved playbacks'
    # expiry, a removal makes them due within 30 days (recordings.lifecycle).

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        previous = form.initial.get("tier") if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if previous != obj.tier:
                with tenant_scope(obj.tenant_id):
                    lifecycle.on_tier_changed(user=obj.user, previous=previous, tier=obj.tier)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_queryset(request, self.get_queryset(request).filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for subscription in queryset.select_related("user"):
                with tenant_scope(subscription.tenant_id):
                    products.remove_playback_subscription(
                        user=subscription.user, acting_user=staff_member(request)
                    )
