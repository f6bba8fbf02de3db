"""The per-person list version (:class:`tenants.models.ListVersion`): bumped by every service
that changes what a person's recording lists show, read by the live lists' poll.

Who must be bumped for a change to a recording is ``recordings.models.hearers_of`` (the reverse of
``visible_to``); this module only keeps the counters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection

from tenants.models import ListVersion

_CHUNK = 500  # people per statement (a sweep batch's owners fit in one)


def bump_lists(user_ids: Iterable[uuid.UUID | str | None]) -> None:
    """Move the list version of each of these people on, in the caller's transaction: one
    statement per 500 people, an upsert (a person without a row gets one). In id order, so two
    transactions bumping overlapping sets lock the rows in the same order (no deadlock).

    Raw SQL (a dangerous construct per CONTRIBUTING): ``INSERT … ON CONFLICT DO UPDATE`` with
    ``version + 1`` is one statement on PostgreSQL and SQLite alike, which the ORM cannot say;
    the table and column names come from the model's metadata, quoted, every value is bound."""
    ids = sorted({str(i) for i in user_ids if i is not None})
    if not ids:
        return
    qn = connection.ops.quote_name
    table = qn(ListVersion._meta.db_table)
    user_col = qn(ListVersion._meta.get_field("user").column)
    field = ListVersion._meta.get_field("user")
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            values = ", ".join(["(%s, 1)"] * len(chunk))
            params = [field.get_db_prep_value(uuid.UUID(i), connection) for i in chunk]
            cursor.execute(
                f"INSERT INTO {table} ({user_col}, version) VALUES {values} "  # noqa: S608 (names from _meta)
                f"ON CONFLICT ({user_col}) DO UPDATE SET version = {table}.version + 1",
                params,
            )


def list_version(user_id: uuid.UUID) -> int:
    """The person's list version (0 before the first change): one primary-key lookup."""
    found = ListVersion.objects.filter(pk=user_id).values_list("version", flat=True).first()
    return found or 0
