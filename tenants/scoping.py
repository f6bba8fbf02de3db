"""Fail-closed tenancy, written once.

Every tenant-owned model uses :class:`TenantManager` as its default manager. Its querysets are
filtered to the tenant of the active scope, and building one with no scope active raises
:class:`TenantScopeError` instead of silently returning every tenant's rows. The scope is entered
once per request (``tenants.middleware.TenantMiddleware``, the DRF base views, the telephony key
authentication) and once per Celery task (tasks take ``tenant_id``).

``Model.objects.unscoped()`` is the one explicit, greppable escape hatch: the Django admin for
support staff and maintenance jobs that work across tenants use it, nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import models

_active_tenant_id: ContextVar[uuid.UUID | None] = ContextVar("hiprecorder_tenant_id", default=None)


class TenantScopeError(RuntimeError):
    """A tenant-owned table was queried outside a tenant scope."""


def _tenant_id_of(tenant: models.Model | uuid.UUID | str | None) -> uuid.UUID:
    if tenant is None:
        raise TenantScopeError("no tenant: support staff and tenant-less objects have no scope")
    tenant_id = tenant if isinstance(tenant, uuid.UUID) else getattr(tenant, "pk", None) or tenant
    return tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))


@contextmanager
def tenant_scope(tenant: models.Model | uuid.UUID | str | None) -> Iterator[uuid.UUID]:
    """Run the block with ``tenant`` (a Tenant, or its id) as the only tenant whose rows can be read
    or written. (Typed as any model: the scoping sits below ``tenants.models``.) ``None`` (a
    staff user's or a tenant-less object's tenant) is refused with :class:`TenantScopeError`."""
    tenant_id = _tenant_id_of(tenant)
    token = _active_tenant_id.set(tenant_id)
    try:
        yield tenant_id
    finally:
        _active_tenant_id.reset(token)


@contextmanager
def service_scope(tenant: models.Model | uuid.UUID | str | None) -> Iterator[uuid.UUID]:
    """The scope a service works in on an object of ``tenant``.

    The edges (middleware, the API's base view, tasks, commands, the admin) enter a tenant's scope;
    a service checks that what it was handed belongs to it: inside another tenant's scope it
    refuses with :class:`TenantScopeError` instead of following the object into its tenant. Only
    where no scope is active at all (an edge calling the service directly) is the object's
    tenant's scope entered here."""
    tenant_id = _tenant_id_of(tenant)
    active = _active_tenant_id.get()
    if active is None:
        with tenant_scope(tenant_id):
            yield tenant_id
        return
    if active != tenant_id:
        raise TenantScopeError(
            f"an object of tenant {tenant_id} was handed to a service in tenant {active}'s scope"
        )
    yield active


def active_tenant_id() -> uuid.UUID:
    tenant_id = _active_tenant_id.get()
    if tenant_id is None:
        raise TenantScopeError(
            "No tenant scope is active. Enter one with tenants.scoping.tenant_scope(tenant), "
            "or use Model.objects.unscoped() where crossing tenants is deliberate."
        )
    return tenant_id


def active_tenant_id_or_none() -> uuid.UUID | None:
    return _active_tenant_id.get()


class TenantQuerySet(models.QuerySet):
    def create(self, **kwargs: Any) -> Any:
        # New rows land in the active tenant unless it is given; a mismatch is a bug, not data.
        # (get_or_create and update_or_create come through here too.)
        tenant_id = active_tenant_id()
        given = kwargs.get("tenant_id") or getattr(kwargs.get("tenant"), "pk", None)
        if given is not None and given != tenant_id:
            raise TenantScopeError("Creating a row for another tenant than the active scope")
        if given is None:
            kwargs["tenant_id"] = tenant_id
        return super().create(**kwargs)


class TenantManager(models.Manager):
    """Default manager of tenant-owned models: scoped to the active tenant, or refusing to run."""

    _queryset_class = TenantQuerySet

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(tenant_id=active_tenant_id())

    def unscoped(self) -> Any:
        """Every tenant's rows. For the support admin and cross-tenant maintenance only."""
        return super().get_queryset()


class TenantOwned(models.Model):
    """Abstract base of every model that belongs to one tenant."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()

    class Meta:
        abstract = True

    # Model validation (unique fields, constraints) queries the default manager; it runs in the
    # row's own tenant scope, so a form can validate a row wherever it is built (e.g. the admin).
    # A row without a tenant is invalid anyway (the tenant field reports it), so there is nothing
    # to check uniqueness against.
    def validate_unique(self, exclude: Any = None) -> None:
        if self.tenant_id is not None:
            with service_scope(self.tenant_id):
                super().validate_unique(exclude)

    def validate_constraints(self, exclude: Any = None) -> None:
        if self.tenant_id is not None:
            with service_scope(self.tenant_id):
                super().validate_constraints(exclude)
