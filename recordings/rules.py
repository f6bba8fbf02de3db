"""Contact rules seen from the capture path: is a remote number on the user's blacklist/whitelist?

A placeholder with the final signatures: the Playback lifecycle work (contact rules,
``recordings.ContactRule``) replaces this module. Until then no number is on any list, so every
Playback call is recorded whole and left unsaved for the user's decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenants.models import User


def is_blacklisted(user: User, remote_number: str) -> bool:
    """True when ``remote_number`` (E.164 or ``"anonymous"``) is on ``user``'s blacklist."""
    return False


def is_whitelisted(user: User, remote_number: str) -> bool:
    """True when ``remote_number`` (E.164 or ``"anonymous"``) is on ``user``'s whitelist."""
    return False
