"""A Playback user's contact rules: blacklist and whitelist entries, and the checks on them.

Numbers are stored and compared in E.164 (``+31612345678``). Input may be E.164 or national
(``06 12345678``); national input is read with the tenant's country. Anonymous callers match no
rule. The telephony interface asks :func:`is_blacklisted` at call start (record: false, no prompt)
and the lifecycle asks :func:`is_whitelisted` when a recording is ready (kept at once, no prompt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings.models import ContactRule
from tenants import numbers
from tenants.scoping import service_scope
from tenants.services.base import audit_change

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import User

ANONYMOUS = numbers.ANONYMOUS


def normalise_number(raw: str, *, country: str) -> str:
    """``raw`` (E.164 or national in ``country``) in E.164, or ValidationError saying why not.

    The rule is :func:`tenants.numbers.normalise_input` (one rule for every input path)."""
    try:
        return numbers.normalise_input(raw, country=country)
    except numbers.InvalidNumber as exc:
        raise ValidationError({"number": exc.message}) from None


def _rule_for(user: User, remote_number: str) -> ContactRule | None:
    if not remote_number or remote_number.lower() == ANONYMOUS or user.tenant_id is None:
        return None
    with service_scope(user.tenant_id):
        return ContactRule.objects.filter(user=user, number=remote_number).first()


def is_blacklisted(user: User, remote_number: str) -> bool:
    """Whether ``remote_number`` (E.164 as the phone system sends it) is on the user's blacklist."""
    rule = _rule_for(user, remote_number)
    return rule is not None and rule.list_type == ContactRule.List.BLACKLIST


def is_whitelisted(user: User, remote_number: str) -> bool:
    """Whether ``remote_number`` (E.164) is on the user's whitelist."""
    rule = _rule_for(user, remote_number)
    return rule is not None and rule.list_type == ContactRule.List.WHITELIST


def _check_list(list_type: str) -> None:
    if list_type not in ContactRule.List.values:
        raise ValidationError({"list_type": _("Choose blacklist or whitelist.")})


def _save(rule: ContactRule) -> ContactRule:
    rule.full_clean()
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:  # lost a race against the same number
        raise ValidationError(
            _("%(number)s is already on one of your lists.") % {"number": rule.number}
        ) from None
    return rule


def _audit_admin_change(
    acting_user: User | None, action: str, rule: ContactRule, request: HttpRequest | None
) -> None:
    """A customer admin changing someone else's lists is audited (``manage.contact_rule.*``);
    a person's own lists are theirs and not logged."""
    if acting_user is not None and acting_user.pk != rule.user_id:
        audit_change(acting_user, action, rule, request, list=rule.list_type, user=str(rule.user_id))


def add_rule(
    *,
    user: User,
    list_type: str,
    number: str,
    name: str = "",
    note: str = "",
    acting_user: User | None = None,
    request: HttpRequest | None = None,
) -> ContactRule:
    """Put ``number`` on the user's blacklist or whitelist.

    A number is on at most one list: adding it again (to either list) is refused with a message
    naming the list it is on, rather than silently moved.
    """
    _check_list(list_type)
    if user.tenant_id is None:
        raise ValidationError(_("Support staff have no contact rules."))
    tenant = user.tenant
    assert tenant is not None
    e164 = normalise_number(number, country=tenant.country)
    with service_scope(tenant):
        existing = ContactRule.objects.filter(user=user, number=e164).first()
        if existing is not None:
            raise ValidationError(
                {
                    "number": _("%(number)s is already on your %(list)s.")
                    % {"number": e164, "list": existing.get_list_type_display().lower()}
                }
            )
        rule = ContactRule(
            tenant=tenant, user=user, list_type=list_type, number=e164, name=name.strip(), note=note.strip()
        )
        with transaction.atomic():
            _save(rule)
            _audit_admin_change(acting_user, "manage.contact_rule.create", rule, request)
        return rule


def _locked_rule(pk: Any) -> ContactRule | None:
    """The rule, locked for this transaction; None when it is gone (deleted meanwhile)."""
    return ContactRule.objects.select_for_update().filter(pk=pk).first()


def update_rule(
    *,
    rule: ContactRule,
    acting_user: User | None = None,
    list_type: str | None = None,
    number: str | None = None,
    name: str | None = None,
    note: str | None = None,
) -> ContactRule:
    """Change a rule's list, number, name or note (only what is given).

    A rule deleted while this runs (a ``DELETE`` racing this change) raises
    ``ContactRule.DoesNotExist`` (404 in the API), and is never brought back: the row is read
    under a lock and written with an UPDATE whose row count is checked, not ``save()``, which
    would INSERT the rule again when the UPDATE finds no row.
    """
    tenant = rule.user.tenant
    assert tenant is not None
    with service_scope(tenant), transaction.atomic():
        locked = _locked_rule(rule.pk)
        if locked is None:
            raise _gone()
        rule = locked
        if list_type is not None:
            _check_list(list_type)
            rule.list_type = list_type
        if number is not None:
            e164 = normalise_number(number, country=tenant.country)
            if ContactRule.objects.filter(user_id=rule.user_id, number=e164).exclude(pk=rule.pk).exists():
                raise ValidationError(
                    {"number": _("%(number)s is already on one of your lists.") % {"number": e164}}
                )
            rule.number = e164
        if name is not None:
            rule.name = name.strip()
        if note is not None:
            rule.note = note.strip()
        rule.full_clean()
        rule.updated_at = timezone.now()
        fields = ("list_type", "number", "name", "note", "updated_at")
        try:
            with transaction.atomic():
                updated = ContactRule.objects.filter(pk=rule.pk).update(
                    **{field: getattr(rule, field) for field in fields}
                )
        except IntegrityError:  # lost a race against the same number
            raise ValidationError(
                _("%(number)s is already on one of your lists.") % {"number": rule.number}
            ) from None
        if updated != 1:
            raise _gone()
        _audit_admin_change(acting_user, "manage.contact_rule.update", rule, None)
        return rule


def _gone() -> ContactRule.DoesNotExist:
    return ContactRule.DoesNotExist(_("This rule no longer exists; it was removed meanwhile."))


def remove_rule(
    *, rule: ContactRule, acting_user: User | None = None, request: HttpRequest | None = None
) -> None:
    """Take the number off the list (recordings already made are not affected)."""
    with service_scope(rule.tenant_id), transaction.atomic():
        _audit_admin_change(acting_user, "manage.contact_rule.delete", rule, request)
        ContactRule.objects.filter(pk=rule.pk).delete()
