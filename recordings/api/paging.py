"""Keyset pagination of the app's recording lists over ``(started_at, id)``, newest first, with
the one cursor format of :mod:`recordings.listing` (the portal's pages use the same)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions

from recordings.listing import decode_cursor, encode_cursor, keyset_rows


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Where ``cursor`` points; a cursor the API did not hand out is a 400."""
    position = decode_cursor(cursor)
    if position is None:
        raise exceptions.ValidationError({"cursor": ["This cursor is not one the API handed out."]})
    return position


def keyset_page(
    queryset: QuerySet[Any], *, cursor: str | None, limit: int, owners: list[Any] | None = None
) -> tuple[list[Any], str | None]:
    """One page of ``queryset`` newest first, after ``cursor``; and the cursor of the next page.

    The position is a row comparison ``(started_at, id) < (t, i)``, which PostgreSQL answers from
    the ``(tenant, owner, -started_at, -id)`` index however deep the page is; with several
    ``owners`` (a listener's list) the page is merged from per-owner index walks
    (``recordings.listing.keyset_rows``, the portal's pages use the same).
    """
    position = _position(cursor) if cursor else None
    rows = keyset_rows(queryset, limit=limit + 1, position=position, owners=owners)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.started_at, last.pk)
    return rows, next_cursor
