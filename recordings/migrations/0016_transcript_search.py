"""The SQLite FTS5 index of transcript text (recordings.transcripts.search), kept by triggers.
PostgreSQL searches with its own full-text functions: nothing to do there."""

from typing import Any

from django.db import migrations

CREATE = [
    "CREATE VIRTUAL TABLE recordings_transcript_fts USING fts5(transcript_id UNINDEXED, text, tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER recordings_transcript_fts_insert AFTER INSERT ON recordings_transcript BEGIN "
    "INSERT INTO recordings_transcript_fts(transcript_id, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER recordings_transcript_fts_delete AFTER DELETE ON recordings_transcript BEGIN "
    "DELETE FROM recordings_transcript_fts WHERE transcript_id = old.id; END",
    "CREATE TRIGGER recordings_transcript_fts_update AFTER UPDATE OF text ON recordings_transcript BEGIN "
    "UPDATE recordings_transcript_fts SET text = new.text WHERE transcript_id = new.id; END",
    "INSERT INTO recordings_transcript_fts(transcript_id, text) SELECT id, text FROM recordings_transcript",
]
DROP = [
    "DROP TRIGGER IF EXISTS recordings_transcript_fts_insert",
    "DROP TRIGGER IF EXISTS recordings_transcript_fts_delete",
    "DROP TRIGGER IF EXISTS recordings_transcript_fts_update",
    "DROP TABLE IF EXISTS recordings_transcript_fts",
]


def _run(statements: list[str]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("recordings", "0015_transcript_reads_in_access_log")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
