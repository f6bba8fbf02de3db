"""The one audit log page (Manage → Audit log): the tenant's own entries, filtered, paged by
position; the former privacy page redirects to it."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants import views
from tenants.audit import AuditEntry, log_event
from tests.base import Personas


def _actions(response: object) -> list[str]:
    return [row.entry.action for row in response.context["entries"]]  # type: ignore[attr-defined]


def test_admin_reads_and_filters_the_own_log(client: Client, personas: Personas) -> None:
    log_event(
        tenant=personas.tenant_a, actor=personas.listener, action="recording.played", target=personas.sales
    )
    log_event(tenant=personas.tenant_a, actor=personas.admin, action="manage.user.create")
    log_event(tenant=personas.tenant_b, actor=personas.charlie, action="recording.played")
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    everything = client.get(url)
    assert {"recording.played", "manage.user.create"} <= set(_actions(everything))
    assert all(row.entry.tenant_id == personas.tenant_a.pk for row in everything.context["entries"])
    listening = client.get(url, {"kind": "listening"}).context["entries"]
    assert [row.entry.actor_label for row in listening] == ["lisa"]
    assert _actions(client.get(url, {"person": str(personas.admin.pk), "kind": "people"})) == [
        "manage.user.create"
    ]
    later = client.get(url, {"since": "2999-01-01"})
    assert _actions(later) == []
    assert "No entries match these filters." in later.content.decode() or "Geen regels" in (
        later.content.decode()
    )
    assert _actions(client.get(url, {"until": "2999-01-01"})) == _actions(everything)


def test_a_malformed_filter_is_an_error_and_filters_nothing(client: Client, personas: Personas) -> None:
    log_event(tenant=personas.tenant_a, actor=personas.admin, action="manage.user.create")
    log_event(tenant=personas.tenant_a, actor=personas.listener, action="recording.played")
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    everything = _actions(client.get(url))
    # a valid kind filter next to a bad date: not applied half (the whole list, and the error)
    response = client.get(url, {"kind": "people", "since": "yesterday"})
    assert response.status_code == 200
    assert "since" in response.context["form"].errors
    assert not response.context["filtered"]
    assert _actions(response) == everything
    backwards = client.get(url, {"since": "2026-02-01", "until": "2026-01-01"})
    assert backwards.context["form"].non_field_errors()
    assert _actions(backwards) == everything


def test_older_pages_keep_the_filters(client: Client, personas: Personas, monkeypatch: object) -> None:
    monkeypatch.setattr(views, "AUDIT_PAGE", 2)  # type: ignore[attr-defined]
    for n in range(5):
        log_event(
            tenant=personas.tenant_a, actor=personas.admin, action="manage.team.update", detail={"n": n}
        )
    log_event(tenant=personas.tenant_a, actor=personas.admin, action="manage.user.create")
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    seen, response = [], client.get(url, {"kind": "teams"})
    while True:
        seen += [row.entry.detail["n"] for row in response.context["entries"]]
        older = response.context["older_url"]
        if not older:
            break
        assert "kind=teams" in older
        response = client.get(url + older)
    assert seen == list(reversed(range(5)))


def test_the_former_privacy_page_redirects_with_its_filters(client: Client, personas: Personas) -> None:
    client.force_login(personas.admin)
    response = client.get(reverse("privacy:audit_log"), {"actor": "lisa", "page": "3"})
    assert response.status_code == 302
    assert response["Location"] == reverse("manage_audit") + "?actor=lisa"
    assert client.get(reverse("privacy:audit_log"))["Location"] == reverse("manage_audit")


def test_dates_are_whole_days_in_the_tenants_zone(client: Client, personas: Personas) -> None:
    log_event(tenant=personas.tenant_a, actor=personas.admin, action="manage.user.create")
    entry = AuditEntry.objects.unscoped().filter(tenant=personas.tenant_a).latest("id")
    day = timezone.localtime(entry.created_at).date()
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    today = {"since": day.isoformat(), "until": day.isoformat()}
    assert "manage.user.create" in _actions(client.get(url, today))
    earlier = {"until": (day - dt.timedelta(days=1)).isoformat()}
    assert "manage.user.create" not in _actions(client.get(url, earlier))
