"""Every state change of tenants, people, teams, products and phone-system keys.

Plain functions with keyword-only arguments; each runs in one transaction and raises
``django.core.exceptions.ValidationError`` (with a message a person can act on) on bad input, so
that nothing is half-applied. ``acting_user`` is whoever asked for the change (``None`` for the
system itself: the demo command, migrations, tasks). The services of the management environment
write their audit entry in the same transaction when a person asked (``acting_user`` given;
``request`` adds where from); the system's own changes are not audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.audit import log_event
from tenants.models import (
    Licence,
    PbxKey,
    PlaybackSubscription,
    PlaybackTier,
    RecordingMode,
    Role,
    Team,
    Tenant,
    User,
)
from tenants.register import require_purpose
from tenants.scoping import tenant_scope

if TYPE_CHECKING:
    from django.http import HttpRequest

PBX_KEY_PREFIX = "hip"


def _audit(
    acting_user: User | None,
    action: str,
    target: models.Model,
    request: HttpRequest | None,
    tenant: Tenant | None = None,
    **detail: Any,
) -> None:
    """The audit entry of a change a person asked for (inside the change's transaction)."""
    if acting_user is not None:
        log_event(
            tenant=tenant if tenant is not None else target.tenant,  # type: ignore[attr-defined]
            actor=acting_user,
            action=action,
            target=target,
            detail=detail,
            request=request,
        )


def create_tenant(
    *,
    name: str,
    slug: str,
    country: str = "NL",
    language: str = Tenant.Language.DUTCH,
    retention_days: int = 90,
    announce_recording: bool = True,
    acting_user: User | None = None,
) -> Tenant:
    """Create a customer environment. The slug is its permanent, unique handle."""
    tenant = Tenant(
        name=name,
        slug=slug,
        country=country.upper(),
        language=language,
        retention_days=retention_days,
        announce_recording=announce_recording,
    )
    tenant.full_clean()
    tenant.save()
    return tenant


def update_tenant_settings(*, tenant: Tenant, acting_user: User | None = None, **changes: object) -> Tenant:
    """Change the customer's own settings: retention, announcement, language, country, name.

    A changed retention re-computes the standard recordings' expiry: that is the recordings part,
    ``recordings.products.update_tenant_settings``, which calls this and then does it."""
    allowed = {"name", "retention_days", "announce_recording", "language", "country"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(_("These settings cannot be changed here: %s") % ", ".join(sorted(unknown)))
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        for field, value in changes.items():
            setattr(tenant, field, value)
        tenant.full_clean()
        tenant.save()
    return tenant


def create_user(
    *,
    tenant: Tenant,
    username: str,
    password: str | None,
    role: str = Role.USER,
    pbx_id: str = "",
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    acting_user: User | None = None,
) -> User:
    """Add a person to a tenant. Admins create users; there is no sign-up."""
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role %(role)s.") % {"role": role}})
    user = User(
        tenant=tenant,
        username=username,
        role=role,
        pbx_id=pbx_id.strip(),
        email=email,
        first_name=first_name,
        last_name=last_name,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # lost a race against the same pbx_id or username
        raise ValidationError(_("A user with this username or phone-system id already exists.")) from exc
    return user


def add_user(
    *,
    tenant: Tenant,
    username: str,
    role: str = Role.USER,
    pbx_id: str = "",
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    acting_user: User,
    request: HttpRequest | None = None,
) -> tuple[User, str]:
    """A customer admin adds a person: created with a random password, returned with it (shown
    once to the admin, who hands it over)."""
    with transaction.atomic():
        user = create_user(
            tenant=tenant,
            username=username,
            password=None,
            role=role,
            pbx_id=pbx_id,
            email=email,
            first_name=first_name,
            last_name=last_name,
        )
        password = reset_user_password(user=user)
        _audit(acting_user, "manage.user.create", user, request, role=user.role)
    return user, password


def create_support_staff(*, username: str, password: str, superuser: bool = False) -> User:
    user = User(username=username, is_staff=True, is_superuser=superuser, tenant=None)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


def set_licence(*, user: User, mode: str, acting_user: User | None = None) -> Licence:
    """Give the user a Call Recording licence in ``mode`` (or change its mode).

    A user has a licence or a Playback subscription, never both: asking for a licence while the
    user has a subscription is refused, not silently converted.
    """
    if mode not in RecordingMode.values:
        raise ValidationError({"mode": _("Unknown recording mode %(mode)s.") % {"mode": mode}})
    if mode != RecordingMode.NEVER:
        require_purpose(tenant_of(user))
    with transaction.atomic(), tenant_scope(tenant_of(user)):
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
    with transaction.atomic(), tenant_scope(tenant_of(user)):
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
    with transaction.atomic(), tenant_scope(tenant_of(user)):
        User.objects.select_for_update().get(pk=user.pk)
        return _remove_subscription(user)


def remove_products(*, user: User, acting_user: User | None = None) -> bool:
    """Take away the user's licence or subscription; returns whether a subscription was removed
    (``recordings.products.remove_products`` then makes the saved playbacks due)."""
    with transaction.atomic(), tenant_scope(tenant_of(user)):
        Licence.objects.filter(user=user).delete()
        return _remove_subscription(user)


def create_team(
    *,
    tenant: Tenant,
    name: str,
    members: list[User] | tuple[User, ...] = (),
    listeners: list[User] | tuple[User, ...] = (),
    acting_user: User | None = None,
    request: HttpRequest | None = None,
) -> Team:
    with transaction.atomic(), tenant_scope(tenant):
        team = Team(tenant=tenant, name=name)
        team.full_clean(exclude=["tenant"])
        if Team.objects.filter(name=name).exists():
            raise ValidationError({"name": _("A team named %(name)s already exists.") % {"name": name}})
        team.save()
        set_team_people(team=team, members=members, listeners=listeners)
        _audit(acting_user, "manage.team.create", team, request, name=team.name)
    return team


def set_team_people(
    *,
    team: Team,
    members: list[User] | tuple[User, ...],
    listeners: list[User] | tuple[User, ...],
    acting_user: User | None = None,
) -> Team:
    """Replace the team's members and listeners. Everyone must be of the team's tenant. (Not
    audited by itself: ``update_team`` and ``create_team`` are.)"""
    for person in (*members, *listeners):
        if person.tenant_id != team.tenant_id:
            raise ValidationError(_("%(user)s is not in this team's tenant.") % {"user": person})
    with transaction.atomic():
        team.members.set(members)
        team.listeners.set(listeners)
    return team


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``secret`` is the only time the full key exists outside the caller."""

    key: PbxKey
    secret: str


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_pbx_key(
    *, tenant: Tenant, name: str, acting_user: User | None = None, request: HttpRequest | None = None
) -> IssuedKey:
    """Issue a phone-system key. Store only its hash; hand the key back once."""
    if not name.strip():
        raise ValidationError({"name": _("Give the key a name, e.g. the phone system it is for.")})
    prefix = secrets.token_hex(4)
    secret = f"{PBX_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic(), tenant_scope(tenant):
        key = PbxKey.objects.create(
            tenant=tenant,
            name=name.strip(),
            prefix=prefix,
            key_hash=_hash_key(secret),
            created_by=acting_user,
        )
        _audit(acting_user, "manage.pbx_key.create", key, request, tenant=tenant, prefix=key.prefix)
    return IssuedKey(key=key, secret=secret)


def revoke_pbx_key(
    *, key: PbxKey, acting_user: User | None = None, request: HttpRequest | None = None
) -> PbxKey:
    """Revoke a phone-system key: the phone system is refused from now on. Idempotent."""
    with transaction.atomic():
        PbxKey.objects.unscoped().filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        key.refresh_from_db()
        _audit(acting_user, "manage.pbx_key.revoke", key, request, tenant=key.tenant, prefix=key.prefix)
    return key


def authenticate_pbx_key(raw: str) -> PbxKey | None:
    """The active key of an active tenant that ``raw`` is, or None. Constant-time comparison."""
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != PBX_KEY_PREFIX:
        return None
    # The one cross-tenant read of the telephony interface: the key *is* what tells the tenant.
    key = (
        PbxKey.objects.unscoped()
        .select_related("tenant")
        .filter(prefix=parts[1], revoked_at__isnull=True, tenant__status=Tenant.Status.ACTIVE)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, _hash_key(raw)):
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        PbxKey.objects.unscoped().filter(pk=key.pk).update(last_used_at=now)
    return key


def tenant_of(user: User) -> Tenant:
    if user.tenant_id is None:
        raise ValidationError(_("Support staff have no products."))
    return user.tenant  # type: ignore[return-value]


# --- the management environment (customer admins) --------------------------------------------


def update_user(
    *,
    user: User,
    acting_user: User | None = None,
    role: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    pbx_id: str | None = None,
    request: HttpRequest | None = None,
) -> User:
    """Change a person's role and details. An admin cannot take away their own admin role (so a
    tenant is never left without the admin who is doing this)."""
    if role is not None and role not in Role.values:
        raise ValidationError({"role": _("Unknown role %(role)s.") % {"role": role}})
    if acting_user is not None and user.pk == acting_user.pk and role not in (None, Role.ADMIN):
        raise ValidationError({"role": _("You cannot take away your own admin role.")})
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        role_before = user.role
        for field, value in (
            ("role", role),
            ("first_name", first_name),
            ("last_name", last_name),
            ("email", email),
            ("pbx_id", None if pbx_id is None else pbx_id.strip()),
        ):
            if value is not None:
                setattr(user, field, value)
        user.full_clean(exclude=["password"])
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:
            raise ValidationError(_("A user with this phone-system id already exists.")) from exc
        _audit(acting_user, "manage.user.update", user, request, role_before=role_before, role=user.role)
    return user


def clean_language(language: str) -> str:
    """One of the portal's languages (settings.LANGUAGES), or ValidationError."""
    if language not in dict(settings.LANGUAGES):
        raise ValidationError(
            {
                "language": _("Unknown language %(language)s; choose one of: %(choices)s.")
                % {"language": language, "choices": ", ".join(dict(settings.LANGUAGES))}
            }
        )
    return language


def set_user_language(*, user: User, language: str, acting_user: User) -> User:
    """A person's own language for the portal and the app; ``""`` follows the tenant's again.

    The one rule of the portal's language switch and the app's ``PATCH /api/v1/me``. People
    choose their own language only. Not in the audit log: a display preference, not an access
    or data change.
    """
    if acting_user.pk != user.pk:
        raise ValidationError(_("Only the person themselves chooses their language."))
    if language != "":
        clean_language(language)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
    return user


def set_user_active(
    *, user: User, active: bool, acting_user: User | None = None, request: HttpRequest | None = None
) -> User:
    """Deactivate (no log-in, sessions end at once) or reactivate a person. Not yourself."""
    if acting_user is not None and user.pk == acting_user.pk and not active:
        raise ValidationError(_("You cannot deactivate yourself."))
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=active)
        user.refresh_from_db()
        _audit(acting_user, "manage.user.activate" if active else "manage.user.deactivate", user, request)
    return user


def reset_user_password(
    *, user: User, acting_user: User | None = None, request: HttpRequest | None = None
) -> str:
    """Give the person a new random password and return it (shown once to the admin)."""
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        _audit(acting_user, "manage.user.password_reset", user, request)
    return password


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
    with transaction.atomic(), tenant_scope(tenant_of(user)):
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


def rename_team(*, team: Team, name: str, acting_user: User | None = None) -> Team:
    """Give the team another name, unique in its tenant. (Not audited by itself: ``update_team``
    is.)"""
    name = (name or "").strip()
    with transaction.atomic(), tenant_scope(team.tenant_id):
        if not name:
            raise ValidationError({"name": _("Give the team a name.")})
        if Team.objects.filter(name=name).exclude(pk=team.pk).exists():
            raise ValidationError({"name": _("A team named %(name)s already exists.") % {"name": name}})
        team.name = name
        team.full_clean(exclude=["tenant", "members", "listeners"])
        team.save(update_fields=["name"])
    return team


def update_team(
    *,
    team: Team,
    name: str,
    members: list[User] | tuple[User, ...],
    listeners: list[User] | tuple[User, ...],
    acting_user: User | None = None,
    request: HttpRequest | None = None,
) -> Team:
    """Rename the team and replace its members and listeners, in one step."""
    with transaction.atomic():
        rename_team(team=team, name=name)
        set_team_people(team=team, members=members, listeners=listeners)
        _audit(
            acting_user, "manage.team.update", team, request, members=len(members), listeners=len(listeners)
        )
    return team


def delete_team(*, team: Team, acting_user: User | None = None, request: HttpRequest | None = None) -> None:
    """Remove a team (its members' recordings stay; its listeners stop hearing them)."""
    with transaction.atomic(), tenant_scope(team.tenant_id):
        _audit(acting_user, "manage.team.delete", team, request, name=team.name)
        Team.objects.filter(pk=team.pk).delete()
