"""Sign-ins in the audit log, for the portal and the app alike, written in this one place.

- ``auth.sign_in``: a person got in. The portal's sign-in (allauth, after the authenticator code
  when the person has one) through Django's ``user_logged_in`` signal; the app's through
  ``tenants.api.tokens.issue_api_token`` (a sign-in *is* a new device token there; the entry's
  target is that token, so its revocation can be matched to it). ``detail.via`` says which.
- ``auth.sign_in_failed``: a wrong password (Django's ``user_login_failed``, sent by
  ``authenticate()`` for the portal and the app) or, in the app, a wrong authenticator code after
  a right password (``detail.reason``: ``password`` or ``totp``). Written only when the username
  is an existing person's, in that person's chain, with the person as target and no actor (who
  typed it is unknown). Attempts at unknown usernames leave no entry: there is no tenant to
  write them to, and the throttles/rate limits already count them. Neither the password nor the
  code is ever written (Django hands the signal masked credentials; only the username is read).
- ``auth.token_revoked``: in ``tenants.api.tokens.revoke_api_token``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.signals import user_logged_in, user_login_failed

from tenants.audit import log_event

if TYPE_CHECKING:
    from django.db import models
    from django.http import HttpRequest

    from tenants.models import User

PORTAL = "portal"
APP = "app"


def channel(request: HttpRequest | None) -> str:
    """Where a sign-in came from: the app's API (``/api/``) or the portal (anything else)."""
    path = getattr(request, "path", "") or ""
    return APP if path.startswith("/api/") else PORTAL


def log_sign_in(
    *, user: User, via: str, request: HttpRequest | None, target: models.Model | None = None
) -> None:
    log_event(
        tenant=user.tenant,
        actor=user,
        action="auth.sign_in",
        target=target if target is not None else user,
        detail={"via": via},
        request=request,
    )


def log_failed_sign_in(*, username: str, via: str, reason: str, request: HttpRequest | None) -> None:
    """An attempt at an existing person's account; nothing for unknown usernames."""
    from tenants.models import User

    user = User.objects.filter(username=username).select_related("tenant").first() if username else None
    if user is None:
        return
    log_event(
        tenant=user.tenant,
        actor=None,
        action="auth.sign_in_failed",
        target=user,
        detail={"via": via, "reason": reason},
        request=request,
    )


def _on_user_logged_in(
    sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any
) -> None:
    if user is not None:
        log_sign_in(user=user, via=channel(request), request=request)


def _on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = credentials.get("username")
    if isinstance(username, str):
        log_failed_sign_in(username=username, via=channel(request), reason="password", request=request)


def connect() -> None:
    user_logged_in.connect(_on_user_logged_in, dispatch_uid="tenants.signins.logged_in")
    user_login_failed.connect(_on_user_login_failed, dispatch_uid="tenants.signins.login_failed")
