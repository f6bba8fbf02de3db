"""The access-copy notices a user sees on their recordings page (``recordings.privacy``)."""

from __future__ import annotations

from typing import Any

from django import template

from recordings import privacy

register = template.Library()


@register.inclusion_tag("privacy/notices.html", takes_context=True)
def access_copy_notices(context: dict[str, Any]) -> dict[str, Any]:
    """The unread notices of the signed-in user: an approved access copy holds some of their
    Playback recordings (who requested and approved it, when, how many)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    notices = privacy.notices_for(user) if user is not None and user.is_authenticated else []
    return {"notices": notices, "csrf_token": context.get("csrf_token")}
