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

from django.db import transaction
from django.utils import timezone

from recordings import lifecycle
from recordings.models import Kind, Recording
from tenants import services
from tenants.audit import log_event
from tenants.models import PlaybackSubscription, PlaybackTier, RecordingMode, Tenant, User
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from django.http import HttpRequest


def update_tenant_settings(
    *, tenant: Tenant, acting_user: User | None = None, request: HttpRequest | None = None, **changes: Any
) -> Tenant:
    """Change the customer's own settings (``tenants.services.update_tenant_settings``); a changed
    retention period re-computes the expiry of the tenant's standard recordings."""
    with transaction.atomic():
        retention_before = Tenant.objects.select_for_update().get(pk=tenant.pk).retention_days
        tenant = services.update_tenant_settings(tenant=tenant, acting_user=acting_user, **changes)
        if tenant.retention_days != retention_before:
            lifecycle.on_retention_changed(tenant=tenant)
        if acting_user is not None:
            log_event(
                tenant=tenant,
                actor=acting_user,
                action="manage.settings.update",
                target=tenant,
                detail={k: str(v) for k, v in changes.items()},
                request=request,
            )
    return tenant


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
