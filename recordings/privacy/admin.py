"""The support admin's end of a customer's service: an action on the tenants' list.

The Tenant admin is ``tenants.admin.TenantAdmin``; the end of service purges recordings, so it is
privacy's, added here by registering the Tenant model again with this subclass (imported by
``recordings.admin``, after ``tenants.admin`` has registered its own).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from recordings import privacy
from tenants.admin import TenantAdmin
from tenants.models import Licence, Tenant, User
from tenants.scoping import tenant_scope
from tenants.support import staff_member


class EndOfServiceTenantAdmin(TenantAdmin):
    actions = ["end_service"]

    @admin.action(description="End the service of the selected customers (deletes all their data)")
    def end_service(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> TemplateResponse | None:
        """A confirmation page first; on confirmation the purge task is queued per tenant."""
        if request.POST.get("confirm") != "yes":
            rows = []
            for tenant in queryset:
                with tenant_scope(tenant):
                    rows.append(
                        {
                            "tenant": tenant,
                            "users": User.objects.filter(tenant=tenant).count(),
                            "licences": Licence.objects.count(),
                            "objects": len(privacy.storage_objects_of(tenant.pk)),
                        }
                    )
            context = {
                **self.admin_site.each_context(request),
                "title": "End the service of these customers?",
                "rows": rows,
                "queryset": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/tenants/tenant/end_service.html", context)
        for tenant in queryset:
            privacy.end_service(tenant=tenant, acting_user=staff_member(request), request=request)
        messages.success(
            request,
            f"Service ended for {queryset.count()} customer(s); their data is being deleted. "
            "See the deletion reports.",
        )
        return None


admin.site.unregister(Tenant)
admin.site.register(Tenant, EndOfServiceTenantAdmin)
