"""Reading a transcript: logged like listening (an access-log row and an audit entry)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from recordings.models import PlaybackAccess, Recording
from recordings.transcripts.models import Transcript
from tenants.audit import client_ip, log_event
from tenants.models import User
from tenants.scoping import service_scope


def read_transcript(*, user: User, recording: Recording, request: HttpRequest) -> Transcript | None:
    """The transcript of ``recording`` (found for ``user`` by the caller, through
    ``Recording.objects.visible_to``), its reading logged; None when there is none (nothing logged)."""
    with transaction.atomic(), service_scope(recording.tenant_id):
        transcript = Transcript.objects.filter(recording=recording).first()
        if transcript is None:
            return None
        access = PlaybackAccess.objects.create(
            tenant_id=recording.tenant_id,
            recording=recording,
            user=user,
            via=PlaybackAccess.Via.TRANSCRIPT,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )
        log_event(
            tenant=recording.tenant,
            actor=user,
            action="recording.transcript_read",
            target=recording,
            detail={"access": access.pk},
            request=request,
        )
    return transcript
