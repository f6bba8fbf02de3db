"""Access helpers: the one way views reach recordings.

Another tenant's recording, a deleted one, a missing one and one the person may not hear all
give the same 404.
"""

from __future__ import annotations

import uuid

from django.http import Http404

from recordings.models import Recording
from tenants.models import User


def get_recording_for_user(user: User, recording_id: uuid.UUID | str) -> Recording:
    """The live recording ``recording_id`` if ``user`` may hear it (own, or team member's for
    listeners), else 404. Runs inside the request's tenant scope."""
    try:
        return Recording.objects.visible_to(user).select_related("owner").get(pk=recording_id)
    except (Recording.DoesNotExist, ValueError, TypeError):
        raise Http404("No such recording") from None


def may_manage(user: User, recording: Recording) -> bool:
    """Keep, delete and share are for the recording's owner; listeners hear and annotate only."""
    return recording.owner_id == user.pk
