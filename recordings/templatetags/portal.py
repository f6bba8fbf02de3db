"""Small display filters of the portal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from recordings import review

register = template.Library()


@register.filter
def duration(ms: int | None) -> str:
    """Milliseconds as ``m:ss`` (or ``h:mm:ss``)."""
    seconds = round((ms or 0) / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def deleted_in(expires_at: dt.datetime | None) -> str:
    """ "deleted in 2 days" / "deleted in 5 hours" for an unsaved playback."""
    if expires_at is None:
        return ""
    return expiry_text(expires_at, timezone.now())


def expiry_text(expires_at: dt.datetime, now: dt.datetime) -> str:
    """``deleted_in`` at ``now`` (the home list takes the time once per page)."""
    left = expires_at - now
    hours = int(left.total_seconds() // 3600)
    if left.total_seconds() <= 0:
        return _("deleted soon")
    if hours >= 48:
        days = hours // 24
        return ngettext("deleted in %(n)d day", "deleted in %(n)d days", days) % {"n": days}
    if hours >= 1:
        return ngettext("deleted in %(n)d hour", "deleted in %(n)d hours", hours) % {"n": hours}
    minutes = max(1, int(left.total_seconds() // 60))
    return ngettext("deleted in %(n)d minute", "deleted in %(n)d minutes", minutes) % {"n": minutes}


@register.inclusion_tag("recordings/includes/countdown.html")
def countdown(expires_at: dt.datetime | None) -> dict[str, Any]:
    """An unsaved playback's "deleted in …", ticking in the browser (static/js/lists.js) from its
    expiry time in ``data-expires`` (ISO 8601, never localised)."""
    return {"expires_at": expires_at, "text": deleted_in(expires_at)}


@register.inclusion_tag("recordings/includes/countdown_words.html")
def countdown_words() -> dict[str, Any]:
    """The countdown's words in the page's language, for the browser: each unit in its singular
    and plural form (Intl.PluralRules' "one" and "other": Dutch and English have these two)."""

    def forms(singular: str, plural: str) -> dict[str, str]:
        return {"one": ngettext(singular, plural, 1), "other": ngettext(singular, plural, 2)}

    return {
        "words": {
            "day": forms("deleted in %(n)d day", "deleted in %(n)d days"),
            "hour": forms("deleted in %(n)d hour", "deleted in %(n)d hours"),
            "minute": forms("deleted in %(n)d minute", "deleted in %(n)d minutes"),
            "soon": _("deleted soon"),
        }
    }


@register.filter
def party(recording: object) -> str:
    """The other party: the contact-rule name when there is one, else the number."""
    name = getattr(recording, "party_name", "")
    number = getattr(recording, "remote_number", "")
    if name:
        return name
    if number == "anonymous" or not number:
        return _("Anonymous")
    return number


@register.inclusion_tag("recordings/includes/review_nav.html", takes_context=True)
def review_nav(context: dict[str, Any]) -> dict[str, Any]:
    """The navigation's links of a Playback user: "To review" with its count, their plan, and the
    browser notifications (the keep-or-delete prompt; nobody else gets one)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or getattr(request, "tenant", None) is None or not review.is_playback_user(user):
        return {"show": False}
    match = getattr(request, "resolver_match", None)
    counted = context.get("review_count")  # the page counted them already (home, To review)
    return {
        "show": True,
        "count": counted if isinstance(counted, int) else review.review_count(user),
        "current": bool(match and match.url_name == "review"),
        "current_plan": bool(match and match.url_name == "plan"),
        "current_notifications": bool(match and match.url_name == "browser_notifications"),
    }
