"""The home list's rows as HTML, built in Python once per page.

The list is the portal's most requested page. Rendered by the template engine, its 25 rows took
about half of the request (a node, a lookup, a filter and an escape per value, ~20 values a row).
Here the values that are the same for every row of a page (translated words, the time zone and
the date format of the person's language, URL prefixes, the form's CSRF token) are looked up
once, and a row is one format string. The markup is what ``templates/recordings/home.html``
rendered per row before; every value that comes from data (numbers, contact names, labels, owners'
names) is escaped here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.formats import get_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from recordings.models import Direction, Kind, Recording
from recordings.templatetags.portal import duration, expiry_text

_MARK = "00000000-0000-0000-0000-000000000000"

_ROW = """
    <li class="recording colour-{colour}"{swipe}>
      <div class="row-body">
        <a class="row-link" href="{player}">
          <span class="party">{party}</span>
          <span class="visually-hidden">, {colour_name}</span>
        </a>
        <span class="meta">
          <time datetime="{iso}">{when}</time>
          · <span class="duration" title="{duration_title}">{duration}</span>
          · <span class="direction direction-{direction}">{direction_name}</span>{owner}
        </span>
        <span class="tags">
          <span class="kind-tag">{colour_name}</span>{expiry}{chips}
        </span>
      </div>{actions}
    </li>"""

_OWNER = """
          · <span class="owner">{}</span>"""

_EXPIRY = """
          <span class="expiry">{}</span>"""

_KEEP = """
        <form method="post" action="{keep}" class="keep-form">\
<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">
          <input type="hidden" name="next" value="{player}">
          <button type="submit" class="keep">{keep_text}<span class="visually-hidden"> {party}</span></button>
        </form>"""

_ACTIONS = """
      <div class="row-actions">{keep}
        <a class="button danger secondary" href="{delete}">{delete_text}\
<span class="visually-hidden"> {party}</span></a>
      </div>"""


def _url_parts(name: str) -> tuple[str, str]:
    """A recording URL's text before and after the id (reversed once, not per row)."""
    head, tail = reverse(name, args=[uuid.UUID(_MARK)]).split(_MARK, 1)
    return escape(head), escape(tail)


class RowRenderer:
    """Renders a page's rows for ``viewer`` in the active language and time zone.

    ``csrf_token``: called (once) when the first row needs the "Keep" form's token. The rows
    are ``listing.page``'s: with ``party_name``, ``label_names`` and their owner.
    """

    def __init__(
        self,
        *,
        viewer: Any,
        is_listener: bool,
        csrf_token: Callable[[], str],
    ) -> None:
        self.viewer_id = viewer.pk
        self.is_listener = is_listener
        self._csrf_token = csrf_token
        self._csrf = ""
        self.now = timezone.now()
        self.tz = timezone.get_current_timezone()
        self.date_format = get_format("SHORT_DATETIME_FORMAT")
        self.urls = {
            name: _url_parts(name) for name in ("player", "recording_keep", "recording_delete_confirm")
        }
        self.colours = {c.value: escape(c.label) for c in Recording.Colour}
        self.directions = {d.value: escape(d.label) for d in Direction}
        self.anonymous = escape(_("Anonymous"))
        self.duration_title = escape(_("Duration"))
        self.keep_text = escape(_("Keep"))
        self.delete_text = escape(_("Delete"))
        self._expiry: dict[tuple[int, bool], str] = {}
        self._owners: dict[Any, str] = {}

    def csrf(self) -> str:
        if not self._csrf:
            self._csrf = escape(self._csrf_token())
        return self._csrf

    def party(self, row: Recording) -> str:
        """The contact-rule name when there is one, else the number (``party`` filter's rule)."""
        name = getattr(row, "party_name", "")
        if name:
            return escape(name)
        number = row.remote_number
        if number == "anonymous" or not number:
            return self.anonymous
        return escape(number)

    def expiry(self, row: Recording) -> str:
        if row.expires_at is None:
            return ""
        # The whole hours left (and whether any time is left) decide the words: worked out once
        # per count on a page.
        left = (row.expires_at - self.now).total_seconds()
        key = (int(left // 3600), left > 0)
        text = self._expiry.get(key)
        if text is None:
            text = self._expiry[key] = escape(expiry_text(row.expires_at, self.now))
        return text

    def owner(self, row: Recording) -> str:
        name = self._owners.get(row.owner_id)
        if name is None:
            name = self._owners[row.owner_id] = escape(str(row.owner))
        return name

    @staticmethod
    def chips(names: Iterable[str]) -> str:
        chips = "".join(f'<span class="chip">{escape(name)}</span>' for name in names)
        return f"\n          {chips}" if chips else ""

    def row(self, row: Recording) -> str:
        pk = str(row.pk)
        player = pk.join(self.urls["player"])
        party = self.party(row)
        mine = row.owner_id == self.viewer_id
        colour = str(row.colour)
        unsaved = colour == Recording.Colour.UNSAVED_PLAYBACK
        colour_name = self.colours[colour]
        actions = ""
        if mine and row.kind == Kind.PLAYBACK:
            keep = ""
            if unsaved:
                keep = _KEEP.format(
                    keep=pk.join(self.urls["recording_keep"]),
                    csrf=self.csrf(),
                    player=player,
                    keep_text=self.keep_text,
                    party=party,
                )
            actions = _ACTIONS.format(
                keep=keep,
                delete=pk.join(self.urls["recording_delete_confirm"]),
                delete_text=self.delete_text,
                party=party,
            )
        started = timezone.localtime(row.started_at, self.tz)
        direction = row.direction
        return _ROW.format(
            colour=colour,
            swipe=" data-swipe-keep" if unsaved and mine else "",
            player=player,
            party=party,
            colour_name=colour_name,
            iso=started.isoformat(),
            when=escape(format_date(started, self.date_format)),
            duration_title=self.duration_title,
            duration=duration(row.duration_ms),
            direction=escape(direction),
            direction_name=self.directions.get(direction) or escape(direction),
            owner=_OWNER.format(self.owner(row)) if self.is_listener and not mine else "",
            expiry=_EXPIRY.format(self.expiry(row)) if unsaved else "",
            chips=self.chips(getattr(row, "label_names", ())),
            actions=actions,
        )

    def render(self, rows: Iterable[Recording]) -> SafeString:
        return mark_safe("".join(map(self.row, rows)))  # noqa: S308 (every value escaped above)
