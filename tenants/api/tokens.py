"""App tokens: issue one per device, find it from the ``Authorization`` header, revoke it.

Plain functions like every service: keyword-only arguments, the acting user passed in, one
transaction each, ``ValidationError`` with a message a person can act on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants.audit import log_event
from tenants.auth import TenantAwareModelBackend
from tenants.models import ApiToken, User
from tenants.scoping import tenant_scope
from tenants.signins import APP, log_sign_in

if TYPE_CHECKING:
    from django.http import HttpRequest

API_TOKEN_PREFIX = "hipapp"  # noqa: S105 - the public part of every token, not a secret
# last_used_at is a hint for the person reviewing their devices, not an audit trail: write it at
# most once a minute per token instead of on every request.
LAST_USED_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class IssuedToken:
    """A fresh token: ``secret`` is the only time the full token exists outside the device."""

    token: ApiToken
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_token(
    *, user: User, name: str, acting_user: User, request: HttpRequest | None = None
) -> IssuedToken:
    """Issue a token for one of ``user``'s devices: the app's sign-in, in the audit log as
    ``auth.sign_in`` (via ``app``, target the token). Only customers' users use the app."""
    if user.tenant_id is None:
        raise ValidationError("Support staff have no app access.")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"device_name": ["Name the device, e.g. 'Anna's iPhone'."]})
    prefix = secrets.token_hex(4)
    secret = f"{API_TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic(), tenant_scope(user.tenant_id):
        token = ApiToken.objects.create(user=user, name=name[:100], prefix=prefix, key_hash=_hash(secret))
        log_sign_in(user=user, via=APP, request=request, target=token)
    return IssuedToken(token=token, secret=secret)


def revoke_api_token(
    *, token: ApiToken, acting_user: User, request: HttpRequest | None = None, how: str = "device_list"
) -> ApiToken:
    """End a token at once; revoking twice is harmless (and logged once). Users revoke their own
    tokens only. In the audit log as ``auth.token_revoked``; ``how``: ``logout`` (the device signed
    itself out) or ``device_list`` (from the list of devices)."""
    if token.user_id != acting_user.pk:
        raise ValidationError("You can revoke only your own devices' tokens.")
    with transaction.atomic():
        revoked = (
            ApiToken.objects.unscoped()
            .filter(pk=token.pk, revoked_at__isnull=True)
            .update(revoked_at=timezone.now())
        )
        if revoked:
            log_event(
                tenant=acting_user.tenant,
                actor=acting_user,
                action="auth.token_revoked",
                target=token,
                detail={"how": how},
                request=request,
            )
    token.refresh_from_db()
    return token


def authenticate_api_token(raw: str) -> ApiToken | None:
    """The active token ``raw`` is, of an active user of an active tenant; else None.

    The one cross-tenant read of the API: the token is what tells the tenant.
    """
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_TOKEN_PREFIX or not parts[1]:
        return None
    token = (
        ApiToken.objects.unscoped()
        .select_related("user", "user__tenant")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.key_hash, _hash(raw)):
        return None
    if token.user.tenant_id is None or not TenantAwareModelBackend().user_can_authenticate(token.user):
        return None
    now = timezone.now()
    if (
        token.last_used_at is None
        or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS
    ):
        ApiToken.objects.unscoped().filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
