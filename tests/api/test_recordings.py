"""The home list (keyset pages, filters), a recording's detail and the listeners' team view."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from recordings.models import Kind
from tests.api.helpers import client_for, make_recording
from tests.api.test_auth import assert_error
from tests.base import Personas


def test_list_pages_through_everything_once_newest_first(personas: Personas) -> None:
    user = personas.users["always"]
    now = timezone.now()
    same_time = now - timedelta(hours=5)
    made = [make_recording(user, started_at=now - timedelta(minutes=n)) for n in range(5)]
    made += [make_recording(user, started_at=same_time) for _ in range(3)]  # ties on started_at
    client = client_for(user)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/recordings", params).json()
        seen += [row["id"] for row in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    expected = sorted(made, key=lambda r: (r.started_at, r.pk), reverse=True)
    assert seen == [str(r.pk) for r in expected]


def test_list_shows_only_what_the_user_may_hear(personas: Personas) -> None:
    mine = make_recording(personas.users["always"])
    colleague = make_recording(personas.users["on_demand"])
    outsider = make_recording(personas.outsider)
    deleted = make_recording(personas.users["always"], deleted_at=timezone.now())
    make_recording(personas.charlie)

    def ids(user: object) -> set[str]:
        return {row["id"] for row in client_for(user).get("/api/v1/recordings").json()["results"]}  # type: ignore[arg-type]

    assert ids(personas.users["always"]) == {str(mine.pk)}
    # The listener of Sales hears Sales members' standard recordings, not the outsider's.
    assert ids(personas.listener) == {str(mine.pk), str(colleague.pk)}
    assert str(outsider.pk) not in ids(personas.admin)
    assert str(deleted.pk) not in ids(personas.users["always"])
    assert ids(personas.charlie) != set()
    assert ids(personas.charlie).isdisjoint({str(mine.pk), str(colleague.pk), str(outsider.pk)})


def test_list_filters(personas: Personas) -> None:
    user = personas.playback["days_30"]
    now = timezone.now()
    kept = make_recording(user, saved=True, started_at=now - timedelta(days=2), remote_number="+31611111111")
    pending = make_recording(user, started_at=now - timedelta(hours=1), direction="outbound")
    client = client_for(user)

    def ids(**params: object) -> list[str]:
        response = client.get("/api/v1/recordings", params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(saved="true") == [str(kept.pk)]
    assert ids(saved="false") == [str(pending.pk)]
    assert ids(direction="outbound") == [str(pending.pk)]
    assert ids(q="611111") == [str(kept.pk)]
    assert ids(kind="standard") == []
    today = timezone.localdate()
    assert ids(**{"from": (today - timedelta(days=1)).isoformat()}) == [str(pending.pk)]
    assert ids(to=(timezone.localtime(kept.started_at).date()).isoformat()) == [str(kept.pk)]
    assert ids(person="me") == [str(pending.pk), str(kept.pk)]
    # The calendar's ends bound nothing (found by schemathesis: they were a server error).
    assert ids(**{"from": "0001-01-01", "to": "9999-12-31"}) == [str(pending.pk), str(kept.pk)]
    assert ids(**{"from": "9999-12-31"}) == []
    assert ids(to="0001-01-01") == []
    rows = client.get("/api/v1/recordings").json()["results"]
    assert {row["colour"] for row in rows} == {"dark_blue", "light_blue"}
    assert {row["decision_pending"] for row in rows} == {True, False}


def test_listener_filters_by_team_member(personas: Personas) -> None:
    a = make_recording(personas.users["always"])
    make_recording(personas.users["on_demand"])
    error = assert_error(
        client_for(personas.listener).get("/api/v1/recordings", {"person": personas.outsider.pk}),
        400,
        "invalid",
    )
    assert set(error["fields"]) == {"person"}
    body = (
        client_for(personas.listener)
        .get("/api/v1/recordings", {"person": personas.users["always"].pk})
        .json()
    )
    assert [row["id"] for row in body["results"]] == [str(a.pk)]


def test_list_validation_errors(personas: Personas) -> None:
    client = client_for(personas.admin)
    error = assert_error(client.get("/api/v1/recordings", {"kind": "video", "limit": 0}), 400, "invalid")
    assert set(error["fields"]) == {"kind", "limit"}
    error = assert_error(client.get("/api/v1/recordings", {"cursor": "bm90IGEgY3Vyc29y"}), 400, "invalid")
    assert set(error["fields"]) == {"cursor"}
    error = assert_error(
        client.get("/api/v1/recordings", {"from": "2026-11-02", "to": "2026-11-01"}), 400, "invalid"
    )
    assert set(error["fields"]) == {"to"}
    error = assert_error(client.get("/api/v1/recordings", {"from": "yesterday"}), 400, "invalid")
    assert set(error["fields"]) == {"from"}


def test_list_needs_sign_in(personas: Personas) -> None:
    assert_error(client_for(None).get("/api/v1/recordings"), 401, "not_authenticated")


def test_detail_has_colour_expiry_paused_spans_and_peaks(personas: Personas) -> None:
    expires = timezone.now() + timedelta(days=3)
    recording = make_recording(
        personas.playback["days_90"], paused_spans=[[1000, 2000]], peaks=[0.1, 0.5], expires_at=expires
    )
    response = client_for(personas.playback["days_90"]).get(f"/api/v1/recordings/{recording.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["colour"] == "light_blue"
    assert body["paused_spans"] == [[1000, 2000]]
    assert body["peaks"] == [0.1, 0.5]
    assert body["expires_at"] is not None
    assert body["kind"] == Kind.PLAYBACK


def test_detail_of_another_tenant_a_deleted_or_unhearable_one_is_404(personas: Personas) -> None:
    theirs = make_recording(personas.charlie)
    gone = make_recording(personas.users["always"], deleted_at=timezone.now())
    colleague = make_recording(personas.users["on_demand"])
    playback = make_recording(personas.playback["days_30"])
    client = client_for(personas.users["always"])
    for recording in (theirs, gone, colleague):
        assert_error(client.get(f"/api/v1/recordings/{recording.pk}"), 404, "not_found")
    # Listeners hear team members' standard recordings, never others' playback recordings.
    assert client_for(personas.listener).get(f"/api/v1/recordings/{colleague.pk}").status_code == 200
    assert_error(client_for(personas.listener).get(f"/api/v1/recordings/{playback.pk}"), 404, "not_found")
    assert_error(client_for(None).get(f"/api/v1/recordings/{colleague.pk}"), 401, "not_authenticated")


def test_team_view_is_for_listeners(personas: Personas) -> None:
    body = client_for(personas.listener).get("/api/v1/team").json()
    assert [team["name"] for team in body] == ["Sales"]
    assert {m["username"] for m in body[0]["members"]} == {u.username for u in personas.users.values()}
    assert_error(client_for(personas.users["always"]).get("/api/v1/team"), 403, "permission_denied")
    assert_error(client_for(personas.admin).get("/api/v1/team"), 403, "permission_denied")
    assert_error(client_for(None).get("/api/v1/team"), 401, "not_authenticated")
    # Charlie's tenant has no teams he listens to, and never sees acme's.
    assert_error(client_for(personas.charlie).get("/api/v1/team"), 403, "permission_denied")


def test_fast_list_rows_equal_drf_field_by_field_output(personas: Personas) -> None:
    from rest_framework import serializers

    from recordings.api.serializers import RecordingSerializer

    recording = make_recording(personas.playback["days_30"], expires_at=timezone.now() + timedelta(days=1))
    orphan = make_recording(personas.users["always"], saved=True)
    orphan.owner = None
    for row in (recording, orphan):
        fast = RecordingSerializer(row).data
        slow = serializers.ModelSerializer.to_representation(RecordingSerializer(), row)
        assert fast == slow
    # A page (owners and the time zone looked up once per page) gives the same rows.
    again = make_recording(personas.playback["days_30"])
    again.owner = recording.owner
    page = RecordingSerializer([recording, orphan, again], many=True).data
    assert page == [
        serializers.ModelSerializer.to_representation(RecordingSerializer(), row)
        for row in (recording, orphan, again)
    ]
    assert page[0]["owner"] is not page[2]["owner"]
