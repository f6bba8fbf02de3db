"""PostgreSQL: a stored ``tsvector`` of each transcript's text with a GIN index, for
``recordings.transcripts.search``. SQLite keeps its FTS5 index (0016): nothing to do there.

The vector is kept by triggers, whatever writes the row (the service, a bulk load, a restore):
``to_tsvector`` with the configuration of the tenant's language (``dutch``, ``english``; ``simple``
for any other), the configuration the search's query uses. A tenant whose language changes gets
its transcripts' vectors rebuilt in the same transaction (rare; one UPDATE of that tenant's rows).

A stored column rather than an expression index: the search's plans check a candidate row's
vector one by one (newest first, for a common word) as well as through the index (for a rare
one); with an expression index each such check would compute ``to_tsvector`` of the whole text
again. EXPLAIN ANALYZE of both in bench/bench_transcript_search.py.
"""

from typing import Any

from django.db import migrations

# The configuration of the tenant's language (recordings.transcripts.search.CONFIG), as SQL.
CONFIG = "CASE t.language WHEN 'nl' THEN 'dutch' WHEN 'en' THEN 'english' ELSE 'simple' END"
CREATE = [
    "ALTER TABLE recordings_transcript ADD COLUMN search_vector tsvector",
    "CREATE FUNCTION recordings_transcript_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
    f"BEGIN NEW.search_vector := to_tsvector((SELECT {CONFIG} FROM tenants_tenant t "
    "WHERE t.id = NEW.tenant_id)::regconfig, NEW.text); RETURN NEW; END $$",
    "CREATE TRIGGER recordings_transcript_search_vector BEFORE INSERT OR UPDATE OF text, tenant_id "
    "ON recordings_transcript FOR EACH ROW EXECUTE FUNCTION recordings_transcript_search_vector()",
    "CREATE FUNCTION recordings_tenant_language_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
    f"BEGIN UPDATE recordings_transcript SET search_vector = to_tsvector(({CONFIG})::regconfig, text) "
    "FROM tenants_tenant t WHERE t.id = NEW.id AND tenant_id = NEW.id; RETURN NULL; END $$",
    "CREATE TRIGGER recordings_tenant_language_search_vector AFTER UPDATE OF language ON tenants_tenant "
    "FOR EACH ROW WHEN (OLD.language IS DISTINCT FROM NEW.language) "
    "EXECUTE FUNCTION recordings_tenant_language_search_vector()",
    f"UPDATE recordings_transcript SET search_vector = to_tsvector(({CONFIG})::regconfig, text) "  # noqa: S608
    "FROM tenants_tenant t WHERE t.id = recordings_transcript.tenant_id",
    "CREATE INDEX recordings_transcript_search ON recordings_transcript USING gin (search_vector)",
]
DROP = [
    "DROP TRIGGER IF EXISTS recordings_tenant_language_search_vector ON tenants_tenant",
    "DROP FUNCTION IF EXISTS recordings_tenant_language_search_vector()",
    "DROP TRIGGER IF EXISTS recordings_transcript_search_vector ON recordings_transcript",
    "DROP FUNCTION IF EXISTS recordings_transcript_search_vector()",
    "DROP INDEX IF EXISTS recordings_transcript_search",
    "ALTER TABLE recordings_transcript DROP COLUMN IF EXISTS search_vector",
]


def _run(statements: list[str]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("recordings", "0021_unanswered_playbacks_index")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
