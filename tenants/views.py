"""The management environment (``/manage/``): customer admins manage their own tenant.

Thin views: input through tenants.forms, every change through tenants.services, and each change
written to the audit log together with it (one transaction).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hiprecorder.http import TenantRequest
from tenants import forms, services
from tenants.access import admin_required, get_team_for_admin, get_user_for_admin, users_of
from tenants.audit import AuditEntry, log_event
from tenants.models import PbxKey, Team, Tenant


def _audit(request: TenantRequest, action: str, target: Any = None, **detail: Any) -> None:
    log_event(
        tenant=request.tenant,
        actor=request.user,
        action=action,
        target=target,
        detail=detail,
        request=request,
    )


def _add_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _people(request: TenantRequest) -> Any:
    return users_of(request).select_related("licence", "playback_subscription").order_by("username")


@require_GET
@admin_required
def manage_home(request: TenantRequest) -> HttpResponse:
    return redirect("manage_users")


# --- users and their products -----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_required
def users(request: TenantRequest) -> HttpResponse:
    form = forms.NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                user = services.create_user(
                    tenant=request.tenant,
                    username=data["username"],
                    password=None,
                    role=data["role"],
                    pbx_id=data["pbx_id"],
                    email=data["email"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    acting_user=request.user,
                )
                password = services.reset_user_password(user=user, acting_user=request.user)
                _audit(request, "manage.user.create", user, role=user.role)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return render(
                request,
                "tenants/password_shown.html",
                {"person": user, "password": password, "created": True},
            )
    people = list(_people(request))
    for person in people:
        person.product_value = forms.product_value(person)  # type: ignore[attr-defined]
    return render(
        request,
        "tenants/users.html",
        {"form": form, "people": people, "products": dict(forms.product_choices()), "section": "users"},
        status=400 if form.errors else 200,
    )


def _user_page(request: TenantRequest, person: Any, **extra: Any) -> HttpResponse:
    context = {
        "person": person,
        "user_form": extra.pop(
            "user_form",
            forms.UserForm(
                initial={
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "email": person.email,
                    "role": person.role,
                    "pbx_id": person.pbx_id,
                }
            ),
        ),
        "product_form": extra.pop(
            "product_form", forms.ProductForm(initial={"product": forms.product_value(person)})
        ),
        "section": "users",
        **extra,
    }
    status = 400 if any(f.errors for f in (context["user_form"], context["product_form"])) else 200
    return render(request, "tenants/user.html", context, status=status)


@require_GET
@admin_required
def user_detail(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    return _user_page(request, get_user_for_admin(request, user_id))


@require_POST
@admin_required
def user_update(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    person = get_user_for_admin(request, user_id)
    form = forms.UserForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                before = person.role
                person = services.update_user(user=person, acting_user=request.user, **form.cleaned_data)
                _audit(request, "manage.user.update", person, role_before=before, role=person.role)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("manage_user", person.pk)
    return _user_page(request, person, user_form=form)


@require_POST
@admin_required
def user_product(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    person = get_user_for_admin(request, user_id)
    form = forms.ProductForm(request.POST)
    if form.is_valid():
        product, setting = form.split()
        try:
            with transaction.atomic():
                before = forms.product_value(person)
                services.set_user_product(
                    user=person, product=product, setting=setting, acting_user=request.user
                )
                _audit(
                    request, "manage.user.product", person, before=before, after=form.cleaned_data["product"]
                )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Product changed for %(user)s.") % {"user": person})
            if before.startswith("playback:") and product != "playback":
                from recordings.lifecycle import UNSUBSCRIBED_GRACE

                latest = timezone.localdate(timezone.now() + UNSUBSCRIBED_GRACE)
                messages.info(
                    request,
                    _(
                        "The Playback subscription of %(user)s was removed: their saved recordings "
                        "will be deleted on %(date)s at the latest, unless a subscription is given "
                        "again before then. Unsaved recordings are still deleted 3 days after their call."
                    )
                    % {"user": person, "date": date_format(latest, "DATE_FORMAT")},
                )
            if request.POST.get("next") == "users":
                return redirect("manage_users")
            return redirect("manage_user", person.pk)
    person = get_user_for_admin(request, user_id)
    return _user_page(request, person, product_form=form)


@require_POST
@admin_required
def user_active(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    person = get_user_for_admin(request, user_id)
    active = request.POST.get("active") == "1"
    try:
        with transaction.atomic():
            services.set_user_active(user=person, active=active, acting_user=request.user)
            _audit(request, "manage.user.activate" if active else "manage.user.deactivate", person)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("manage_user", person.pk)


@require_POST
@admin_required
def user_password(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    person = get_user_for_admin(request, user_id)
    with transaction.atomic():
        password = services.reset_user_password(user=person, acting_user=request.user)
        _audit(request, "manage.user.password_reset", person)
    response = render(request, "tenants/password_shown.html", {"person": person, "password": password})
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@admin_required
def user_rules(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    """A person's contact rules (blacklist and whitelist of remote numbers, for Playback)."""
    from recordings import rules
    from recordings.models import ContactRule

    person = get_user_for_admin(request, user_id)
    form = forms.ContactRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                rule = rules.add_rule(user=person, acting_user=request.user, **form.cleaned_data)
                _audit(request, "manage.contact_rule.create", rule, list=rule.list_type, user=str(person.pk))
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("%(number)s added.") % {"number": rule.number})
            return redirect("manage_user_rules", person.pk)
    return render(
        request,
        "tenants/rules.html",
        {
            "person": person,
            "form": form,
            "rules": ContactRule.objects.filter(user=person).order_by("list_type", "number"),
            "section": "users",
        },
        status=400 if form.errors else 200,
    )


@require_POST
@admin_required
def user_rule_remove(request: TenantRequest, user_id: uuid.UUID, rule_id: uuid.UUID) -> HttpResponse:
    from django.http import Http404

    from recordings import rules
    from recordings.models import ContactRule

    person = get_user_for_admin(request, user_id)
    rule = ContactRule.objects.filter(user=person, pk=rule_id).first()  # scoped to request.tenant
    if rule is None:
        raise Http404("No such rule")
    with transaction.atomic():
        _audit(request, "manage.contact_rule.delete", rule, list=rule.list_type, user=str(person.pk))
        rules.remove_rule(rule=rule, acting_user=request.user)
    messages.success(request, _("%(number)s removed.") % {"number": rule.number})
    return redirect("manage_user_rules", person.pk)


# --- teams ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_required
def teams(request: TenantRequest) -> HttpResponse:
    form = forms.TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                team = services.create_team(
                    tenant=request.tenant, name=form.cleaned_data["name"].strip(), acting_user=request.user
                )
                _audit(request, "manage.team.create", team, name=team.name)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return redirect("manage_team", team.pk)
    all_teams = Team.objects.prefetch_related("members", "listeners").order_by("name")
    return render(
        request,
        "tenants/teams.html",
        {"form": form, "teams": all_teams, "section": "teams"},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@admin_required
def team_detail(request: TenantRequest, team_id: uuid.UUID) -> HttpResponse:
    team = get_team_for_admin(request, team_id)
    people = users_of(request).filter(is_active=True).order_by("username")
    initial = {
        "name": team.name,
        "members": list(team.members.all()),
        "listeners": list(team.listeners.all()),
    }
    form = forms.TeamPeopleForm(request.POST or None, people=people, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                services.rename_team(team=team, name=data["name"], acting_user=request.user)
                services.set_team_people(
                    team=team,
                    members=list(data["members"]),
                    listeners=list(data["listeners"]),
                    acting_user=request.user,
                )
                _audit(
                    request,
                    "manage.team.update",
                    team,
                    members=len(data["members"]),
                    listeners=len(data["listeners"]),
                )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Team saved."))
            return redirect("manage_team", team.pk)
    return render(
        request,
        "tenants/team.html",
        {"team": team, "form": form, "section": "teams"},
        status=400 if form.errors else 200,
    )


@require_POST
@admin_required
def team_delete(request: TenantRequest, team_id: uuid.UUID) -> HttpResponse:
    team = get_team_for_admin(request, team_id)
    with transaction.atomic():
        _audit(request, "manage.team.delete", team, name=team.name)
        services.delete_team(team=team, acting_user=request.user)
    messages.success(request, _("Team %(name)s removed.") % {"name": team.name})
    return redirect("manage_teams")


# --- phone-system keys ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_required
def keys(request: TenantRequest) -> HttpResponse:
    form = forms.KeyForm(request.POST or None)
    secret = ""
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                issued = services.create_pbx_key(
                    tenant=request.tenant, name=form.cleaned_data["name"], acting_user=request.user
                )
                _audit(request, "manage.pbx_key.create", issued.key, prefix=issued.key.prefix)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            secret = issued.secret
            form = forms.KeyForm()
    response = render(
        request,
        "tenants/keys.html",
        {"form": form, "keys": PbxKey.objects.all(), "secret": secret, "section": "keys"},
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@admin_required
def key_revoke(request: TenantRequest, key_id: uuid.UUID) -> HttpResponse:
    try:
        key = PbxKey.objects.get(pk=key_id)  # scoped to request.tenant by the manager
    except PbxKey.DoesNotExist:
        from django.http import Http404

        raise Http404("No such key") from None
    with transaction.atomic():
        services.revoke_pbx_key(key=key, acting_user=request.user)
        _audit(request, "manage.pbx_key.revoke", key, prefix=key.prefix)
    messages.success(request, _("Key %(name)s revoked.") % {"name": key.name})
    return redirect("manage_keys")


# --- tenant settings and the audit log -------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_required
def tenant_settings(request: TenantRequest) -> HttpResponse:
    tenant: Tenant = request.tenant
    initial = {
        "retention_days": tenant.retention_days,
        "announce_recording": tenant.announce_recording,
        "language": tenant.language,
    }
    form = forms.SettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changed = {k: v for k, v in form.cleaned_data.items() if initial[k] != v}
        try:
            with transaction.atomic():
                services.update_tenant_settings(tenant=tenant, acting_user=request.user, **changed)
                _audit(request, "manage.settings.update", tenant, **{k: str(v) for k, v in changed.items()})
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("manage_settings")
    return render(
        request,
        "tenants/settings.html",
        {"form": form, "section": "settings"},
        status=400 if form.errors else 200,
    )


AUDIT_PAGE = 50


@require_GET
@admin_required
def audit_log(request: TenantRequest) -> HttpResponse:
    """The tenant's audit log, newest first, filtered (who, what, object, dates), paged by
    position (``before`` an entry id: no COUNT, any depth). A malformed filter is shown as an
    error and no filter is applied: the page never shows a half-filtered list as if filtered."""
    form = forms.AuditFilterForm(request.GET or None)
    entries = AuditEntry.objects.filter(tenant=request.tenant).order_by("-id")
    filtered = form.is_bound and form.is_valid() and any(form.cleaned_data.values())
    if filtered:
        entries = form.filter(entries)
    before = request.GET.get("before", "")
    if re.fullmatch(r"[0-9]{1,18}", before):  # not isdigit(): "²" is a digit that int() refuses
        entries = entries.filter(id__lt=int(before))
    rows = list(entries[: AUDIT_PAGE + 1])
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    query = request.GET.copy()
    query.pop("before", None)
    if more and rows:
        query["before"] = str(rows[-1].id)
    return render(
        request,
        "tenants/audit.html",
        {
            "form": form,
            "filtered": filtered,
            "entries": rows,
            "older_url": f"?{query.urlencode()}" if more and rows else "",
            "section": "audit",
        },
    )
