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
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hiprecorder.http import TenantRequest
from recordings import calls_console, products, rules
from recordings import overview as overview_data
from recordings.lifecycle import UNSUBSCRIBED_GRACE
from recordings.models import ContactRule
from recordings.transcripts import optin
from tenants import forms
from tenants.access import admin_required, get_user_for_admin, users_of
from tenants.models import RecordingMode, Tenant
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
            products.update_tenant_settings(
                tenant=tenant, acting_user=request.user, request=request, **changed
            )
        except ValidationError as exc:
            forms.add_errors(form, exc)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("manage_settings")
    return render(
        request,
        "tenants/settings.html",
        {"form": form, "section": "settings"},
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
    form = calls_console.CallFilterForm(
        request.GET or None, people=users_of(request).order_by("last_name", "username")
    )
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
