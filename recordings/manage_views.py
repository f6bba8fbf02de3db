"""The customer admin's pages of the management environment (``/manage/``) that change what
happens to recordings: a person's product, their contact rules, the tenant's retention.

Thin views: input through ``tenants.forms``, every change through a service
(``recordings.products``, ``recordings.rules``). The rest of ``/manage/`` is ``tenants.views``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hiprecorder.http import TenantRequest
from recordings import alerts, calls_console, offboarding, products, rules
from recordings import overview as overview_data
from recordings.lifecycle import UNSUBSCRIBED_GRACE
from recordings.models import ContactRule, KeywordAlert, team_member_ids_of
from recordings.transcripts import optin
from tenants import forms, services
from tenants.access import admin_required, get_team_for_admin, get_user_for_admin, users_of
from tenants.models import RecordingMode, Team, Tenant
from tenants.register import get_register
from tenants.views import user_page


@require_POST
@admin_required
def user_product(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    person = get_user_for_admin(request, user_id)
    form = forms.ProductForm(request.POST)
    if form.is_valid() and request.POST.get("confirm") != "1":
        # Step one: the consequences in numbers; nothing changes until they are confirmed.
        product, setting = form.split()
        preview = products.preview_product_change(user=person, product=product, setting=setting)
        return render(
            request,
            "tenants/product_confirm.html",
            {
                "person": person,
                "preview": preview,
                "product": form.cleaned_data["product"],
                "labels": dict(forms.product_choices()),
                "next": "users" if request.POST.get("next") == "users" else "",
                "section": "users",
            },
        )
    if form.is_valid():
        product, setting = form.split()
        try:
            change = products.set_user_product(
                user=person, product=product, setting=setting, acting_user=request.user, request=request
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("Product changed for %(user)s.") % {"user": person})
            if change.subscription_removed:
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
    return user_page(request, person, product_form=form)


@require_http_methods(["GET", "POST"])
@admin_required
def user_rules(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    """A person's contact rules (blacklist and whitelist of remote numbers, for Playback)."""
    person = get_user_for_admin(request, user_id)
    form = forms.ContactRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = rules.add_rule(user=person, acting_user=request.user, request=request, **form.cleaned_data)
        except ValidationError as exc:
            forms.add_errors(form, exc)
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
    person = get_user_for_admin(request, user_id)
    rule = ContactRule.objects.filter(user=person, pk=rule_id).first()  # scoped to request.tenant
    if rule is None:
        raise Http404("No such rule")
    rules.remove_rule(rule=rule, acting_user=request.user, request=request)
    messages.success(request, _("%(number)s removed.") % {"number": rule.number})
    return redirect("manage_user_rules", person.pk)


@require_http_methods(["GET", "POST"])
@admin_required
def keyword_alerts(request: TenantRequest) -> HttpResponse:
    """The tenant's keyword alerts: words or phrases that label a recording whose transcript says them."""
    form = forms.KeywordAlertForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            alert = alerts.add_alert(
                tenant=request.tenant,
                phrase=form.cleaned_data["phrase"],
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("“%(phrase)s” added.") % {"phrase": alert.phrase})
            return redirect("manage_keyword_alerts")
    return render(
        request,
        "tenants/keyword_alerts.html",
        {
            "form": form,
            "alerts": KeywordAlert.objects.all(),  # scoped to request.tenant
            "max_alerts": alerts.ALERTS_MAX,
            "transcripts_on": request.tenant.transcription_enabled,
            "section": "keywords",
        },
        status=400 if form.errors else 200,
    )


@require_POST
@admin_required
def keyword_alert_remove(request: TenantRequest, alert_id: uuid.UUID) -> HttpResponse:
    alert = KeywordAlert.objects.filter(pk=alert_id).select_related("tenant").first()  # scoped
    if alert is None:
        raise Http404("No such keyword alert")
    alerts.remove_alert(alert=alert, acting_user=request.user, request=request)
    messages.success(request, _("“%(phrase)s” removed.") % {"phrase": alert.phrase})
    return redirect("manage_keyword_alerts")


@require_http_methods(["GET", "POST"])
@admin_required
def tenant_settings(request: TenantRequest) -> HttpResponse:
    """The tenant's settings. A retention change states how many recordings the next sweep would
    delete under it (``products.preview_retention_change``) and, when that is any, is applied
    only once confirmed (``confirm=1``); above 90 days it asks for the purpose."""
    tenant: Tenant = request.tenant
    initial = {
        "retention_days": tenant.retention_days,
        "announce_recording": tenant.announce_recording,
        "language": tenant.language,
    }
    register = get_register(tenant)
    form = forms.SettingsForm(
        request.POST or None, initial={**initial, "retention_purpose": register.retention_purpose}
    )
    if request.method == "POST" and form.is_valid():
        changed = {k: v for k, v in form.cleaned_data.items() if k in initial and initial[k] != v}
        purpose = form.cleaned_data["retention_purpose"]
        try:
            preview = None
            if "retention_days" in changed:
                preview = products.preview_retention_change(tenant=tenant, days=changed["retention_days"])
                if preview.purpose_needed:
                    products.check_retention_purpose(purpose, preview.purpose_on_file)
            if preview is not None and preview.due_now and request.POST.get("confirm") != "1":
                return render(
                    request,
                    "tenants/retention_confirm.html",
                    {"preview": preview, "form": form, "section": "settings"},
                )
            products.update_tenant_settings(
                tenant=tenant, acting_user=request.user, request=request, retention_purpose=purpose, **changed
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("Settings saved."))
            if preview is not None and preview.due_now:
                messages.info(
                    request,
                    ngettext(
                        "%(count)s standard recording is deleted by the next sweep.",
                        "%(count)s standard recordings are deleted by the next sweep.",
                        preview.due_now,
                    )
                    % {"count": preview.due_now},
                )
            return redirect("manage_settings")
    return render(
        request,
        "tenants/settings.html",
        {"form": form, "section": "settings", "purpose_above": products.RETENTION_PURPOSE_ABOVE},
        status=400 if form.errors else 200,
    )


# --- offboarding ----------------------------------------------------------------------------------


def _offboard_form(request: TenantRequest, data: Any = None) -> forms.OffboardForm:
    return forms.OffboardForm(
        data,
        choices=offboarding.Choice.choices,
        people=users_of(request),
        teams=Team.objects.order_by("name"),
    )


@require_http_methods(["GET", "POST"])
@admin_required
def user_offboard(request: TenantRequest, user_id: uuid.UUID) -> HttpResponse:
    """Deactivate a person, choosing what happens to their recordings. Step one (POST) states
    the consequences in numbers (``offboarding.preview_offboarding``); the confirmed POST
    (``confirm=1``) applies them (``offboarding.offboard_user``). A GET with ``q`` searches
    colleagues (the results alone for htmx)."""
    person = get_user_for_admin(request, user_id)
    q = request.GET.get("q", "")[:150]
    found = forms.people_found(users_of(request).filter(is_active=True).exclude(pk=person.pk), q)
    if request.method == "GET" and request.htmx:
        return render(request, "tenants/offboard.html#found", {"found": found, "q": q, "field": "colleague"})
    form = _offboard_form(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        choice, colleague, team = data["choice"], data["colleague"], data["team"]
        if choice != offboarding.Choice.HAND_OVER:  # a colleague picked before changing one's mind
            colleague = team = None
        try:
            if request.POST.get("confirm") != "1":
                plan = offboarding.preview_offboarding(
                    person=person, choice=choice, colleague=colleague, team=team, acting_user=request.user
                )
                return render(
                    request,
                    "tenants/offboard_confirm.html",
                    {"person": person, "plan": plan, "section": "users"},
                )
            result = offboarding.offboard_user(
                person=person,
                choice=choice,
                colleague=colleague,
                team=team,
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("%(user)s is deactivated.") % {"user": person.picker_label})
            if result.left_for_sweep:
                messages.warning(
                    request,
                    _(
                        "%(count)s recordings could not be deleted from storage yet; the next sweep "
                        "deletes them."
                    )
                    % {"count": result.left_for_sweep},
                )
            return redirect("manage_user", person.pk)
    picked = _as_uuid(form["colleague"].value()) if form.is_bound else None
    chosen = users_of(request).filter(pk=picked).first() if picked is not None else None
    return render(
        request,
        "tenants/offboard.html",
        {
            "person": person,
            "form": form,
            "found": found,
            "chosen": chosen,
            "q": q,
            "field": "colleague",
            "section": "users",
        },
        status=400 if form.errors else 200,
    )


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- teams --------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@admin_required
def team_detail(request: TenantRequest, team_id: uuid.UUID) -> HttpResponse:
    """A team: its name, members and listeners. People are added through a search (a GET with
    ``q``; the results alone for htmx), never a list of everybody; each listener's reach is
    stated from the visibility rule's own input (``team_member_ids_of``)."""
    team = get_team_for_admin(request, team_id)
    q = request.GET.get("q", "")[:150]
    current = list(team.members.all()) + list(team.listeners.all())
    # Active people, and whoever is in the team already (a deactivated member whose recordings
    # were handed to the team stays, so that saving does not drop them).
    people = users_of(request).filter(Q(is_active=True) | Q(pk__in=[p.pk for p in current]))
    found = forms.people_found(users_of(request).filter(is_active=True), q)
    inside = {
        "member_ids": {p.pk for p in team.members.all()},
        "listener_ids": {p.pk for p in team.listeners.all()},
    }
    if request.method == "GET" and request.htmx:
        return render(request, "tenants/team.html#found", {"found": found, "q": q, "team": team, **inside})
    initial = {
        "name": team.name,
        "members": list(team.members.all()),
        "listeners": list(team.listeners.all()),
    }
    form = forms.TeamPeopleForm(request.POST or None, people=people, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_team(
                team=team,
                name=data["name"],
                members=list(data["members"]),
                listeners=list(data["listeners"]),
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("Team saved."))
            return redirect("manage_team", team.pk)
    members = sorted(team.members.all(), key=lambda p: p.picker_label.lower())
    listeners = sorted(team.listeners.all(), key=lambda p: p.picker_label.lower())
    reach = [(listener, len(team_member_ids_of(listener))) for listener in listeners]
    return render(
        request,
        "tenants/team.html",
        {
            "team": team,
            "form": form,
            "members": members,
            "listeners": listeners,
            "reach": reach,
            "found": found,
            "q": q,
            "section": "teams",
            **inside,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@admin_required
def users_bulk_licence(request: TenantRequest) -> HttpResponse:
    """Several people, one licence mode: step one states each person's consequences, the
    confirmed POST (``confirm=1``) changes all of them or, on a refusal, none."""
    form = forms.BulkLicenceForm(request.POST, people=users_of(request))
    if not form.is_valid():
        messages.error(request, _("Select one or more people and a licence mode."))
        return redirect("manage_users")
    people = sorted(form.cleaned_data["people"], key=lambda p: p.picker_label.lower())
    mode = form.cleaned_data["mode"]
    if request.POST.get("confirm") == "1":
        try:
            products.set_licence_for_many(users=people, mode=mode, acting_user=request.user, request=request)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                ngettext(
                    "%(count)s person now has the licence mode %(mode)s.",
                    "%(count)s people now have the licence mode %(mode)s.",
                    len(people),
                )
                % {"count": len(people), "mode": RecordingMode(mode).label},
            )
        return redirect("manage_users")
    previews = [products.preview_product_change(user=p, product="licence", setting=mode) for p in people]
    return render(
        request,
        "tenants/bulk_confirm.html",
        {"previews": previews, "mode": mode, "mode_label": RecordingMode(mode).label, "section": "users"},
    )


def _calls_filtered(request: TenantRequest) -> tuple[calls_console.CallFilterForm, Any, bool]:
    # the position alone filters nothing: the form stays empty (and renders as on the first page)
    data = request.GET if set(request.GET) - {"after"} else None
    form = calls_console.CallFilterForm(data, people=users_of(request).order_by("last_name", "username"))
    calls = calls_console.calls_of(request.tenant)
    filtered = form.is_bound and form.is_valid() and any(form.cleaned_data.values())
    if filtered:
        calls = form.filter(calls)
    return form, calls, filtered


@require_GET
@admin_required
def calls(request: TenantRequest) -> HttpResponse:
    """Manage → Calls: the tenant's calls, newest first, filtered, paged by position."""
    form, found, filtered = _calls_filtered(request)
    after = request.GET.get("after", "")
    if after:
        found = calls_console.after_position(found, after)
    page = list(found[: calls_console.CALLS_PAGE + 1])
    more = len(page) > calls_console.CALLS_PAGE
    page = page[: calls_console.CALLS_PAGE]
    query = request.GET.copy()
    query.pop("after", None)
    export_query = query.urlencode()
    if more:
        query["after"] = calls_console.position_of(page[-1])
    return render(
        request,
        "tenants/calls.html",
        {
            "form": form,
            "filtered": filtered,
            "rows": calls_console.rows_for(page, request.user),
            "older_url": f"?{query.urlencode()}" if more else "",
            "export_query": export_query,
            "section": "calls",
        },
    )


@require_POST
@admin_required
def calls_export(request: TenantRequest) -> HttpResponse:
    """The filtered calls as CSV: metadata, no audio; the export is written to the audit log."""
    form, found, filtered = _calls_filtered(request)
    back = f"{reverse('manage_calls')}?{request.GET.urlencode()}"
    if form.is_bound and not form.is_valid():
        messages.error(request, _("The filters were not applied: correct the marked fields."))
        return redirect(back)
    filters = {k: str(getattr(v, "pk", v)) for k, v in form.cleaned_data.items() if v} if filtered else {}
    try:
        body = calls_console.export_calls_csv(
            tenant=request.tenant, calls=found, filters=filters, acting_user=request.user, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@admin_required
def overview(request: TenantRequest) -> HttpResponse:
    """Manage → Overview, the first page of the management environment."""
    summary = overview_data.overview(request.tenant)
    chart = {
        "days": [d.day.isoformat() for d in summary.days],
        "recorded": [d.recorded for d in summary.days],
        "discarded": [d.discarded for d in summary.days],
        "failed": [d.failed for d in summary.days],
        "labels": {
            "day": _("Day"),
            "recorded": _("Recorded"),
            "discarded": _("Discarded"),
            "failed": _("Failed"),
        },
    }
    return render(request, "tenants/overview.html", {"o": summary, "chart": chart, "section": "overview"})


@require_http_methods(["GET", "POST"])
@admin_required
def transcript_settings(request: TenantRequest) -> HttpResponse:
    """Manage → Transcripts: on or off with the purpose, and the per-customer redaction options."""
    tenant: Tenant = request.tenant
    register = get_register(tenant)
    initial = {
        "transcription_enabled": tenant.transcription_enabled,
        "transcription_purpose": register.transcription_purpose,
        "redact_phone_numbers": tenant.redact_phone_numbers,
        "redact_email_addresses": tenant.redact_email_addresses,
        "mute_redacted_audio": tenant.mute_redacted_audio,
    }
    form = forms.TranscriptSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            optin.update_transcript_settings(
                tenant=tenant,
                acting_user=request.user,
                enabled=data["transcription_enabled"],
                purpose=data["transcription_purpose"],
                redact_phone_numbers=data["redact_phone_numbers"],
                redact_email_addresses=data["redact_email_addresses"],
                mute_redacted_audio=data["mute_redacted_audio"],
                request=request,
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("Transcript settings saved."))
            return redirect("manage_transcripts")
    return render(
        request,
        "tenants/transcripts.html",
        {"form": form, "section": "transcripts"},
        status=400 if form.errors else 200,
    )
