"""Keyword alerts: the admin's list (bad input refused, audited, admin only, per tenant), the
matching (whole words, case and accents ignored), the automatic label put when a transcript is
stored (real speech through the telephony interface and the shipped Whisper model), and the home
list's filter, through the list's own visibility."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import translation

from recordings import alerts, social, tasks
from recordings.capture import calls as capture_calls
from recordings.capture import uploads as capture_uploads
from recordings.models import Call, KeywordAlert, Label, Recording
from recordings.simulator import sounds
from recordings.transcripts.models import Transcript
from tenants.audit import AuditEntry
from tenants.audit.readable import readable
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.recordings.rpi_support import Pbx

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


def _alert(folded: str) -> KeywordAlert:
    return KeywordAlert(phrase=folded, folded=folded)


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "found"),
    [
        ("Ik wil mijn abonnement opzeggen.", "opzeggen", True),
        ("OPZEGGEN, zei hij", "opzeggen", True),
        ("Ik heb een klácht over de factuur", "klacht", True),  # accents ignored
        ("Ik heb een klacht over de factuur", "Klácht", True),
        ("Ik wil een klacht indienen", "klacht indienen", True),  # a phrase
        ("Ik wil een klacht   over iets indienen", "klacht indienen", False),  # words in between
        ("De klachtenlijn is dicht", "klacht", False),  # compounds are not split
        ("Twee klachten", "klacht", False),  # whole words only
        ("Hij zei: klacht!", "klacht", True),  # punctuation separates words
        ("Mijn IBAN is [IBAN].", "iban", True),  # the redaction's tag is a word too
        ("", "klacht", False),
    ],
)
def test_matching_whole_words_ignoring_case_and_accents(text: str, phrase: str, found: bool) -> None:
    _, folded = alerts.clean_phrase(phrase)
    assert bool(alerts.matches(text, [_alert(folded)])) is found


def test_fold_and_words() -> None:
    assert alerts.fold("Één Klácht") == "een klacht"
    assert alerts.words("Opzeggen? Ja, op-zeggen.") == ["opzeggen", "ja", "op", "zeggen"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Write a word or a phrase."),
        ("   \n ", "Write a word or a phrase."),
        ("x" * 41, "A keyword alert has at most 40 characters."),
        ("?!…", "A keyword alert needs at least one letter or digit."),
        ("ß" * 25, "A keyword alert has at most 40 characters."),  # folds to 50 letters
    ],
)
def test_bad_phrases_are_refused_with_a_clear_message(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        alerts.clean_phrase(raw)
    assert caught.value.message_dict == {"phrase": [message]}


def test_a_phrase_of_forty_characters_with_spaces_folded_is_accepted() -> None:
    assert alerts.clean_phrase("  klacht   " + "x" * 33 + " ") == ("klacht " + "x" * 33, "klacht " + "x" * 33)


# --- the admin's list --------------------------------------------------------------------------


def test_admin_adds_and_removes_alerts_audited(personas: Personas) -> None:
    p = personas
    alert = alerts.add_alert(tenant=p.tenant_a, phrase=" Klacht  indienen ", acting_user=p.admin)
    assert (alert.phrase, alert.folded) == ("Klacht indienen", "klacht indienen")
    alerts.remove_alert(alert=alert, acting_user=p.admin)
    with tenant_scope(p.tenant_a):
        assert not KeywordAlert.objects.exists()
        entries = list(AuditEntry.objects.filter(action__startswith="manage.keyword_alert.").order_by("seq"))
    assert [(e.action, e.actor_id, e.detail["phrase"]) for e in entries] == [
        ("manage.keyword_alert.create", p.admin.pk, "Klacht indienen"),
        ("manage.keyword_alert.delete", p.admin.pk, "Klacht indienen"),
    ]
    for language, expected in (
        ("nl", "heeft de trefwoordmelding “Klacht indienen” toegevoegd"),
        ("en", "added the keyword alert “Klacht indienen”"),
    ):
        with translation.override(language):
            sentences = [r.sentence for r in readable(p.tenant_a.pk, entries)]
        assert expected in sentences[0], sentences


def test_duplicates_in_any_case_or_accents_are_refused_nothing_added(personas: Personas) -> None:
    p = personas
    alerts.add_alert(tenant=p.tenant_a, phrase="klacht", acting_user=p.admin)
    for again in ("klacht", "KLACHT", "klácht", " klacht "):
        with pytest.raises(ValidationError) as caught:
            alerts.add_alert(tenant=p.tenant_a, phrase=again, acting_user=p.admin)
        assert caught.value.message_dict == {"phrase": ["“klacht” is already on the list."]}
    with tenant_scope(p.tenant_a):
        assert KeywordAlert.objects.count() == 1
        assert AuditEntry.objects.filter(action="manage.keyword_alert.create").count() == 1
    # Another tenant's list is its own.
    alerts.add_alert(tenant=p.tenant_b, phrase="klacht", acting_user=p.charlie)


def test_the_list_has_a_limit(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts, "ALERTS_MAX", 2)
    alerts.add_alert(tenant=personas.tenant_a, phrase="een", acting_user=personas.admin)
    alerts.add_alert(tenant=personas.tenant_a, phrase="twee", acting_user=personas.admin)
    with pytest.raises(ValidationError, match="at most 2 keyword alerts"):
        alerts.add_alert(tenant=personas.tenant_a, phrase="drie", acting_user=personas.admin)


def test_only_the_tenants_admin_manages_alerts(personas: Personas) -> None:
    p = personas
    for person in (p.listener, p.users["always"], p.playback["days_30"], p.charlie):
        with pytest.raises(PermissionDenied):
            alerts.add_alert(tenant=p.tenant_a, phrase="klacht", acting_user=person)
    alert = alerts.add_alert(tenant=p.tenant_a, phrase="klacht", acting_user=p.admin)
    for person in (p.listener, p.charlie):
        with pytest.raises(PermissionDenied):
            alerts.remove_alert(alert=alert, acting_user=person)
    with tenant_scope(p.tenant_a):
        assert KeywordAlert.objects.filter(pk=alert.pk).exists()


def test_the_page_refuses_bad_input_and_lists_the_alerts(personas: Personas) -> None:
    p = personas
    client = Client()
    client.force_login(p.admin)
    url = reverse("manage_keyword_alerts")
    for data, message in (
        ({"phrase": ""}, "Vul een woord of een woordgroep in."),
        ({"phrase": "y" * 41}, "Een trefwoordmelding heeft hoogstens 40 tekens."),
    ):  # the admin's language: Dutch
        response = client.post(url, data)
        assert response.status_code == 400
        assert message in response.content.decode()
    assert client.post(url, {"phrase": "Opzeggen"}).status_code == 302
    response = client.post(url, {"phrase": "opzéggen"})
    assert response.status_code == 400
    assert "“Opzeggen” staat al in de lijst." in response.content.decode()
    page = client.get(url).content.decode()
    assert "Opzeggen" in page
    with tenant_scope(p.tenant_a):
        alert = KeywordAlert.objects.get()
    # Tenant B's admin: not their alert (404, nothing removed), and their own list is empty.
    charlie = Client()
    charlie.force_login(p.charlie)
    assert charlie.post(reverse("manage_keyword_alert_remove", args=[alert.pk])).status_code == 404
    assert "Opzeggen" not in charlie.get(url).content.decode()
    assert client.post(reverse("manage_keyword_alert_remove", args=[alert.pk])).status_code == 302
    with tenant_scope(p.tenant_a):
        assert not KeywordAlert.objects.exists()


# --- the automatic label and the filter ---------------------------------------------------------


def _home(client: Client, **params: str) -> str:
    return client.get(reverse("home"), params).content.decode()


def test_apply_alerts_labels_and_the_filter_follows_visibility(personas: Personas) -> None:
    p = personas
    alerts.add_alert(tenant=p.tenant_a, phrase="opzeggen", acting_user=p.admin)
    alerts.add_alert(tenant=p.tenant_a, phrase="klacht", acting_user=p.admin)
    alerts.add_alert(tenant=p.tenant_b, phrase="factuur", acting_user=p.charlie)  # B's: not applied in A
    member = make_recording(p.users["always"], remote_number="+31611110001")
    quiet = make_recording(p.users["always"], remote_number="+31611110002")
    manual = make_recording(p.users["always"], remote_number="+31611110003")
    own_playback = make_recording(p.playback["days_30"], kind="playback", remote_number="+31611110004")
    with tenant_scope(p.tenant_a):
        added = alerts.apply_alerts(
            recording=member, text="Ik wil opzeggen. Over de factuur heb ik een KLACHT."
        )
        assert sorted(label.name for label in added) == ["klacht", "opzeggen"]
        assert all(label.automatic and label.created_by_id is None for label in added)
        assert alerts.apply_alerts(recording=quiet, text="Goedemiddag, waarmee kan ik helpen?") == []
        alerts.apply_alerts(recording=own_playback, text="ik wil opzeggen")
    # A label a person put with the alert's name stays theirs (no automatic copy beside it).
    social.add_label(recording=manual, name="Opzeggen", acting_user=p.users["always"])
    with tenant_scope(p.tenant_a):
        assert alerts.apply_alerts(recording=manual, text="opzeggen") == []
        assert list(Label.objects.filter(recording=manual).values_list("name", "automatic")) == [
            ("Opzeggen", False)
        ]

    listener = Client()
    listener.force_login(p.listener)
    page = _home(listener, alert="yes")
    assert str(member.pk) in page
    assert str(quiet.pk) not in page and str(manual.pk) not in page
    assert str(own_playback.pk) not in page  # a Playback user's recording: not the listener's to hear
    assert str(quiet.pk) in _home(listener)  # without the filter: all of them
    owner = Client()
    owner.force_login(p.playback["days_30"])
    assert str(own_playback.pk) in _home(owner, alert="yes")
    assert str(member.pk) not in _home(owner, alert="yes")
    charlie = Client()
    charlie.force_login(p.charlie)
    assert str(member.pk) not in _home(charlie, alert="yes")


# --- real speech -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub


def test_spoken_words_give_an_automatic_label_when_the_transcript_is_stored(
    pbx: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = personas
    Tenant.objects.filter(pk=p.tenant_a.pk).update(transcription_enabled=True)
    alerts.add_alert(tenant=p.tenant_a, phrase="Customer Service", acting_user=p.admin)
    alerts.add_alert(tenant=p.tenant_a, phrase="servic", acting_user=p.admin)  # not a whole word
    alerts.add_alert(tenant=p.tenant_a, phrase="invoice", acting_user=p.admin)  # not said
    bank = sounds.AudioBank()
    assert bank.speech, "espeak-ng is needed (make sysdeps)"
    pcm = bank.clips[len(sounds.SENTENCES["nl"])]  # "Good afternoon, you are speaking with customer service…"
    body, _ = sounds.encode(pcm, "wav16")
    for module in (capture_calls, capture_uploads):
        monkeypatch.setattr(module, "_enqueue_processing", lambda call: None)
    started = pbx.start(p.users["always"].pbx_id)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + 6 * S)
    assert pbx.audio(call_id, body).status_code == 201
    with tenant_scope(p.tenant_a):
        call = Call.objects.get(pbx_call_id=call_id)
    with TestCase.captureOnCommitCallbacks(execute=True):  # processing, then the transcription task
        assert tasks.process_call.apply(args=[str(call.tenant_id), str(call.id)]).get() == "recorded"
    with tenant_scope(p.tenant_a):
        recording = Recording.objects.get(call=call)
        assert "customer service" in Transcript.objects.get(recording=recording).text.lower()
        labels = list(Label.objects.filter(recording=recording).values_list("name", "automatic"))
    assert labels == [("Customer Service", True)]
    # Changing the list later does not go back over stored transcripts.
    alerts.add_alert(tenant=p.tenant_a, phrase="afternoon", acting_user=p.admin)
    with tenant_scope(p.tenant_a):
        assert Label.objects.filter(recording=recording).count() == 1
    listener = Client()
    listener.force_login(p.listener)
    assert str(recording.pk) in _home(listener, alert="yes")
    player = listener.get(reverse("player", args=[recording.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "(trefwoordmelding)" in player  # the listener's language: Dutch


def test_the_demo_tenant_has_keyword_alerts_and_a_second_run_keeps_them() -> None:
    for _run in range(2):
        call_command("demo", "--tenant", "alerting-demo", "--json", stdout=io.StringIO())
    tenant = Tenant.objects.get(slug="alerting-demo")
    with tenant_scope(tenant):
        assert sorted(KeywordAlert.objects.values_list("folded", flat=True)) == sorted(
            ["invoice", "factuur", "opzeggen", "klacht"]
        )
