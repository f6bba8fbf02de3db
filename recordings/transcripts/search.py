"""Search in what was said: which recordings' transcripts hold the words of a query, and where.

SQLite (the embedded default): an FTS5 index (``recordings_transcript_fts``, kept by triggers,
migration ``0016_transcript_search``). PostgreSQL: a stored ``tsvector`` of the text in the
configuration of the tenant's language (Dutch or English stemming), kept by triggers, with a GIN
index (migration ``0022_transcript_search_vector``). Both answer the same question, for
``recordings.listing`` to combine with the other filters (and so with ``visible_to``).

:func:`snippets` shows where the words were found, with each engine's own highlighter over the
same match (``ts_headline`` with the same ``tsquery``; FTS5 ``snippet()`` with the same MATCH), so
a snippet marks exactly what the search matched. The marks come back as parts, never as HTML: the
template ``recordings/includes/snippet.html`` escapes the text and marks the matches.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from recordings.transcripts.models import Transcript

FTS_TABLE = "recordings_transcript_fts"
# The same mapping as the triggers of migration 0017 (the vectors are made with it).
CONFIG = {"nl": "dutch", "en": "english"}
# Around a match in the raw snippet; removed from the text itself first (PostgreSQL), and any
# stray one is dropped when the snippet is split (SQLite cannot clean the indexed text).
START, STOP = "\x02", "\x03"
ELLIPSIS = "…"
SNIPPET_WORDS = 16
# One excerpt around the best match: fragments (MaxFragments) cost four times as much
# (1.3 ms against 0.3 ms a transcript of 185 words; bench/bench_transcript_search.py).
_HEADLINE_OPTIONS = f"StartSel={START}, StopSel={STOP}, MaxWords={SNIPPET_WORDS}, MinWords=6, ShortWord=1"


@dataclass(frozen=True)
class Part:
    """A piece of a snippet: ``mark`` is true for the words the search found."""

    text: str
    mark: bool


def drop_deleted_text() -> None:
    """After transcripts were deleted, on SQLite: rewrite the FTS5 index without them. FTS5 deletes
    by adding a delete marker; the deleted words stay in the index's segment blobs (the shadow
    table ``recordings_transcript_fts_data``) until a merge, and SQLite before 3.42 has no
    ``secure-delete``. ``optimize`` merges every segment into one, leaving only live rows' words.
    It rewrites the whole index (the embedded default's, small); once per deleting transaction.
    PostgreSQL: the vector is a column of the deleted row itself; nothing to do."""
    connection = connections[router.db_for_write(Transcript)]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")  # noqa: S608 (constant)


def config_for(language: str) -> str:
    return CONFIG.get(language, "simple")


def _words(q: str) -> list[str]:
    return re.findall(r"\w+", q)


def _fts5_query(q: str) -> str:
    """Every word of ``q`` as a quoted FTS5 term (prefix match), so no query syntax is possible.
    FTS5's tokenizer does not stem, so a prefix is how "abonnement" finds "abonnementen" here."""
    return " ".join(f'"{w}"*' for w in _words(q))


def _tsquery(q: str) -> str:
    """The same question for PostgreSQL: every word, the last one also as the start of a word
    (``word:*``), as it is while the person is still typing ("factuur kla" finds "factuur
    klant"); the words before it are whole words, stemmed in the tenant's language, so their
    other forms are found too. A prefix of a short common word matches many words, and the GIN
    index reads every entry of each of them, where it skips through a whole word's entries to a
    rare word's: "nee" and a rare word took 100 ms as prefixes, 40 ms so
    (bench/bench_transcript_search.py). Built of \\w+ words only, so no tsquery syntax reaches
    PostgreSQL."""
    words = _words(q)
    return " & ".join(f"{w}:*" if n == len(words) - 1 else w for n, w in enumerate(words))


def _vendor() -> str:
    return connections[router.db_for_read(Transcript)].vendor


def _pg_match(config: str, query: str) -> RawSQL:
    # Raw SQL (a dangerous construct per CONTRIBUTING): the vector column is kept by triggers and
    # has no model field; config and query are bound parameters.
    return RawSQL(
        "search_vector @@ to_tsquery(%s::regconfig, %s)",
        [config, query],
        output_field=BooleanField(),
    )


def _fts5_ids(query: str) -> RawSQL:
    # Raw SQL: the FTS5 table has no model; the query is one bound parameter of quoted words.
    return RawSQL(  # noqa: S611 (constant table name, one bound parameter)
        f"SELECT transcript_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s",  # noqa: S608 (constant name)
        [query],
    )


# Above this many transcripts estimated to match (PostgreSQL), the list checks its rows newest
# first one by one instead of collecting every match from the GIN index first.
COMMON_MATCHES = 20_000


@dataclass(frozen=True)
class Said:
    """The recordings whose transcript holds the words: ``ids``, a subquery of their ids when
    they are few (PostgreSQL, through the GIN index; SQLite, always: FTS5), else None; ``q``, the
    same as a filter."""

    q: Q
    ids: QuerySet[Transcript, Any] | None = None


def transcripts_matching(q: str, *, language: str) -> QuerySet[Transcript]:
    """The transcripts that hold every word of ``q`` (none when it has no words)."""
    if not _words(q):
        return Transcript.objects.none()
    if _vendor() == "sqlite":
        return Transcript.objects.filter(id__in=_fts5_ids(_fts5_query(q)))
    return Transcript.objects.filter(_pg_match(config_for(language), _tsquery(q)))


def matching(q: str, *, language: str) -> Said | None:
    """:func:`matches`, with the ids of the matches when they are few (see there). None: no words."""
    if not _words(q):
        return None
    candidates = transcripts_matching(q, language=language)
    # SQLite: FTS5 has no per-row check cheaper than its match list.
    if _vendor() == "sqlite" or _estimated_rows(candidates) <= COMMON_MATCHES:
        ids = candidates.values("recording_id")
        return Said(Q(pk__in=ids), ids)
    return Said(_per_row(config_for(language), _tsquery(q)))


def matches(q: str, *, language: str) -> Q | None:
    """A filter on Recording: its transcript holds every word of ``q``. None: no words.

    PostgreSQL, by how many transcripts the planner expects to match (its statistics of the
    vectors' words): few, the recordings of all matches through the GIN index (``IN``, hashed);
    many (a common word), ``EXISTS`` checked per row as the list walks newest first, which finds a
    page after a few hundred rows (``OFFSET 0`` keeps PostgreSQL from hashing it, which would
    collect every match). Left to itself the planner hashes both, whatever the LIMIT; figures
    and plans in bench/bench_transcript_search.py.
    """
    if not _words(q):
        return None
    if _vendor() == "sqlite":
        found = Transcript.objects.filter(recording=OuterRef("pk"), id__in=_fts5_ids(_fts5_query(q)))
        return Q(Exists(found))
    config, query = config_for(language), _tsquery(q)
    candidates = Transcript.objects.filter(_pg_match(config, query))
    if _estimated_rows(candidates) <= COMMON_MATCHES:
        return Q(pk__in=candidates.values("recording_id"))
    return _per_row(config, query)


def _per_row(config: str, query: str) -> Q:
    # Raw SQL: the per-row EXISTS with OFFSET 0, which the ORM cannot say; bound parameters.
    return Q(
        RawSQL(
            "EXISTS (SELECT 1 FROM recordings_transcript t WHERE t.recording_id = recordings_recording.id "
            "AND t.search_vector @@ to_tsquery(%s::regconfig, %s) OFFSET 0)",
            [config, query],
            output_field=BooleanField(),
        )
    )


def _estimated_rows(qs: QuerySet[Transcript]) -> int:
    """The planner's estimate of the rows of ``qs`` (EXPLAIN, nothing run)."""
    plan = json.loads(qs.explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def snippets(q: str, *, language: str, recording_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Part]]:
    """Where the words of ``q`` were found in the transcripts of ``recording_ids`` (recording id ->
    the snippet's parts); recordings whose transcript does not match ``q`` are left out. The
    caller has found the recordings through ``visible_to`` and logs what it shows
    (``recordings.transcripts.reading.read_snippets``)."""
    ids = list(recording_ids)
    if not ids or not _words(q):
        return {}
    transcripts = Transcript.objects.filter(recording_id__in=ids)
    if _vendor() == "sqlite":
        query = _fts5_query(q)
        raw = RawSQL(  # noqa: S611 (constant table name, bound parameters)
            f"SELECT snippet({FTS_TABLE}, 1, %s, %s, %s, %s) FROM {FTS_TABLE} "  # noqa: S608 (constant name)
            f'WHERE {FTS_TABLE} MATCH %s AND transcript_id = "recordings_transcript"."id"',
            [START, STOP, ELLIPSIS, SNIPPET_WORDS, query],
            output_field=TextField(),
        )
        rows = transcripts.filter(id__in=_fts5_ids(query)).annotate(snippet=raw)
    else:
        config, query = config_for(language), _tsquery(q)
        any_word = " | ".join(query.split(" & "))
        text = '"recordings_transcript"."text"'
        clean = f"translate({text}, %s, '')"
        # The words are looked for in a window of the text first: ts_headline parses and stems
        # the whole text it is given (0.3 ms a transcript of 185 words, most of a page's
        # snippets), and a window of WINDOW characters around where the first word's start is
        # first seen holds the match nearly always (whole words at both ends). In it, the
        # excerpt around the shortest stretch holding every word (the row matched all of them);
        # when that stretch is longer than an excerpt, PostgreSQL marks nothing, and the excerpt
        # around the first of any of the words is taken instead; when the window holds none of
        # them (the start seen first was in another word), the same in the whole text.
        trim_start = "CASE WHEN at.s > 1 THEN '^\\S*\\s+' ELSE '^' END"  # a word cut by the window
        trim_end = f"CASE WHEN at.s + %s <= length({text}) THEN '\\s+\\S*$' ELSE '$' END"
        raw = RawSQL(  # noqa: S611 (constant SQL, bound parameters)
            "(SELECT CASE WHEN strpos(h, %s) > 0 THEN h "  # noqa: S608 (constant SQL)
            "ELSE (SELECT CASE WHEN strpos(h2, %s) > 0 THEN h2 "
            f"ELSE ts_headline(%s::regconfig, {clean}, to_tsquery(%s::regconfig, %s), %s) END "
            "FROM (SELECT ts_headline(%s::regconfig, w, to_tsquery(%s::regconfig, %s), %s) AS h2) "
            "AS any_word) END "
            f"FROM (SELECT greatest(1, strpos(' ' || lower({text}), %s) - %s) AS s) AS at, "
            f"LATERAL (SELECT translate(regexp_replace(regexp_replace(substr({text}, at.s, %s), "
            f"{trim_start}, ''), {trim_end}, ''), %s, '') AS w) AS win, "
            "LATERAL (SELECT ts_headline(%s::regconfig, w, to_tsquery(%s::regconfig, %s), %s) AS h) "
            "AS every_word)",
            [
                *(START, START),
                *(config, START + STOP, config, any_word, _HEADLINE_OPTIONS),
                *(config, config, any_word, _HEADLINE_OPTIONS),
                *(_locator(q), WINDOW_BEFORE),
                *(WINDOW, WINDOW, START + STOP),
                *(config, config, query, _HEADLINE_OPTIONS),
            ],
            output_field=TextField(),
        )
        rows = transcripts.filter(_pg_match(config, query)).annotate(snippet=raw)
    found: dict[uuid.UUID, list[Part]] = {}
    for recording_id, text, snippet in rows.values_list("recording_id", "text", "snippet"):
        parts = split_marked(snippet)
        if any(part.mark for part in parts):
            found[recording_id] = _with_ellipses(parts, text)
    return found


# The window of text a snippet is looked for in first (PostgreSQL): characters before and in all.
WINDOW_BEFORE, WINDOW = 120, 320


def _locator(q: str) -> str:
    """What to look for in the lowercased text to place the window: the start of the first word
    of ``q`` (after a space). A last word is a prefix already; a whole word without its last two
    letters, an ending the stemming may drop ("abonnementen" is found as " abonnemente")."""
    words = _words(q)
    word = words[0].lower()
    return " " + (word if len(words) == 1 else word[: max(4, len(word) - 2)])


def _with_ellipses(parts: list[Part], text: str) -> list[Part]:
    """``…`` where the excerpt starts after the text's start or ends before its end (FTS5's
    snippet() writes them itself; ts_headline does not)."""
    plain = "".join(part.text for part in parts).strip()
    if not plain or plain.startswith(ELLIPSIS) or plain.endswith(ELLIPSIS):
        return parts
    cleaned = text.replace(START, "").replace(STOP, "").strip()
    lead = [Part(f"{ELLIPSIS} ", False)] if not cleaned.startswith(plain) else []
    tail = [Part(f" {ELLIPSIS}", False)] if not cleaned.endswith(plain) else []
    return [*lead, *parts, *tail]


def split_marked(snippet: str) -> list[Part]:
    """``snippet`` with :data:`START`/:data:`STOP` around matches, as parts (stray marks dropped)."""
    parts: list[Part] = []
    for piece in re.split(f"({START}[^{START}{STOP}]*{STOP})", snippet):
        marked = piece.startswith(START) and piece.endswith(STOP) and len(piece) >= 2
        text = piece.replace(START, "").replace(STOP, "")
        if text:
            parts.append(Part(text, marked))
    return parts
