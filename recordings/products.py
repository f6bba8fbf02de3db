"""What a product or settings change does to recordings.

The tenants services change the licence, the Playback subscription or the tenant's retention;
these services call them and then re-compute the expiry of the recordings the change touches
(``recordings.lifecycle``), in the same transaction. Views, the admin and commands change
products through these, so that no change forgets its recordings part. A change a person asks
for (``acting_user`` given) is written to the audit log in the same transaction; the system's own
changes (the demo command, fixtures) are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings import lifecycle
from recordings.models import Kind, Recording
from tenants import services
from tenants.audit import log_event
from tenants.models import (
    PlaybackSubscription,
    PlaybackTier,
    ProcessingRegister,
    RecordingMode,
    Tenant,
    User,
)
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from django.http import HttpRequest


#: Retention bounds of standard recordings (days). One day at least: 0 would delete every
#: recording at the next sweep. Ten years at most: the longest Dutch keeping duty a customer may
#: cite (the fiscal one, 7 years) with room to spare; anything longer is a typo, not a policy.
RETENTION_MIN_DAYS = 1
RETENTION_MAX_DAYS = 3650
#: Above this, the reason for keeping calls so long goes into the processing register (art. 30
#: AVG): 90 days is the retention the product starts with and what most customers need.
RETENTION_PURPOSE_ABOVE = 90


def check_retention_days(days: object) -> int:
    """``days`` as a retention, or a ValidationError that says the bounds and why."""
    if (
        not isinstance(days, int)
        or isinstance(days, bool)
        or not (RETENTION_MIN_DAYS <= days <= RETENTION_MAX_DAYS)
    ):
        raise ValidationError(
            {
                "retention_days": _(
                    "Choose a retention between %(min)s and %(max)s days (10 years): longer is not a "
                    "retention period but keeping calls for ever, and 0 would delete every recording."
                )
                % {"min": RETENTION_MIN_DAYS, "max": RETENTION_MAX_DAYS}
            }
        )
    return days


@dataclass(frozen=True)
class RetentionPreview:
    """What changing the tenant's retention to ``after`` days does, counted before it is
    confirmed with the lifecycle's own expiry expression (``lifecycle.retention_expiry``)."""

    before: int
    after: int
    due_now: int  # live standard recordings the next sweep deletes under the new retention
    purpose_needed: bool  # above 90 days: the register must say why
    purpose_on_file: str

    @property
    def changes(self) -> bool:
        return self.before != self.after


def retention_due(days: int, *, now: datetime) -> Any:
    """The live standard recordings that a retention of ``days`` makes due at ``now`` (call
    inside the tenant's scope): the rows ``on_retention_changed`` gives a due date in the past."""
    return (
        Recording.objects.filter(kind=Kind.STANDARD, deleted_at__isnull=True)
        .annotate(new_expiry=lifecycle.retention_expiry(days))
        .filter(new_expiry__lte=now)
    )


def preview_retention_change(*, tenant: Tenant, days: int, now: datetime | None = None) -> RetentionPreview:
    """The consequences of setting the retention to ``days``; changes nothing."""
    check_retention_days(days)
    now = now or timezone.now()
    with service_scope(tenant):
        register = ProcessingRegister.objects.filter(tenant=tenant).first()
        return RetentionPreview(
            before=tenant.retention_days,
            after=days,
            due_now=retention_due(days, now=now).count(),
            purpose_needed=days > RETENTION_PURPOSE_ABOVE,
            purpose_on_file=register.retention_purpose if register is not None else "",
        )


def update_tenant_settings(
    *,
    tenant: Tenant,
    acting_user: User | None = None,
    request: HttpRequest | None = None,
    retention_purpose: str = "",
    **changes: Any,
) -> Tenant:
    """Change the customer's own settings (``tenants.services.update_tenant_settings``); a changed
    retention period re-computes the expiry of the tenant's standard recordings. A retention
    outside 1..3650 days is refused; above 90 days it needs a purpose (``retention_purpose``, or
    the one already in the processing register), which is written into the register. Nothing
    changes when something is refused."""
    retention_purpose = (retention_purpose or "").strip()
    if "retention_days" in changes:
        check_retention_days(changes["retention_days"])
    with transaction.atomic(), service_scope(tenant):
        retention_before = Tenant.objects.select_for_update().get(pk=tenant.pk).retention_days
        retention_after = changes.get("retention_days", retention_before)
        due = 0
        if retention_after != retention_before:
            due = retention_due(retention_after, now=timezone.now()).count()
            if retention_after > RETENTION_PURPOSE_ABOVE:
                _write_retention_purpose(tenant, retention_purpose, acting_user)
        tenant = services.update_tenant_settings(tenant=tenant, acting_user=acting_user, **changes)
        if tenant.retention_days != retention_before:
            lifecycle.on_retention_changed(tenant=tenant)
        if acting_user is not None:
            others = {k: str(v) for k, v in changes.items() if k != "retention_days"}
            if others:
                log_event(
                    tenant=tenant,
                    actor=acting_user,
                    action="manage.settings.update",
                    target=tenant,
                    detail=others,
                    request=request,
                )
            if tenant.retention_days != retention_before:
                detail: dict[str, Any] = {
                    "before": retention_before,
                    "after": tenant.retention_days,
                    "due": due,
                }
                if tenant.retention_days > RETENTION_PURPOSE_ABOVE:
                    detail["purpose"] = ProcessingRegister.objects.get(tenant=tenant).retention_purpose
                log_event(
                    tenant=tenant,
                    actor=acting_user,
                    action="manage.settings.retention",
                    target=tenant,
                    detail=detail,
                    request=request,
                )
    return tenant


def _write_retention_purpose(tenant: Tenant, purpose: str, acting_user: User | None) -> None:
    """Above 90 days the register must say why (given now, or already there); a purpose given now
    replaces the one on file."""
    ProcessingRegister.objects.get_or_create(tenant=tenant)
    register = ProcessingRegister.objects.select_for_update().get(tenant=tenant)
    check_retention_purpose(purpose, register.retention_purpose)
    if purpose and purpose != register.retention_purpose:
        register.retention_purpose = purpose
        register.updated_by = acting_user
        register.full_clean(exclude=["tenant", "updated_by"])
        register.save()


def check_retention_purpose(purpose: str, on_file: str) -> None:
    """A retention above 90 days needs a purpose: given now, or already in the register."""
    if not (purpose.strip() or on_file.strip()):
        raise ValidationError(
            {
                "retention_purpose": _(
                    "Write down why standard recordings are kept longer than %(days)s days: it goes "
                    "into the processing register."
                )
                % {"days": RETENTION_PURPOSE_ABOVE}
            }
        )


def set_playback_subscription(
    *, user: User, tier: str, acting_user: User | None = None
) -> PlaybackSubscription:
    """Give the user a Playback subscription in ``tier`` (or change its tier); a changed tier
    re-computes the expiry of the user's saved playbacks."""
    with transaction.atomic(), service_scope(services.tenant_of(user)):
        User.objects.select_for_update().get(pk=user.pk)  # the tier read below stays true
        previous = PlaybackSubscription.objects.filter(user=user).values_list("tier", flat=True).first()
        subscription = services.set_playback_subscription(user=user, tier=tier, acting_user=acting_user)
        if previous != tier:
            lifecycle.on_tier_changed(user=user, previous=previous, tier=tier)
    return subscription


def remove_playback_subscription(*, user: User, acting_user: User | None = None) -> bool:
    """Remove the user's Playback subscription (whether there was one is returned): their saved
    playbacks are deleted 30 days later at the latest, unsaved ones keep their 3 days."""
    with transaction.atomic(), service_scope(services.tenant_of(user)):
        removed = services.remove_playback_subscription(user=user, acting_user=acting_user)
        if removed:
            lifecycle.on_subscription_removed(user=user)
    return removed


def remove_products(*, user: User, acting_user: User | None = None) -> None:
    """Take away the user's licence or subscription. Standard recordings keep their expiry; saved
    playbacks are deleted 30 days after the subscription's removal at the latest."""
    with transaction.atomic(), service_scope(services.tenant_of(user)):
        if services.remove_products(user=user, acting_user=acting_user):
            lifecycle.on_subscription_removed(user=user)


def set_user_product(
    *,
    user: User,
    product: str,
    setting: str = "",
    acting_user: User | None = None,
    request: HttpRequest | None = None,
) -> services.ProductChange:
    """Switch a person's product in one step (``tenants.services.set_user_product``), then: a
    removed subscription makes the saved playbacks due within 30 days, a new or changed tier
    re-computes their expiry. A refused value changes nothing."""
    with transaction.atomic(), service_scope(services.tenant_of(user)):
        change = services.set_user_product(
            user=user, product=product, setting=setting, acting_user=acting_user
        )
        if change.subscription_removed:
            lifecycle.on_subscription_removed(user=user)
        if change.tier_after is not None and change.tier_after != change.tier_before:
            lifecycle.on_tier_changed(user=user, previous=change.tier_before, tier=change.tier_after)
        if acting_user is not None:
            log_event(
                tenant=services.tenant_of(user),
                actor=acting_user,
                action="manage.user.product",
                target=user,
                detail={"before": change.before, "after": change.after},
                request=request,
            )
    return change


@dataclass(frozen=True)
class ProductPreview:
    """What a product change would do to the person's recordings, counted before it is
    confirmed (with the lifecycle's own rules and querysets, so the numbers are the ones the
    change then applies)."""

    person: User
    before: str
    after: str
    saved_capped: int = 0  # saved playbacks that get the removal's due date ...
    capped_on: date | None = None  # ... this day
    saved_kept_date: int = 0  # saved playbacks already due sooner: they keep their date
    due_at_once: int = 0  # saved playbacks the new tier makes due at once (the next sweep)
    tier_due_days: int = 0  # the new tier's days, for the sentence
    unsaved: int = 0  # unsaved playbacks: still due 3 days after their call
    standard: int = 0  # standard recordings: the customer's retention keeps deciding
    recording_stops: bool = False  # no product or licence "never": calls are not recorded

    @property
    def changes(self) -> bool:
        return self.before != self.after


def preview_product_change(
    *, user: User, product: str, setting: str, now: datetime | None = None
) -> ProductPreview:
    """The consequences of ``set_user_product(user, product, setting)`` in numbers; changes nothing."""
    now = now or timezone.now()
    after = f"{product}:{setting}" if product else ""
    with service_scope(services.tenant_of(user)):
        before = services.product_value(user)
        counts: dict[str, Any] = {
            "standard": Recording.objects.filter(
                owner=user, kind=Kind.STANDARD, deleted_at__isnull=True
            ).count(),
            "recording_stops": after in {"", f"licence:{RecordingMode.NEVER}"} and before != after,
        }
        if before.startswith("playback:") and before != after:
            saved = lifecycle.saved_playbacks(user)
            counts["unsaved"] = Recording.objects.filter(
                owner=user, kind=Kind.PLAYBACK, saved=False, deleted_at__isnull=True
            ).count()
            if not after.startswith("playback:"):
                capped, cap = lifecycle.unsubscribed_capped(user=user, now=now)
                counts["saved_capped"] = capped.count()
                counts["capped_on"] = timezone.localdate(cap)
                counts["saved_kept_date"] = saved.count() - counts["saved_capped"]
            elif setting in lifecycle.TIER_DAYS:
                counts["due_at_once"] = (
                    saved.annotate(new_expiry=lifecycle.tier_expiry(setting))
                    .filter(new_expiry__lte=now)
                    .count()
                )
                counts["tier_due_days"] = lifecycle.TIER_DAYS[PlaybackTier(setting)]
    return ProductPreview(person=user, before=before, after=after, **counts)


def set_licence_for_many(
    *, users: list[User], mode: str, acting_user: User, request: HttpRequest | None = None
) -> list[services.ProductChange]:
    """Give several people the same licence mode, all or none (one transaction; a refusal for
    one person changes nobody). Each change is the one-person change, with its audit entry."""
    with transaction.atomic():
        return [
            set_user_product(
                user=user, product="licence", setting=mode, acting_user=acting_user, request=request
            )
            for user in users
        ]
