"""The management environment (``/manage/``): customer admins manage their own tenant.

Thin views: input through tenants.forms, every change through tenants.services, which writes
the change and its audit entry in one transaction. (The pages that change what happens to
recordings are ``recordings.manage_views``.)
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hiprecorder.http import TenantRequest
from tenants import forms, services
from tenants.access import admin_required, get_team_for_admin, get_user_for_admin, users_of
from tenants.audit import AuditEntry
from tenants.audit.readable import readable
from tenants.models import PbxKey, RecordingMode, Team

PEOPLE_PAGE = 50  # people a page, in username order, paged by position (``after`` a username)


# A username (at most 150 characters; no NUL, which PostgreSQL refuses in text)
_USERNAME_POSITION = re.compile(r"[^\x00]{1,150}")


def _people(request: TenantRequest) -> Any:
    return users_of(request).select_related("licence", "playback_subscription").order_by("username")


def _team_names(people: list[Any]) -> dict[uuid.UUID, list[str]]:
    """The names of each person's teams, by name, in one query (``prefetch_related("teams")``
    builds a related manager per person: most of the page's time with 50 people)."""
    names: dict[uuid.UUID, list[str]] = {}
    rows = (
        Team.members.through.objects.filter(user_id__in=[p.pk for p in people])
        .order_by("team__name", "team_id")
        .values_list("user_id", "team__name")
    )
    for user_id, name in rows:
        names.setdefault(user_id, []).append(name)
    return names


@require_GET
@admin_required
def manage_home(request: TenantRequest) -> HttpResponse:
    return redirect("manage_overview")  # recordings.manage_views.overview


# --- users and their products -----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_required
def users(request: TenantRequest) -> HttpResponse:
    form = forms.NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.add_user(
                tenant=request.tenant,
                username=data["username"],
                role=data["role"],
                pbx_id=data["pbx_id"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(user)s is added. A link to set their password went to %(email)s.")
                % {"user": user.username, "email": user.email},
            )
            return redirect("manage_user", user.pk)
    filters = forms.PeopleFilterForm(request.GET or None, teams=Team.objects.order_by("name"))
    people_qs = _people(request)
    filtered = filters.is_bound and filters.is_valid() and any(filters.cleaned_data.values())
    if filtered:
        people_qs = filters.filter(people_qs)
    after = request.GET.get("after", "")
    if after and _USERNAME_POSITION.fullmatch(after):  # a malformed position: the first page
        people_qs = people_qs.filter(username__gt=after)
    else:
        after = ""
    people = list(people_qs[: PEOPLE_PAGE + 1])
    more = len(people) > PEOPLE_PAGE
    people = people[:PEOPLE_PAGE]
    teams_of = _team_names(people)
    for person in people:
        person.product_value = forms.product_value(person)
        person.team_names = teams_of.get(person.pk, [])
    query = request.GET.copy()
    query.pop("after", None)
    first_url = f"?{query.urlencode()}" if after else ""
    if more:
        query["after"] = people[-1].username
    return render(
        request,
        "tenants/users.html",
        {
            "form": form,
            "filters": filters,
            "filtered": filtered,
            "people": people,
            "next_url": f"?{query.urlencode()}" if more else "",
            "first_url": first_url,
            # the labels translated once, not once per person and option
            "products": {value: str(label) for value, label in forms.product_choices()},
            "modes": RecordingMode.choices,
            "section": "users",
        },
        status=400 if form.errors else 200,
    )


def user_page(request: TenantRequest, person: Any, **extra: Any) -> HttpResponse:
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
    return user_page(request, get_user_for_admin(request, user_id))


@require_POST
@admin_required
def user_update(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    person = get_user_for_admin(request, user_id)
    form = forms.UserForm(request.POST)
    if form.is_valid():
        try:
            person = services.update_user(
                user=person, acting_user=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("manage_user", person.pk)
    return user_page(request, person, user_form=form)


@require_POST
@admin_required
def user_active(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    person = get_user_for_admin(request, user_id)
    active = request.POST.get("active") == "1"
    if not active:  # deactivating asks what happens to their recordings first
        return redirect("manage_user_offboard", person.pk)
    try:
        services.set_user_active(user=person, active=active, acting_user=request.user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("manage_user", person.pk)


@require_POST
@admin_required
def user_password(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    """Reset a person's access: a link to set a new password goes to their own e-mail address.
    The admin never sees or sets the password (they could sign in as the person otherwise)."""
    person = get_user_for_admin(request, user_id)
    try:
        services.send_password_link(user=person, acting_user=request.user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("A link to set a new password went to %(email)s.") % {"email": person.email}
        )
    return redirect("manage_user", person.pk)


# --- teams ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_required
def teams(request: TenantRequest) -> HttpResponse:
    form = forms.TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.create_team(
                tenant=request.tenant,
                name=form.cleaned_data["name"].strip(),
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            return redirect("manage_team", team.pk)
    all_teams = Team.objects.prefetch_related("members", "listeners").order_by("name")
    return render(
        request,
        "tenants/teams.html",
        {"form": form, "teams": all_teams, "section": "teams"},
        status=400 if form.errors else 200,
    )


@require_POST
@admin_required
def team_delete(request: TenantRequest, team_id: uuid.UUID) -> HttpResponse:
    team = get_team_for_admin(request, team_id)
    services.delete_team(team=team, acting_user=request.user, request=request)
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
            issued = services.create_pbx_key(
                tenant=request.tenant,
                name=form.cleaned_data["name"],
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
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
        raise Http404("No such key") from None
    services.revoke_pbx_key(key=key, acting_user=request.user, request=request)
    messages.success(request, _("Key %(name)s revoked.") % {"name": key.name})
    return redirect("manage_keys")


# --- tenant settings and the audit log -------------------------------------------------------


AUDIT_PAGE = 50


def _audit_filtered(request: TenantRequest) -> tuple[forms.AuditFilterForm, Any, bool]:
    """The filter form and the tenant's entries it selects, newest first. A malformed filter is
    shown as an error and no filter is applied: never a half-filtered list shown as filtered."""
    # the position alone filters nothing: the form stays empty (and renders as on the first page)
    data = request.GET if set(request.GET) - {"before"} else None
    form = forms.AuditFilterForm(data, people=users_of(request).order_by("last_name", "username"))
    entries = AuditEntry.objects.filter(tenant=request.tenant).order_by("-id")
    filtered = form.is_bound and form.is_valid() and any(form.cleaned_data.values())
    if filtered:
        entries = form.filter(entries)
    return form, entries, filtered


def _audit_page(
    request: TenantRequest, form: forms.AuditFilterForm, filtered: bool, before: int | None
) -> list[Any]:
    """Up to ``AUDIT_PAGE + 1`` entries before position ``before``, newest first: the newest of
    each of the filter's branches (``AuditFilterForm.branches``, one index each), merged."""
    entries = AuditEntry.objects.filter(tenant=request.tenant).order_by("-id")
    branches = form.branches(entries) if filtered else [entries]
    if before is not None:
        branches = [b.filter(id__lt=before) for b in branches]
    if len(branches) == 1:
        return list(branches[0][: AUDIT_PAGE + 1])
    ids = sorted(
        {i for b in branches for i in b.values_list("id", flat=True)[: AUDIT_PAGE + 1]}, reverse=True
    )
    return list(entries.filter(id__in=ids[: AUDIT_PAGE + 1]))


@require_GET
@admin_required
def audit_log(request: TenantRequest) -> HttpResponse:
    """The tenant's audit log, newest first, one sentence an entry in the reader's language,
    filtered (person, kind of action, period), paged by position (``before`` an entry id: no
    COUNT, any depth)."""
    form, _entries, filtered = _audit_filtered(request)
    before = request.GET.get("before", "")
    # not isdigit(): "²" is a digit that int() refuses
    rows = _audit_page(request, form, filtered, int(before) if re.fullmatch(r"[0-9]{1,18}", before) else None)
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    query = request.GET.copy()
    query.pop("before", None)
    export_query = query.urlencode()
    if more and rows:
        query["before"] = str(rows[-1].id)
    return render(
        request,
        "tenants/audit.html",
        {
            "form": form,
            "filtered": filtered,
            "entries": readable(request.tenant.pk, rows),
            "older_url": f"?{query.urlencode()}" if more and rows else "",
            "export_query": export_query,
            "section": "audit",
        },
    )


@require_POST
@admin_required
def audit_export(request: TenantRequest) -> HttpResponse:
    """The filtered audit log as CSV (the export is logged). POST: it writes an audit entry.
    The filters come in the query string, as on the page."""
    form, entries, filtered = _audit_filtered(request)
    if form.is_bound and not form.is_valid():
        messages.error(request, _("The filters were not applied: correct the marked fields."))
        return redirect(f"{reverse('manage_audit')}?{request.GET.urlencode()}")
    filters = (
        {k: str(v.pk if hasattr(v, "pk") else v) for k, v in form.cleaned_data.items() if v}
        if filtered
        else {}
    )
    try:
        body = services.export_audit_csv(
            tenant=request.tenant, entries=entries, filters=filters, acting_user=request.user, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"{reverse('manage_audit')}?{request.GET.urlencode()}")
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
