"""Phone-system keys: issued once, stored as a hash, revoked, and checked on every call of the
telephony interface."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.models import (
    PbxKey,
    Tenant,
    User,
)
from tenants.scoping import service_scope
from tenants.services.base import audit_change

if TYPE_CHECKING:
    from django.http import HttpRequest


PBX_KEY_PREFIX = "hip"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``secret`` is the only time the full key exists outside the caller."""

    key: PbxKey
    secret: str


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_pbx_key(
    *, tenant: Tenant, name: str, acting_user: User | None = None, request: HttpRequest | None = None
) -> IssuedKey:
    """Issue a phone-system key. Store only its hash; hand the key back once."""
    if not name.strip():
        raise ValidationError({"name": _("Give the key a name, e.g. the phone system it is for.")})
    prefix = secrets.token_hex(4)
    secret = f"{PBX_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic(), service_scope(tenant):
        key = PbxKey.objects.create(
            tenant=tenant,
            name=name.strip(),
            prefix=prefix,
            key_hash=_hash_key(secret),
            created_by=acting_user,
        )
        audit_change(acting_user, "manage.pbx_key.create", key, request, tenant=tenant, prefix=key.prefix)
    return IssuedKey(key=key, secret=secret)


def revoke_pbx_key(
    *, key: PbxKey, acting_user: User | None = None, request: HttpRequest | None = None
) -> PbxKey:
    """Revoke a phone-system key: the phone system is refused from now on. Idempotent."""
    with transaction.atomic():
        PbxKey.objects.unscoped().filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        key.refresh_from_db()
        audit_change(acting_user, "manage.pbx_key.revoke", key, request, tenant=key.tenant, prefix=key.prefix)
    return key


def authenticate_pbx_key(raw: str) -> PbxKey | None:
    """The active key of an active tenant that ``raw`` is, or None. Constant-time comparison."""
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != PBX_KEY_PREFIX:
        return None
    # The one cross-tenant read of the telephony interface: the key *is* what tells the tenant.
    key: PbxKey | None = (
        PbxKey.objects.unscoped()
        .select_related("tenant")
        .filter(prefix=parts[1], revoked_at__isnull=True, tenant__status=Tenant.Status.ACTIVE)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, _hash_key(raw)):
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        PbxKey.objects.unscoped().filter(pk=key.pk).update(last_used_at=now)
    return key
