"""The boundary of the supplier's support staff: they never hold a customer's credentials.

Support staff (``User.is_support_staff``) work in the Django admin. They never set or see a
customer user's password, never change a customer's roles or who is in or listens to a team, and
never sign in as a customer (there is no "log in as" path; the portal and the app refuse them).
A customer user's access is reset only by a link to set a new password that goes to the user's
own e-mail address (``tenants.services.send_password_link``): the customer's own admins send it
from the portal, support staff may send it too (``send_password_reset_link``), and the customer's
audit log says so in words. Nobody else ever sees or sets a customer user's password.

The support environment itself needs a second factor: an authenticator app enrolled and a
session signed in with it (``has_verified_second_factor``, enforced by
``tenants.middleware.StaffMfaMiddleware``); its log-in is the portal's (allauth's rate limits).

``STAFF_CAN`` and ``STAFF_CANNOT`` are what the customer's staff policy lists
(templates/privacy/staff_policy.html); tests/privacy/test_staff_policy.py walks the admin and
checks each line, so a line is never added or dropped without its test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tenants.audit import log_event
from tenants.models import User
from tenants.services import send_password_link

if TYPE_CHECKING:
    from django.http import HttpRequest

RESET_LINK_SENT_ACTION = "support.user.password_reset_sent"

STAFF_CAN = [
    (
        "see_metadata",
        _(
            "see your company's settings, people, teams, licences, subscriptions and phone-system "
            "keys, and the details of recordings (date, duration, owner, masked phone numbers), "
            "never their sound;"
        ),
    ),
    ("set_products", _("give a person a Call Recording licence or a Playback subscription, or change it;")),
    ("manage_keys", _("issue and revoke the keys your phone system uses;")),
    ("block_sign_in", _("block or unblock a person's sign-in;")),
    (
        "send_reset_link",
        _(
            "send a person a link to set a new password, to their own e-mail address only "
            "(your audit log shows it);"
        ),
    ),
    (
        "first_admin",
        _(
            "create the first admin of a customer that has no active admin; that admin sets "
            "their own password through a link sent to their own e-mail address;"
        ),
    ),
    ("remove_authenticator", _("remove the authenticator app of a person who has lost their phone;")),
    ("read_audit_log", _("read the audit log;")),
    ("end_service", _("end the service at your request, which deletes all your data.")),
]

STAFF_CANNOT = [
    ("no_audio", _("listen to, download or share recordings;")),
    ("no_passwords", _("see or set a password, or read an authenticator app's secret;")),
    (
        "no_roles_or_teams",
        _("change a person's role, name or e-mail address, or who is in or listens to a team;"),
    ),
    ("no_people", _("add people to a customer that has an admin, or remove people;")),
    ("no_sign_in_as", _("sign in as one of your people, or use the portal or the app;")),
    (
        "no_sign_in_without_second_factor",
        _(
            "sign in to the support environment without their own authenticator app; repeated "
            "wrong passwords are blocked, as in the portal."
        ),
    ),
]


def staff_member(request: HttpRequest) -> User:
    """The signed-in staff member behind an admin request (the admin site lets no one else in)."""
    user = request.user
    if not isinstance(user, User) or not user.is_staff:
        raise PermissionDenied
    return user


def has_verified_second_factor(request: HttpRequest) -> bool:
    """The signed-in person has an authenticator app and answered it in this session (allauth
    records each way of signing in in the session: a code at log-in or at re-authentication)."""
    from allauth.account.internal.flows.login import get_authentication_records

    user = request.user
    if not isinstance(user, User) or not has_totp(user):
        return False
    return any(
        record.get("method") == "mfa" and record.get("type") in {"totp", "recovery_codes"}
        for record in get_authentication_records(request, user)
    )


def has_totp(user: User) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def send_password_reset_link(*, user: User, acting_user: User, request: HttpRequest) -> User:
    """Support staff send a customer user a password-reset link, to the user's own e-mail address.

    Support staff never see the link nor set a password. The customer's audit log gets
    ``support.user.password_reset_sent`` with a sentence in the customer's language saying what
    happened. Refused (nothing sent, nothing logged) for support staff's own accounts, inactive
    users and users without an e-mail address.
    """

    if not getattr(acting_user, "is_support_staff", False):
        raise ValidationError(gettext("Only support staff send a reset link from the support environment."))
    tenant = user.tenant
    if tenant is None:
        raise ValidationError(gettext("Support staff accounts are not reset from here."))
    if not user.is_active:
        raise ValidationError(
            gettext("%(user)s cannot sign in (blocked); no reset link was sent.") % {"user": user.username}
        )
    if not user.email:
        raise ValidationError(
            gettext("%(user)s has no e-mail address; their admin adds one in the portal first.")
            % {"user": user.username}
        )
    with transaction.atomic():
        with translation.override(tenant.language):
            summary = gettext(
                "The supplier's support staff sent a link to set a new password to this person's "
                "own e-mail address. Support staff did not see or set a password."
            )
        log_event(
            tenant=tenant,
            actor=acting_user,
            action=RESET_LINK_SENT_ACTION,
            target=user,
            detail={"summary": summary},
            request=request,
        )
        send_password_link(user=user, acting_user=acting_user, request=request, action=None)
    return user
