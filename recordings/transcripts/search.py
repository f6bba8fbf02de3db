"""Search in what was said: which recordings' transcripts hold the words of a query.

SQLite (the embedded default): an FTS5 index (``recordings_transcript_fts``, kept by triggers,
migration ``0016_transcript_search``). PostgreSQL: full-text search with the tenant's language
configuration (Dutch or English stemming). Both answer the same question, for
``recordings.listing`` to combine with the other filters (and so with ``visible_to``).
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connections, router
from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL

from recordings.transcripts.models import Transcript

FTS_TABLE = "recordings_transcript_fts"
CONFIG = {"nl": "dutch", "en": "english"}


def _fts5_query(q: str) -> str:
    """Every word of ``q`` as a quoted FTS5 term (prefix match), so no query syntax is possible."""
    words = re.findall(r"\w+", q)
    return " ".join(f'"{w}"*' for w in words)


def matches(q: str, *, language: str) -> Q | None:
    """A filter on Recording: its transcript holds every word of ``q``. None: no words."""
    vendor = connections[router.db_for_read(Transcript)].vendor
    if vendor == "sqlite":
        query = _fts5_query(q)
        if not query:
            return None
        # Raw SQL (a dangerous construct per CONTRIBUTING): the FTS5 table has no model; the query
        # is one bound parameter, built of quoted words only.
        ids = RawSQL(  # noqa: S611 (constant table name, one bound parameter)
            f"SELECT transcript_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s",  # noqa: S608 (constant name)
            [query],
        )
        return Q(Exists(Transcript.objects.filter(recording=OuterRef("pk"), id__in=ids)))
    words = re.findall(r"\w+", q)
    if not words:
        return None
    config = CONFIG.get(language, "simple")
    # The same question as FTS5 above: every word, as a prefix (``word:*``), in any case; built of
    # \w+ words only, so no tsquery syntax reaches PostgreSQL.
    prefixes = SearchQuery(" & ".join(f"{w}:*" for w in words), config=config, search_type="raw")
    found = Transcript.objects.annotate(found=SearchVector("text", config=config)).filter(
        recording=OuterRef("pk"), found=prefixes
    )
    return Q(Exists(found))
