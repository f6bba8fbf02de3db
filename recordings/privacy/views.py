"""The customer admin's privacy pages (Manage → Privacy), and the access-copy link for a caller.

Thin views over ``recordings.privacy``; every page is for customer admins of the request's tenant
(``admin_required``), except the access-copy link, which its token opens for the person it is for,
and the notice a Playback user marks read.
"""

from __future__ import annotations

import tempfile
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hiprecorder.http import TenantRequest
from recordings import privacy
from tenants.access import admin_required, tenant_required
from tenants.models import ProcessingRegister


class RegisterForm(forms.ModelForm):
    announce_recording = forms.BooleanField(
        label=gettext_lazy("Callers hear an announcement that the call may be recorded"), required=False
    )

    class Meta:
        model = ProcessingRegister
        fields = list(privacy.REGISTER_FIELDS)
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 3}),
            "legitimate_interest": forms.Textarea(attrs={"rows": 5}),
            "data_subjects": forms.Textarea(attrs={"rows": 3}),
            "sub_processors": forms.Textarea(attrs={"rows": 3}),
        }


class NumberForm(forms.Form):
    # strip=False: tenants.numbers judges the number as typed (a newline is refused, not dropped).
    number = forms.CharField(label=gettext_lazy("Phone number"), max_length=40, strip=False)


class AccessCopyRequestForm(NumberForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason (the person's request: when and how it came in)"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class EraseForm(NumberForm):
    confirmed_count = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """A page of Manage → Privacy (highlighted in the management navigation)."""
    return render(request, template, {"section": "privacy", **context}, status=status)


def _field_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


@require_GET
@admin_required
def overview(request: TenantRequest) -> HttpResponse:
    register = privacy.get_register(request.tenant)
    failures = privacy.integrity_failures(request.tenant)
    return _page(
        request,
        "privacy/overview.html",
        {"register": register, "tenant": request.tenant, "integrity_failures": failures},
    )


@require_http_methods(["GET", "POST"])
@admin_required
def register_edit(request: TenantRequest) -> HttpResponse:
    register = privacy.get_register(request.tenant)
    initial = {"announce_recording": request.tenant.announce_recording}
    if request.method == "POST":
        form = RegisterForm(request.POST, instance=ProcessingRegister(tenant=request.tenant), initial=initial)
        if form.is_valid():
            try:
                privacy.update_register(
                    tenant=request.tenant, acting_user=request.user, request=request, **form.cleaned_data
                )
            except ValidationError as exc:
                _field_errors(form, exc)
            else:
                messages.success(request, _("The processing register is saved."))
                return redirect("privacy:register")
    else:
        form = RegisterForm(instance=register, initial=initial)
    return _page(request, "privacy/register_edit.html", {"form": form, "register": register})


@require_GET
@admin_required
def register_export(request: TenantRequest, fmt: str) -> HttpResponse:
    context = privacy.register_document(request.tenant)
    if fmt == "md":
        body = render_to_string("privacy/register.md", context, request=request)
        response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="processing-register-{request.tenant.slug}.md"'
        )
        return response
    return render(request, "privacy/register_document.html", context)


@require_GET
@admin_required
def staff_policy(request: TenantRequest) -> HttpResponse:
    context = privacy.register_document(request.tenant)
    return _page(request, "privacy/staff_policy.html", context)


@require_GET
@admin_required
def audit_log(request: TenantRequest) -> HttpResponse:
    """Moved: the one audit log page is Manage → Audit log, with these filters (kept for links)."""
    target = reverse("manage_audit")
    query = request.GET.copy()
    query.pop("page", None)  # this page's old numbered pages; the audit page pages by position
    return redirect(f"{target}?{query.urlencode()}" if query else target)


def _subjects_page(
    request: TenantRequest, form: NumberForm, extra: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "four_eyes_possible": privacy.can_make_access_copies(request.tenant),
        **(extra or {}),
    }
    return _page(request, "privacy/subjects.html", context, status=status)


@require_GET
@admin_required
def subjects(request: TenantRequest) -> HttpResponse:
    """Find every recording with a number as the other party: the count is the dry run of an
    erasure. One of the tenant's own numbers is refused (it would find its staff's calls)."""
    form = NumberForm(request.GET or None)
    extra: dict[str, Any] = {}
    if form.is_valid():
        try:
            number, recordings = privacy.search_subject(
                tenant=request.tenant,
                number=form.cleaned_data["number"],
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            _field_errors(form, exc)
        else:
            extra = {
                "number": number,
                "recordings": recordings,
                "count": len(recordings),
                "copy_form": AccessCopyRequestForm(initial={"number": number}),
            }
    return _subjects_page(request, form, extra)


@require_POST
@admin_required
def subject_erase(request: TenantRequest) -> HttpResponse:
    form = EraseForm(request.POST)
    if form.is_valid():
        try:
            erased = privacy.erase_subject(
                tenant=request.tenant,
                number=form.cleaned_data["number"],
                confirmed_count=form.cleaned_data["confirmed_count"],
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("%(n)s recording(s) erased.") % {"n": erased})
    else:
        messages.error(request, _("Search for the number and check the count before erasing."))
    query = urlencode({"number": request.POST.get("number", "")})
    return redirect(f"{reverse('privacy:subjects')}?{query}")


@require_GET
@admin_required
def subject_export(request: TenantRequest, fmt: str) -> HttpResponse:
    form = NumberForm(request.GET)
    if not form.is_valid():
        return HttpResponse(_("Give a phone number."), status=400, content_type="text/plain")
    try:
        body, media_type = privacy.metadata_export(
            tenant=request.tenant,
            number=form.cleaned_data["number"],
            fmt=fmt,
            acting_user=request.user,
            request=request,
        )
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    response = HttpResponse(body, content_type=f"{media_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="recordings-metadata.{fmt}"'
    return response


@require_POST
@admin_required
def subject_access_copy(request: TenantRequest) -> HttpResponse:
    """An admin requests an access copy; another admin approves it on the access-copies page."""
    form = AccessCopyRequestForm(request.POST)
    if form.is_valid():
        try:
            privacy.request_access_copy(
                tenant=request.tenant,
                number=form.cleaned_data["number"],
                reason=form.cleaned_data["reason"],
                acting_user=request.user,
                request=request,
            )
        except ValidationError as exc:
            _field_errors(form, exc)
        else:
            messages.success(
                request,
                _(
                    "The access copy is requested. Another administrator must approve it before "
                    "a link is made."
                ),
            )
            return redirect("privacy:access_copies")
    return _subjects_page(request, NumberForm(), {"copy_form": form}, status=400)


@require_GET
@admin_required
def access_copies(request: TenantRequest) -> HttpResponse:
    """Every access copy of the tenant: who requested it, who approved it, when, and its state."""
    return _page(
        request,
        "privacy/access_copies.html",
        {
            "copies": privacy.access_copies(request.tenant),
            "four_eyes_possible": privacy.can_make_access_copies(request.tenant),
            "now": timezone.now(),
        },
    )


@require_POST
@admin_required
def access_copy_approve(request: TenantRequest, copy_id: str) -> HttpResponse:
    copy = privacy.access_copy_for_admin(request.tenant, copy_id)  # another tenant's: 404
    try:
        issued = privacy.approve_access_copy(
            tenant=request.tenant, copy_id=copy.pk, acting_user=request.user, request=request
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("privacy:access_copies")
    link = request.build_absolute_uri(reverse("privacy:access_copy", args=[issued.token]))
    return _page(request, "privacy/access_copy_issued.html", {"copy": issued.copy, "link": link})


@require_POST
@admin_required
def access_copy_refuse(request: TenantRequest, copy_id: str) -> HttpResponse:
    """Refuse a pending request (the requester: withdraw it); no link is made."""
    copy = privacy.access_copy_for_admin(request.tenant, copy_id)  # another tenant's: 404
    try:
        privacy.refuse_access_copy(
            tenant=request.tenant, copy_id=copy.pk, acting_user=request.user, request=request
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The request is refused; no link was made."))
    return redirect("privacy:access_copies")


@require_http_methods(["GET", "POST"])
def access_copy(request: HttpRequest, token: str) -> HttpResponseBase:
    """The person's own link: a page first (link scanners only GET it), the download on POST, once."""
    try:
        copy = privacy.find_access_copy(token)
    except privacy.AccessCopyUnavailable:
        return render(request, "privacy/access_copy_gone.html", status=404)
    if request.method == "GET":
        return render(request, "privacy/access_copy.html", {"copy": copy})
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (FileResponse closes it)
    try:
        privacy.deliver_access_copy(token, spool, request=request)
    except privacy.AccessCopyUnavailable:
        spool.close()
        return render(request, "privacy/access_copy_gone.html", status=404)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    # The one deliberate download of recordings in the product, hence the one "attachment": the
    # data subject's own copy under art. 15 GDPR/AVG, which they are entitled to keep. It exists
    # only after two admins (four eyes) agreed, works once, and is in the access log per recording.
    return FileResponse(spool, as_attachment=True, filename="recordings.zip", content_type="application/zip")


@require_POST
@tenant_required
def notice_seen(request: TenantRequest, notice_id: str) -> HttpResponse:
    """A user marks an access-copy notice read (someone else's or a missing one: 404)."""
    privacy.mark_notice_seen(notice_id=notice_id, acting_user=request.user)
    return redirect("home")
