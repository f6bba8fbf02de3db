"""The Django admin for support staff: metadata across tenants, never audio.

Support staff have no tenant scope, so every ModelAdmin of a tenant-owned model reads through
``UnscopedAdminMixin`` — the one place the admin crosses tenants, deliberately.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from tenants import services, support
from tenants.audit import AuditEntry, log_event
from tenants.models import DeletionReport, Licence, PbxKey, Role, Team, Tenant, User
from tenants.scoping import tenant_scope
from tenants.support import staff_member


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin's log-in is the portal's (allauth): the same rate limits per address and per
    username, and the authenticator-code step. Django's own admin log-in form is never served.
    A signed-in customer user is refused here (the portal's log-in would send them straight back)."""
    if request.user.is_authenticated and not request.user.is_staff:
        raise PermissionDenied("The support environment is for the supplier's support staff")
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


admin.site.login = admin_login  # type: ignore[method-assign]  # the admin signs in through allauth


class AuditedAdminMixin(admin.ModelAdmin):
    """Support staff's changes go into the audit log too (the tenant's chain when the object
    has a tenant), besides Django's own admin history."""

    def _audit(self, request: HttpRequest, obj: Any, verb: str, detail: dict[str, Any]) -> None:
        tenant = obj if isinstance(obj, Tenant) else getattr(obj, "tenant", None)
        log_event(
            tenant=tenant,
            actor=staff_member(request),
            action=f"support.{obj._meta.model_name}.{verb}",
            target=obj,
            detail=detail,
            request=request,
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "create", {})
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        changed = sorted({f for item in message or [] for f in item.get("changed", {}).get("fields", [])})
        self._audit(request, obj, "change", {"fields": changed})
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, obj, "delete", {})
        return super().log_deletions(request, queryset)


class UnscopedAdminMixin(AuditedAdminMixin):
    model: Any

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.model.objects.unscoped().select_related("tenant")  # support staff: all tenants

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with tenant_scope(obj.tenant_id):
            super().save_model(request, obj, form, change)


class TenantOwnedForm(forms.ModelForm):
    """The tenant is chosen once, when the row is made; the row's user must be of that tenant."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding and "tenant" in self.fields:
            self.fields["tenant"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tenant = data.get("tenant")
        user = data.get("user")
        if tenant is not None and user is not None and user.tenant_id != tenant.pk:
            raise ValidationError("The user belongs to another tenant.")
        return data


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "status", "country", "language", "retention_days", "announce_recording"]
    list_filter = ["status", "language", "country"]
    search_fields = ["name", "slug"]
    readonly_fields = ["status", "created_at", "ended_at"]
    prepopulated_fields = {"slug": ["name"]}
    # The end of service (an action on this list) is privacy's: recordings.privacy.admin adds it.


@admin.register(DeletionReport)
class DeletionReportAdmin(admin.ModelAdmin):
    """The proof of an end-of-service purge: counts, times, verification; no personal data."""

    list_display = [
        "tenant",
        "status",
        "verified",
        "objects_remaining",
        "rows_remaining",
        "audit_entries_with_personal_data",
        "requested_at",
        "finished_at",
    ]
    list_filter = ["status"]
    fields = readonly_fields = (
        "tenant",
        "requested_by",
        "requested_at",
        "started_at",
        "finished_at",
        "status",
        "runs",
        "counts",
        "objects_remaining",
        "rows_remaining",
        "audit_entries_with_personal_data",
        "verified",
    )

    @admin.display(boolean=True)
    def verified(self, obj: DeletionReport) -> bool:
        return obj.verified

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HipUserCreationForm(forms.ModelForm):
    """A new customer's first admin, without a password: they set their own through a link sent
    to their own e-mail address. A customer that has an admin adds its own people in the portal."""

    class Meta:
        model = User
        fields = ["username", "tenant", "pbx_id", "email", "first_name", "last_name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].help_text = _("The admin's own address: the link to set a password goes there.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tenant = data.get("tenant")
        if tenant is None:
            raise ValidationError(
                _("Customer users belong to a tenant; support staff are made on the command line.")
            )
        if User.objects.filter(tenant=tenant, role=Role.ADMIN, is_active=True).exists():
            raise ValidationError(
                _("%(tenant)s has an admin: its admins add their own people in the portal.")
                % {"tenant": tenant.name}
            )
        return data

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.role = Role.ADMIN
        user.set_unusable_password()
        if commit:
            user.save()
        return user


# A customer user's fields support staff may change: blocking or unblocking the sign-in. Never the
# password (no password form), role, e-mail address (a reset link goes there) or admin rights.
CUSTOMER_USER_EDITABLE = frozenset({"is_active"})


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    add_form = HipUserCreationForm
    add_fieldsets = ((None, {"fields": HipUserCreationForm.Meta.fields}),)
    list_display = ["username", "tenant", "role", "pbx_id", "is_active", "is_staff"]
    list_filter = ["tenant", "role", "is_active", "is_staff"]
    search_fields = ["username", "pbx_id", "email", "first_name", "last_name"]
    ordering = ["tenant__name", "username"]
    actions = ["send_password_reset_link"]
    # Support staff's own accounts: no tenant or role fields, so a staff account is never turned
    # into a customer user (whose password its holder would then know).
    fieldsets = (
        (None, {"fields": ["username", "password"]}),
        ("Personal", {"fields": ["first_name", "last_name", "email"]}),
        ("Access", {"fields": ["is_active", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    )
    customer_fieldsets = (
        (None, {"fields": ["username"]}),
        ("Tenant", {"fields": ["tenant", "role", "pbx_id", "language"]}),
        ("Personal", {"fields": ["first_name", "last_name", "email"]}),
        ("Access", {"fields": ["is_active"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.tenant_id is not None:
            return self.customer_fieldsets  # no password hash, no admin rights
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.tenant_id is not None:
            shown = [f for _name, opts in self.customer_fieldsets for f in opts["fields"]]
            return [f for f in shown if f not in CUSTOMER_USER_EDITABLE]
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.tenant_id is not None:
            return False  # the customer's admins remove their people; the end of service purges
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The bulk action already refuses (it asks has_delete_permission per object): kept closed.
        if queryset.filter(tenant__isnull=False).exists():
            raise PermissionDenied
        super().delete_queryset(request, queryset)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        """Nobody sets a customer user's password here: the customer's admins do in the portal, or
        the user through a reset link (the "send a reset link" action)."""
        user = self.get_object(request, unquote(id))
        if user is None or user.tenant_id is not None:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        # Inside the admin's transaction: if the link cannot be sent, the user is not made either.
        support.send_password_reset_link(user=obj, acting_user=staff_member(request), request=request)
        messages.info(
            request,
            _("A link to set a password was sent to %(email)s.") % {"email": obj.email},
        )
        return super().response_add(request, obj, post_url_continue)

    @admin.action(
        description=gettext_lazy("Send a link to set a new password to the person's own e-mail address")
    )
    def send_password_reset_link(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        sent = 0
        for user in queryset.select_related("tenant"):
            try:
                support.send_password_reset_link(
                    user=user, acting_user=staff_member(request), request=request
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                sent += 1
        if sent:
            messages.success(
                request,
                ngettext(
                    "Sent a reset link to %(count)d person's own e-mail address.",
                    "Sent a reset link to %(count)d people's own e-mail addresses.",
                    sent,
                )
                % {"count": sent},
            )


@admin.register(Team)
class TeamAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    """Read-only: who is in a team and who listens to it is the customer's to decide (a listener
    hears the team's recordings), in the portal."""

    list_display = ["name", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    fields = ["tenant", "name", "members", "listeners"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Licence)
class LicenceAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    form = TenantOwnedForm
    list_display = ["user", "mode", "tenant"]
    list_filter = ["tenant", "mode"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]


class PbxKeyForm(forms.ModelForm):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.filter(status=Tenant.Status.ACTIVE))

    class Meta:
        model = PbxKey
        fields = ["name"]


@admin.register(PbxKey)
class PbxKeyAdmin(UnscopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "prefix", "tenant", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["tenant"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            return PbxKeyForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["tenant", "name"] if obj is None else ["name", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = services.create_pbx_key(
            tenant=form.cleaned_data["tenant"],
            name=form.cleaned_data["name"],
            acting_user=staff_member(request),
        )
        # The admin goes on with `obj` (log entry, redirect): make it the saved key.
        vars(obj).update(vars(issued.key))
        messages.warning(
            request,
            f"The new key, shown only this once — copy it into the phone system now: {issued.secret}",
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[PbxKey]) -> None:
        for key in queryset:
            services.revoke_pbx_key(key=key, acting_user=staff_member(request))
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only, for support staff too."""

    list_display = ["created_at", "tenant", "actor_display", "action", "target_type", "target_id", "ip"]
    list_filter = ["action", "tenant"]
    search_fields = ["actor_label", "action", "target_id"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        return AuditEntry.objects.unscoped().select_related("tenant")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# allauth's own admin for authenticators shows their data: the TOTP secret and recovery codes.
# Support staff may remove an authenticator (a lost phone) but never read one.
from allauth.mfa.models import Authenticator  # noqa: E402

admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(admin.ModelAdmin):
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__username"]
    fields = readonly_fields = ("user", "type", "created_at", "last_used_at")  # never `data`

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
