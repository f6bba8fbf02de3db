"""Search in what was said: snippets (marked, escaped, logged like reading), who may see them,
the API detail's transcript, Manage → Transcripts, and the PostgreSQL index the search uses.

Runs on SQLite (FTS5) and, with ``DATABASE_URL`` of scripts/services.sh, on PostgreSQL (the
stored vectors and their GIN index)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from recordings.models import Label, PlaybackAccess, Recording
from recordings.transcripts import search, service
from recordings.transcripts.models import Transcript
from tenants.audit import AuditEntry
from tenants.audit.readable import readable
from tenants.models import Tenant
from tenants.register import get_register
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for
from tests.api.test_schema_and_docs import load_schema
from tests.base import Personas
from tests.factories import make_recording

pytestmark = pytest.mark.django_db

SAID = (
    "Goedemiddag. Mijn abonnement wil ik opzeggen om de zoemtoon van R&D <script>alert(1)</script> op de lijn"
)


def _with_transcript(owner: Any, text: str, **extra: Any) -> Recording:
    recording = make_recording(owner, seconds=10, **extra)
    with tenant_scope(recording.tenant_id):
        Transcript.objects.create(
            tenant_id=recording.tenant_id, recording=recording, language="nl", model_name="m",
            text=text, segments=[[0, 5000, text]],
        )  # fmt: skip
    return recording


def _search(client: Client, q: str) -> dict[str, Any]:
    response = client.get(reverse("api:recordings"), {"q": q})
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def _text_reads(tenant: Tenant, **filters: Any) -> list[PlaybackAccess]:
    with tenant_scope(tenant):
        return list(PlaybackAccess.objects.filter(via=PlaybackAccess.Via.TRANSCRIPT, **filters))


def test_the_api_search_shows_where_the_words_were_said_marked_and_escaped(personas: Personas) -> None:
    owner = personas.users["always"]
    said = _with_transcript(owner, SAID)
    labelled = make_recording(owner, seconds=10)
    with tenant_scope(personas.tenant_a):
        Label.objects.create(tenant=personas.tenant_a, recording=labelled, name="zoemtoon-klacht")
    rows = _search(client_for(owner), "zoemtoon")
    assert set(rows) == {str(said.pk), str(labelled.pk)}
    snippet = rows[str(said.pk)]["snippet"]
    assert "<mark>zoemtoon</mark>" in snippet
    # The transcript's text is escaped (PostgreSQL's headline drops what looks like a tag).
    assert "R&amp;D" in snippet and "<script>" not in snippet
    assert re.sub(r"</?mark>", "", snippet).count("<") == 0  # no other markup, no inline style
    assert rows[str(labelled.pk)]["snippet"] is None  # found by its label: nothing was said to show
    # Both words marked wherever they are (the row matched all of them).
    two = _search(client_for(owner), "abonnement zoemtoon")[str(said.pk)]["snippet"]
    assert "<mark>abonnement</mark>" in two and "<mark>zoemtoon</mark>" in two
    assert _search(client_for(owner), "")[str(said.pk)]["snippet"] is None  # no search, no snippet


def test_a_snippet_shown_is_logged_like_reading_the_transcript_once_per_window(personas: Personas) -> None:
    owner = personas.users["always"]
    said = _with_transcript(owner, SAID)
    _with_transcript(owner, "Een vraag over de factuur.")
    client = client_for(owner)
    _search(client, "factuur zoemtoon")  # matches neither fully: nothing shown, nothing logged
    assert _text_reads(personas.tenant_a) == []
    _search(client, "zoemtoon")
    [access] = _text_reads(personas.tenant_a)
    assert (access.recording_id, access.user_id) == (said.pk, owner.pk)
    with tenant_scope(personas.tenant_a):
        [entry] = AuditEntry.objects.filter(action="recording.transcript_snippets_read")
    assert entry.actor_id == owner.pk
    assert entry.detail == {"recordings": 1, "accesses": [access.pk]}
    _search(client, "opzeg")  # shown again soon after (the live list's poll): no second row
    assert len(_text_reads(personas.tenant_a)) == 1
    with tenant_scope(personas.tenant_a):
        PlaybackAccess.objects.filter(pk=access.pk).update(at=timezone.now() - timedelta(minutes=11))
    _search(client, "opzeg")
    assert len(_text_reads(personas.tenant_a)) == 2


def test_snippets_only_for_who_may_hear_the_recording(personas: Personas) -> None:
    member, colleague = personas.users["always"], personas.outsider
    standard = _with_transcript(member, "De zoemtoon blijft maar doorgaan.")
    playback_user = personas.playback["days_30"]
    private = _with_transcript(playback_user, "Ook hier een zoemtoon, privé.")
    other_tenant = _with_transcript(personas.charlie, "Zoemtoon bij Globex.")
    assert set(_search(client_for(member), "zoemtoon")) == {str(standard.pk)}
    assert set(_search(client_for(playback_user), "zoemtoon")) == {str(private.pk)}
    assert _search(client_for(colleague), "zoemtoon") == {}  # not in the team: not theirs to hear
    listened = _search(client_for(personas.listener), "zoemtoon")  # a listener of the member's team
    assert set(listened) == {str(standard.pk)}
    assert "<mark>" in listened[str(standard.pk)]["snippet"]
    # Nothing of the others was read: the access log holds the owners' and the listener's reads only.
    assert {a.recording_id for a in _text_reads(personas.tenant_a)} == {standard.pk, private.pk}
    assert _text_reads(personas.tenant_b) == []
    assert other_tenant.pk not in {a.recording_id for a in _text_reads(personas.tenant_a)}
    assert set(_search(client_for(personas.charlie), "zoemtoon")) == {str(other_tenant.pk)}  # their own
    # The portal's home list: the same rule, the snippet in the row.
    page = Client()
    page.force_login(personas.listener)
    html = page.get("/", {"q": "zoemtoon"}).content.decode()
    assert (
        "<mark>zoemtoon</mark>" in html.lower() and str(standard.pk) in html and str(private.pk) not in html
    )


def test_the_home_list_shows_snippets_escaped_in_the_row(personas: Personas) -> None:
    owner = personas.users["always"]
    said = _with_transcript(owner, SAID)
    page = Client()
    page.force_login(owner)
    html = page.get("/", {"q": "ZOEMTOON"}).content.decode()
    assert str(said.pk) in html
    [snippet] = re.findall(r'<p class="snippet">(.*?)</p>', html, re.S)
    assert "<mark>zoemtoon</mark>" in snippet
    assert "R&amp;D" in snippet and "<script>" not in snippet
    assert "style=" not in snippet
    assert len(_text_reads(personas.tenant_a)) == 1
    assert "snippet" not in page.get("/").content.decode()  # without a search: no snippet


def test_the_api_detail_carries_the_transcript_and_logs_reading_it(personas: Personas) -> None:
    owner = personas.users["always"]
    said = _with_transcript(owner, "Mijn rekening is [IBAN].")
    bare = make_recording(owner, seconds=5)
    client = client_for(owner)
    detail = client.get(reverse("api:recording", args=[said.pk])).json()
    assert detail["transcript"] == {
        "recording": str(said.pk),
        "status": "ready",
        "language": "nl",
        "segments": [{"start_ms": 0, "end_ms": 5000, "text": "Mijn rekening is [IBAN]."}],
    }
    assert detail["peaks"] == list(said.peaks)  # the rest of the detail is unchanged
    [access] = _text_reads(personas.tenant_a)
    assert (access.recording_id, access.user_id) == (said.pk, owner.pk)
    with tenant_scope(personas.tenant_a):
        assert (
            AuditEntry.objects.filter(action="recording.transcript_read", target_id=str(said.pk)).count() == 1
        )
    none = client.get(reverse("api:recording", args=[bare.pk])).json()["transcript"]
    assert none == {"recording": str(bare.pk), "status": "none", "language": None, "segments": []}
    assert len(_text_reads(personas.tenant_a)) == 1  # nothing to read, nothing logged
    assert client_for(personas.outsider).get(reverse("api:recording", args=[said.pk])).status_code == 404
    assert len(_text_reads(personas.tenant_a)) == 1


def test_the_schema_documents_the_detail_transcript_and_the_snippet() -> None:
    schema = load_schema(Client())
    components = schema["components"]["schemas"]
    detail = schema["paths"]["/api/v1/recordings/{recording_id}"]["get"]["responses"]["200"]
    ref = detail["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "transcript" in components[ref]["properties"]
    assert components["RecordingSearchRow"]["properties"]["snippet"]["nullable"] is True


def _manage(personas: Personas) -> Client:
    client = Client()
    client.force_login(personas.admin)
    return client


def test_the_admin_switches_transcripts_on_with_a_purpose_and_chooses_redaction(personas: Personas) -> None:
    client = _manage(personas)
    url = reverse("manage_transcripts")
    page = client.get(url)
    assert page.status_code == 200
    refused = client.post(url, {"transcription_enabled": "on", "transcription_purpose": "  "})
    assert refused.status_code == 400  # no purpose: nothing changes
    assert "transcription_purpose" in refused.context["form"].errors
    tenant = Tenant.objects.get(pk=personas.tenant_a.pk)
    assert not tenant.transcription_enabled
    with tenant_scope(tenant):
        assert not AuditEntry.objects.filter(action__startswith="transcripts.").exists()
    saved = client.post(
        url,
        {"transcription_enabled": "on", "transcription_purpose": "Kwaliteit", "redact_phone_numbers": "on"},
    )
    assert saved.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.transcription_enabled, tenant.redact_phone_numbers, tenant.redact_email_addresses) == (
        True,
        True,
        False,
    )
    assert get_register(tenant).transcription_purpose == "Kwaliteit"
    assert service.policy_of(tenant).phone_numbers  # what the next transcript redacts
    with tenant_scope(tenant):
        actions = list(AuditEntry.objects.order_by("seq").values_list("action", "actor_id", "detail"))
    assert ("transcripts.enable", personas.admin.pk, {"purpose": "Kwaliteit"}) in actions
    assert ("transcripts.redaction", personas.admin.pk, {"redact_phone_numbers": "on"}) in actions
    # The purpose alone changed: the register's change is audited; then switched off.
    client.post(url, {"transcription_enabled": "on", "transcription_purpose": "Kwaliteit en training"})
    client.post(url, {"transcription_purpose": "Kwaliteit en training"})
    tenant.refresh_from_db()
    assert not tenant.transcription_enabled and not tenant.redact_phone_numbers
    with tenant_scope(tenant):
        codes = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert codes[-3:] == ["privacy.register.change", "transcripts.redaction", "transcripts.disable"]
    too_long = client.post(url, {"transcription_enabled": "on", "transcription_purpose": "x" * 2001})
    assert too_long.status_code == 400
    tenant.refresh_from_db()
    assert not tenant.transcription_enabled


def test_the_transcript_settings_page_is_the_admins_only(personas: Personas) -> None:
    url = reverse("manage_transcripts")
    for user in (personas.listener, personas.users["always"]):
        client = Client()
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert (
            client.post(url, {"transcription_enabled": "on", "transcription_purpose": "x"}).status_code == 403
        )
    assert not Tenant.objects.get(pk=personas.tenant_a.pk).transcription_enabled


def _mute_entries(tenant: Tenant) -> list[AuditEntry]:
    with tenant_scope(tenant):
        return list(AuditEntry.objects.filter(action__startswith="transcripts.mute_audio").order_by("seq"))


def test_the_admin_switches_silencing_of_redacted_words_in_the_audio(personas: Personas) -> None:
    p = personas
    client = _manage(p)
    url = reverse("manage_transcripts")
    page = client.get(url).content.decode()  # Alice works in Dutch
    assert 'name="mute_redacted_audio"' in page
    assert "Onleesbaar gemaakte woorden ook in de audio dempen" in page
    assert "De oorspronkelijke audio wordt verwijderd en is niet terug te halen." in page
    english = Client()
    english.force_login(p.charlie)  # tenant B works in English
    page = english.get(url).content.decode()
    assert "Also silence the redacted words in the audio" in page
    assert "The original audio is removed; it cannot be restored." in page

    tenant = Tenant.objects.get(pk=p.tenant_a.pk)
    assert not tenant.mute_redacted_audio  # off by default
    on = {"transcription_enabled": "on", "transcription_purpose": "Kwaliteit", "mute_redacted_audio": "on"}
    assert client.post(url, on).status_code == 302
    tenant.refresh_from_db()
    assert (tenant.transcription_enabled, tenant.mute_redacted_audio, tenant.redact_phone_numbers) == (
        True,
        True,
        False,
    )
    assert client.post(url, on).status_code == 302  # saved again unchanged: no second entry
    assert client.post(url, {**on, "mute_redacted_audio": ""}).status_code == 302
    tenant.refresh_from_db()
    assert not tenant.mute_redacted_audio and tenant.transcription_enabled
    entries = _mute_entries(tenant)
    assert [(e.action, e.actor_id) for e in entries] == [
        ("transcripts.mute_audio_on", p.admin.pk),
        ("transcripts.mute_audio_off", p.admin.pk),
    ]
    for language, expected in (
        ("nl", ["heeft het dempen van onleesbaar gemaakte woorden in de audio aangezet",
                "heeft het dempen van onleesbaar gemaakte woorden in de audio uitgezet"]),
        ("en", ["switched on silencing the redacted words in the audio",
                "switched off silencing the redacted words in the audio"]),
    ):  # fmt: skip
        with translation.override(language):
            sentences = [r.sentence for r in readable(tenant.pk, entries)]
        assert all(want in got for want, got in zip(expected, sentences, strict=True)), sentences

    # Bad input elsewhere in the form: nothing of it is applied, muting included.
    refused = client.post(url, {**on, "transcription_purpose": "x" * 2001})
    assert refused.status_code == 400
    tenant.refresh_from_db()
    assert not tenant.mute_redacted_audio
    b = Tenant.objects.get(pk=p.tenant_b.pk)  # no purpose in its register yet
    no_purpose = english.post(
        url, {"transcription_enabled": "on", "transcription_purpose": " ", "mute_redacted_audio": "on"}
    )
    assert no_purpose.status_code == 400
    b.refresh_from_db()
    assert not b.transcription_enabled and not b.mute_redacted_audio
    assert _mute_entries(b) == []
    # Charlie's page is his tenant's: switching it there leaves tenant A as it was.
    assert english.post(url, {"mute_redacted_audio": "on"}).status_code == 302
    b.refresh_from_db()
    tenant.refresh_from_db()
    assert b.mute_redacted_audio and not tenant.mute_redacted_audio
    assert [e.actor_id for e in _mute_entries(b)] == [p.charlie.pk]
    assert len(_mute_entries(tenant)) == 2


def test_only_the_admin_switches_silencing(personas: Personas) -> None:
    url = reverse("manage_transcripts")
    for user in (personas.listener, personas.users["always"], personas.playback["days_30"]):
        client = Client()
        client.force_login(user)
        assert client.post(url, {"mute_redacted_audio": "on"}).status_code == 403
    assert not Tenant.objects.get(pk=personas.tenant_a.pk).mute_redacted_audio
    assert _mute_entries(personas.tenant_a) == []


def test_split_marked_keeps_the_text_and_drops_stray_marks() -> None:
    parts = search.split_marked("a \x02b\x03 c\x03 d \x02e")
    assert [(p.text, p.mark) for p in parts] == [("a ", False), ("b", True), (" c d e", False)]


VECTOR = "SELECT search_vector::text FROM recordings_transcript WHERE recording_id = %s"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's vectors and GIN index")
def test_postgresql_search_uses_the_gin_index_and_follows_the_tenants_language(personas: Personas) -> None:
    owner = personas.users["always"]
    said = _with_transcript(owner, "Wij hebben de abonnementen opgezegd.")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_vector::text FROM recordings_transcript WHERE recording_id = %s", [said.pk]
        )
        assert "'abonnement'" in cursor.fetchone()[0]  # Dutch stemming (the tenant's language)
        cursor.execute("SET enable_seqscan = off")  # a test table is tiny: ask for the index's plan
        cursor.execute(
            "EXPLAIN SELECT recording_id FROM recordings_transcript "
            "WHERE search_vector @@ to_tsquery('dutch'::regconfig, 'abonnementen:*')"
        )
        assert "recordings_transcript_search" in "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert set(_search(client_for(owner), "abonnement")) == {str(said.pk)}  # stem of the plural
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(language="en")  # the trigger re-derives
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_vector::text FROM recordings_transcript WHERE recording_id = %s", [said.pk]
        )
        assert "'abonnementen'" in cursor.fetchone()[0]  # English stemming leaves the Dutch plural


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner choice")
def test_postgresql_common_and_rare_words_find_the_same_rows_either_way(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = personas.users["always"]
    rows = [_with_transcript(owner, f"Gesprek {n} over de zoemtoon.") for n in range(3)]
    found = {str(r.pk) for r in rows}
    assert set(_search(client_for(owner), "zoemtoon")) == found  # few: through the index (IN)
    monkeypatch.setattr(search, "COMMON_MATCHES", -1)  # as if the word were common: EXISTS per row
    assert set(_search(client_for(owner), "zoemtoon")) == found


def _marked(parts: list[search.Part]) -> list[str]:
    return [part.text.lower() for part in parts if part.mark]


def _plain(parts: list[search.Part]) -> str:
    return "".join(part.text for part in parts).strip(" …")


FILLER = " ".join(f"woord{n} en dan verder" for n in range(150))  # 3,000 characters, no search word


def test_a_word_said_late_in_a_long_call_is_marked_in_whole_words(personas: Personas) -> None:
    """PostgreSQL looks in a window of the text first; the snippet still marks the word however
    late it was said, and starts and ends on whole words of what was said."""
    owner = personas.users["always"]
    said = _with_transcript(owner, f"{FILLER} en toen wilde zij het abonnement opzeggen want {FILLER}")
    with tenant_scope(said.tenant_id):
        found = search.snippets("opzeggen", language="nl", recording_ids=[said.pk])
    parts = found[said.pk]
    assert _marked(parts) == ["opzeggen"]
    words = said.transcript.text.split()
    shown = _plain(parts).split()
    assert any(words[n : n + len(shown)] == shown for n in range(len(words))), shown  # whole words


def test_two_words_are_found_where_the_first_ones_start_is_first_seen_elsewhere(personas: Personas) -> None:
    """The window is placed where the start of the first word is first seen; "maandag" is not
    the word "maand", so the words are looked for in the whole text and still marked."""
    owner = personas.users["always"]
    said = _with_transcript(owner, f"Op maandag belde ik. {FILLER} De maand rekening klopt niet.")
    with tenant_scope(said.tenant_id):
        found = search.snippets("maand rekening", language="nl", recording_ids=[said.pk])
    assert set(_marked(found[said.pk])) == {"maand", "rekening"}


def test_only_the_last_word_of_a_search_is_a_prefix(personas: Personas) -> None:
    """As while typing: "zoemtoon lij" finds "zoemtoon ... lijn"; a word before the last is a
    whole word (on PostgreSQL, stemmed: "abonnementen" finds "abonnement")."""
    owner = personas.users["always"]
    said = _with_transcript(owner, SAID)
    client = client_for(owner)
    assert set(_search(client, "zoemtoon lij")) == {str(said.pk)}
    assert set(_search(client, "abonnement zoem")) == {str(said.pk)}
    if connection.vendor == "postgresql":
        assert set(_search(client, "abonnementen zoem")) == {str(said.pk)}  # the stem
        assert _search(client, "zoem lijn") == {}  # "zoem" is not a whole word of it
