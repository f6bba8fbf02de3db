"""A person's product: a Call Recording licence or a Playback subscription, never both.

What a product change does to recordings is ``recordings.products``'s, which calls these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from tenants.models import (
    Licence,
    PlaybackSubscription,
    PlaybackTier,
    RecordingMode,
    User,
)
from tenants.register import require_purpose
from tenants.scoping import service_scope
from tenants.services.base import tenant_of

if TYPE_CHECKING:
    pass


def set_licence(*, user: User, mode: str, acting_user: User | None = None) -> Licence:
    """Give the user a Call Recording licence in ``mode`` (or change its mode).

    A user has a licence or a Playback subscription, never both: asking for a licence while the
    user has a subscription is refused, not silently converted.
    """
    if mode not in RecordingMode.values:
        raise ValidationError({"mode": _("Unknown recording mode %(mode)s.") % {"mode": mode}})
    if mode != RecordingMode.NEVER:
        require_purpose(tenant_of(user))
    with transaction.atomic(), service_scope(tenant_of(user)):
        User.objects.select_for_update().get(pk=user.pk)  # serialise product changes per user
        if PlaybackSubscription.objects.filter(user=user).exists():
            raise ValidationError(
                _("%(user)s has a Playback subscription; remove it before giving a licence.") % {"user": user}
            )
        licence, _created = Licence.objects.update_or_create(user=user, defaults={"mode": mode})
    return licence


def set_playback_subscription(
    *, user: User, tier: str, acting_user: User | None = None
) -> PlaybackSubscription:
    """Give the user a Playback subscription in ``tier`` (or change its tier).

    A changed tier re-computes the expiry of the user's saved playbacks: the recordings part,
    ``recordings.products.set_playback_subscription``, which calls this. Refused while the user
    has a Call Recording licence (one product per user).
    """
    if tier not in PlaybackTier.values:
        raise ValidationError({"tier": _("Unknown retention tier %(tier)s.") % {"tier": tier}})
    require_purpose(tenant_of(user))
    with transaction.atomic(), service_scope(tenant_of(user)):
        User.objects.select_for_update().get(pk=user.pk)
        if Licence.objects.filter(user=user).exists():
            raise ValidationError(
                _("%(user)s has a Call Recording licence; remove it before subscribing.") % {"user": user}
            )
        subscription, _created = PlaybackSubscription.objects.update_or_create(
            user=user, defaults={"tier": tier}
        )
    return subscription


def _remove_subscription(user: User) -> bool:
    """Inside a transaction and the user's tenant scope: delete the user's Playback subscription,
    if any. Returns whether there was one."""
    deleted, _rows = PlaybackSubscription.objects.filter(user=user).delete()
    return bool(deleted)


def remove_playback_subscription(*, user: User, acting_user: User | None = None) -> bool:
    """Remove the user's Playback subscription (whether there was one is returned). What that does
    to their saved playbacks is ``recordings.products.remove_playback_subscription``'s."""
    with transaction.atomic(), service_scope(tenant_of(user)):
        User.objects.select_for_update().get(pk=user.pk)
        return _remove_subscription(user)


def remove_products(*, user: User, acting_user: User | None = None) -> bool:
    """Take away the user's licence or subscription; returns whether a subscription was removed
    (``recordings.products.remove_products`` then makes the saved playbacks due)."""
    with transaction.atomic(), service_scope(tenant_of(user)):
        Licence.objects.filter(user=user).delete()
        return _remove_subscription(user)


@dataclass(frozen=True)
class ProductChange:
    """What ``set_user_product`` did: the product before and after (``""``, ``licence:<mode>``,
    ``playback:<tier>``) and whether a Playback subscription was removed."""

    before: str
    after: str
    subscription_removed: bool

    @property
    def tier_before(self) -> str | None:
        return self.before.partition(":")[2] if self.before.startswith("playback:") else None

    @property
    def tier_after(self) -> str | None:
        return self.after.partition(":")[2] if self.after.startswith("playback:") else None


def product_value(user: User) -> str:
    """The user's product as ``""``, ``licence:<mode>`` or ``playback:<tier>``, read from the
    database (call inside the user's tenant scope)."""
    mode = Licence.objects.filter(user=user).values_list("mode", flat=True).first()
    if mode is not None:
        return f"licence:{mode}"
    tier = PlaybackSubscription.objects.filter(user=user).values_list("tier", flat=True).first()
    return f"playback:{tier}" if tier is not None else ""


def set_user_product(
    *, user: User, product: str, setting: str = "", acting_user: User | None = None
) -> ProductChange:
    """Switch a person's product in one step: ``""`` (none), ``"licence"`` with a recording mode
    or ``"playback"`` with a retention tier. A refused value changes nothing. What the change
    does to recordings is ``recordings.products.set_user_product``'s, which calls this."""
    if product not in {"", "licence", "playback"}:
        raise ValidationError(_("Unknown product %(product)s.") % {"product": product})
    if product == "licence" and setting not in RecordingMode.values:
        raise ValidationError({"mode": _("Unknown recording mode %(mode)s.") % {"mode": setting}})
    if product == "playback" and setting not in PlaybackTier.values:
        raise ValidationError({"tier": _("Unknown retention tier %(tier)s.") % {"tier": setting}})
    with transaction.atomic(), service_scope(tenant_of(user)):
        User.objects.select_for_update().get(pk=user.pk)
        before = product_value(user)
        removed = False
        if product != "licence":
            Licence.objects.filter(user=user).delete()
        if product != "playback":
            removed = _remove_subscription(user)
        if product == "licence":
            set_licence(user=user, mode=setting, acting_user=acting_user)
        elif product == "playback":
            set_playback_subscription(user=user, tier=setting, acting_user=acting_user)
    return ProductChange(
        before=before, after=f"{product}:{setting}" if product else "", subscription_removed=removed
    )
