"""People of a tenant: adding them, their role and details, language, access and password."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from tenants.lists import bump_lists
from tenants.models import (
    Role,
    Tenant,
    User,
)
from tenants.services.base import audit_change

if TYPE_CHECKING:
    from django.http import HttpRequest


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
    request: HttpRequest,
) -> User:
    """A customer admin adds a person. The person sets their own password through a link sent to
    their own e-mail address: nobody else ever knows it (an admin who did could sign in as them and
    hear their private Playback recordings). So an e-mail address is required."""
    if not email:
        raise ValidationError(
            {"email": _("Give their e-mail address: they set their own password through a link sent there.")}
        )
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
        audit_change(acting_user, "manage.user.create", user, request, role=user.role)
        send_password_link(user=user, acting_user=acting_user, request=request, action=None)
    return user


def create_support_staff(*, username: str, password: str, superuser: bool = False) -> User:
    user = User(username=username, is_staff=True, is_superuser=superuser, tenant=None)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


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
        if user.role != role_before:
            bump_lists([user.pk])  # a listener's lists show their teams' recordings, others' do not
        audit_change(
            acting_user, "manage.user.update", user, request, role_before=role_before, role=user.role
        )
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
        audit_change(
            acting_user, "manage.user.activate" if active else "manage.user.deactivate", user, request
        )
    return user


def send_password_link(
    *,
    user: User,
    acting_user: User,
    request: HttpRequest,
    action: str | None = "manage.user.password_reset",
    **detail: Any,
) -> User:
    """Send the person a link to set a new password, to their own e-mail address: the one way a
    customer's admin (or support staff) resets a person's access. Whoever sends it never sees or
    sets a password, so nobody can sign in as someone else. Refused (nothing sent, nothing
    logged) for a blocked person and for one without an e-mail address. ``action`` is the audit
    entry's (None: the caller writes its own)."""
    from allauth.account.internal.flows.password_reset import request_password_reset
    from allauth.core.context import request_context

    if not user.is_active:
        raise ValidationError(
            _("%(user)s cannot sign in (blocked); no link was sent.") % {"user": user.username}
        )
    if not user.email:
        raise ValidationError(
            _("%(user)s has no e-mail address: add one first, then send the link.") % {"user": user.username}
        )
    with transaction.atomic():
        if action is not None:
            audit_change(acting_user, action, user, request, None, **detail)
        language = user.language or (user.tenant.language if user.tenant else settings.LANGUAGE_CODE)
        # allauth builds the link from its request context, which only its middleware sets.
        with translation.override(language), request_context(request):
            request_password_reset(request, user.email, [user], None)
    return user
