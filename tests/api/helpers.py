"""API test helpers: a token per persona, a client that sends it, recordings to list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from recordings.models import Direction, Kind, Leg, Recording
from tenants.api.tokens import issue_api_token
from tenants.models import User
from tenants.scoping import tenant_scope


def token_for(user: User, device: str = "Test phone") -> str:
    return issue_api_token(user=user, name=device, acting_user=user).secret


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


def make_recording(
    owner: User,
    *,
    kind: str | None = None,
    started_at: datetime | None = None,
    saved: bool = False,
    direction: str = Direction.INBOUND,
    remote_number: str = "+31612345678",
    duration_ms: int = 60_000,
    **extra: Any,
) -> Recording:
    if kind is None:
        kind = Kind.PLAYBACK if hasattr(owner, "playback_subscription") else Kind.STANDARD
    started_at = started_at or timezone.now() - timedelta(hours=1)
    with tenant_scope(owner.tenant_id):
        return Recording.objects.create(
            owner=owner,
            kind=kind,
            direction=direction,
            leg=Leg.MOBILE,
            local_number="+31201234567",
            remote_number=remote_number,
            started_at=started_at,
            ended_at=started_at + timedelta(milliseconds=duration_ms),
            duration_ms=duration_ms,
            saved=saved,
            **extra,
        )
