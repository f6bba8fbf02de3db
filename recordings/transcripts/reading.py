"""Reading a transcript, whole or as search snippets: logged like listening (an access-log row
and an audit entry).

A snippet is words of the transcript, shown where the search found them: reading a piece of the
transcript. So each recording whose snippet is shown gets an access-log row ``via=text`` as a
read of the whole transcript does, and each page of snippets one audit entry (it names the
access rows; one entry per recording would make a search page append 25 entries to the chain).
The same person shown the same recording's snippet again within :data:`SNIPPET_LOG_WINDOW` (the
home list's live poll re-renders it every few seconds while calls arrive) adds no new row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from recordings.models import PlaybackAccess, Recording
from recordings.transcripts import search
from recordings.transcripts.models import Transcript
from tenants.audit import client_ip, log_event
from tenants.models import Tenant, User
from tenants.scoping import service_scope

SNIPPET_LOG_WINDOW = timedelta(minutes=10)


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


def read_snippets(
    *, user: User, tenant: Tenant, q: str, recordings: Sequence[Recording], request: HttpRequest
) -> dict[uuid.UUID, list[search.Part]]:
    """Where the words of ``q`` were found in the transcripts of ``recordings`` (a page the caller
    found for ``user`` through ``Recording.objects.visible_to``): recording id -> the snippet's
    parts, for those whose transcript matched. Showing them is logged (see the module)."""
    if not q.strip() or not recordings:
        return {}
    with transaction.atomic(), service_scope(tenant):
        found = search.snippets(q, language=tenant.language, recording_ids=[r.pk for r in recordings])
        if not found:
            return {}
        recent = set(
            PlaybackAccess.objects.filter(
                recording_id__in=list(found),
                user=user,
                via=PlaybackAccess.Via.TRANSCRIPT,
                at__gte=timezone.now() - SNIPPET_LOG_WINDOW,
            ).values_list("recording_id", flat=True)
        )
        ip, agent = client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:300]
        accesses = PlaybackAccess.objects.bulk_create(
            PlaybackAccess(
                tenant_id=tenant.pk,
                recording_id=recording_id,
                user=user,
                via=PlaybackAccess.Via.TRANSCRIPT,
                ip=ip,
                user_agent=agent,
            )
            for recording_id in found
            if recording_id not in recent
        )
        if accesses:
            log_event(
                tenant=tenant,
                actor=user,
                action="recording.transcript_snippets_read",
                detail={"recordings": len(accesses), "accesses": [a.pk for a in accesses]},
                request=request,
            )
    return found
