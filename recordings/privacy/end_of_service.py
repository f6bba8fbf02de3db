"""The end of a customer's service: support staff end it, nobody of the tenant can sign in any
more, and a task purges the tenant's data (``recordings.privacy.purge``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hiprecorder.tasks import enqueue
from recordings.privacy import tasks
from tenants.audit import log_event
from tenants.models import DeletionReport, Tenant, User

if TYPE_CHECKING:
    from django.http import HttpRequest


def end_service(*, tenant: Tenant, acting_user: User, request: HttpRequest | None = None) -> DeletionReport:
    """Support staff end a customer's service: nobody of the tenant can sign in any more, and a
    task purges the tenant's data. Calling it again for an ended tenant resumes the purge."""
    if not getattr(acting_user, "is_support_staff", False):
        raise ValidationError(_("Only support staff can end a customer's service."))
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if tenant.status != Tenant.Status.ENDED:
            tenant.status = Tenant.Status.ENDED
            tenant.ended_at = timezone.now()
            tenant.save(update_fields=["status", "ended_at"])
        report, created = DeletionReport.objects.get_or_create(
            tenant=tenant, defaults={"requested_by": acting_user.get_username()}
        )
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="support.tenant.end_service" if created else "support.tenant.resume_purge",
            target=tenant,
            request=request,
        )
        enqueue(tasks.purge_tenant, str(tenant.pk))
    return report
