from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tenants.audit import log_event
from tests.base import Personas


def test_admin_reads_and_filters_the_own_log(client: Client, personas: Personas) -> None:
    log_event(
        tenant=personas.tenant_a, actor=personas.listener, action="recording.play", target=personas.sales
    )
    log_event(tenant=personas.tenant_a, actor=personas.admin, action="user.create")
    log_event(tenant=personas.tenant_b, actor=personas.charlie, action="recording.play")
    client.force_login(personas.admin)
    url = reverse("privacy:audit_log")
    entries = list(client.get(url).context["page"])
    # (her own sign-in is in the log too: tenants.signins)
    assert {e.action for e in entries} == {"recording.play", "user.create", "auth.sign_in"}
    assert all(e.tenant_id == personas.tenant_a.pk for e in entries)
    assert [e.actor_label for e in client.get(url, {"action": "recording."}).context["page"]] == ["lisa"]
    assert [e.action for e in client.get(url, {"actor": "ALI"}).context["page"]] == [
        "auth.sign_in",
        "user.create",
    ]
    assert len(client.get(url, {"target": str(personas.sales.pk)}).context["page"]) == 1
    assert len(client.get(url, {"since": "2999-01-01"}).context["page"]) == 0
    assert len(client.get(url, {"until": "2999-01-01"}).context["page"]) == 3
    # A malformed filter is shown as a form error, not a crash.
    response = client.get(url, {"since": "yesterday"})
    assert response.status_code == 200
    assert "since" in response.context["form"].errors
