"""What moves the live lists: every service that changes what a person's recording lists show
calls one of these in its transaction, and the person's list version (``tenants.lists``) moves on.
The portal's poll compares that version with the one its page was rendered with (304 when equal).

Whose lists move follows ``visible_to`` (``recordings.models.hearers_of``): the owner, and for a
standard recording the listeners of the owner's teams. A call being processed shows only in its
own person's lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from recordings.models import Recording, hearers_of
from tenants.lists import bump_lists


def recordings_changed(recordings: Iterable[Recording]) -> None:
    """These recordings appeared, changed in a way their rows show, or were deleted."""
    bump_lists(hearers_of((r.owner_id, r.kind) for r in recordings))


def owners_changed(owners: Iterable[tuple[uuid.UUID | None, str]]) -> None:
    """Recordings of these (owner id, kind) pairs changed (for callers that hold no rows, e.g.
    the expiry sweep, which reads them from its claim)."""
    bump_lists(hearers_of(owners))


def calls_changed(user_ids: Iterable[uuid.UUID | None]) -> None:
    """Calls of these people started or ended their processing (the "Processing" rows)."""
    bump_lists(user_ids)
