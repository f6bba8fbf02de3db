"""A Playback user's call over the telephony interface, to the prompt in the outbox and back."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse

from notifications.models import OutboxMessage, PushPrompt
from notifications.services import register_device
from recordings import rules
from recordings.models import Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.recordings.rpi_support import Pbx, opus_bytes, stored_keys

S = timedelta(seconds=1)


def call(pbx: Pbx, pbx_id: str, number: str) -> dict:
    started = pbx.start(pbx_id, remote_number=number)
    call_id = started.sent["call_id"]
    if started.json()["record"]:
        assert pbx.audio(call_id, opus_bytes(3.0), content_type="audio/ogg").status_code == 201
    assert pbx.end(call_id, started.started + 3 * S).status_code == 202
    return pbx.get(call_id).json()


def test_call_prompt_outbox_keep(pbx: Pbx, personas: Personas) -> None:
    user = personas.playback["days_30"]
    register_device(user=user, token="demo-phone", platform="web")
    rules.add_rule(user=user, list_type="blacklist", number="+31201111111")
    rules.add_rule(user=user, list_type="whitelist", number="+31202222222")

    blacklisted = call(pbx, user.pbx_id, "+31201111111")
    assert blacklisted["state"] == "discarded" and blacklisted["record"] is False

    whitelisted = call(pbx, user.pbx_id, "+31202222222")
    assert whitelisted["state"] == "recorded"
    unknown = call(pbx, user.pbx_id, "+31612345678")
    assert unknown["state"] == "recorded"

    with tenant_scope(personas.tenant_a):
        kept = Recording.objects.get(pk=whitelisted["recording"]["id"])
        assert kept.saved and kept.expires_at == kept.ended_at + timedelta(days=30)
        rec = Recording.objects.get(pk=unknown["recording"]["id"])
        assert not rec.saved and rec.expires_at == rec.ended_at + timedelta(days=3)
        prompt = PushPrompt.objects.get()  # only the unknown number is asked about
        assert prompt.recording_id == rec.pk and prompt.status == PushPrompt.Status.SENT
        assert OutboxMessage.objects.get().payload["data"]["recording_id"] == str(rec.pk)

    portal = Client()
    portal.force_login(user)
    page = portal.get(reverse("outbox")).content.decode()
    assert reverse("recording_delete", args=[rec.pk]) in page
    assert portal.post(reverse("recording_delete", args=[rec.pk])).status_code == 303
    assert pbx.get(unknown["call_id"]).json()["state"] == "deleted"
    assert stored_keys() == [kept.storage_key]
