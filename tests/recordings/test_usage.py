"""The overview's summary (recordings.usage) equals what the raw queries count from the rows,
after a varied series of calls through the telephony interface: recorded, discarded, not
recorded, failed, deleted by the user and by the expiry sweep; and its rebuild from existing
rows (what the migration does) gives the same."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from recordings import lifecycle, overview, usage
from recordings.capture import calls as capture_calls
from recordings.capture import processing as capture_processing
from recordings.capture import uploads as capture_uploads
from recordings.lifecycle import DeletionReason
from recordings.models import Call, CallDay, Recording, StoredKind
from tenants import services
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording
from tests.portal.test_calls_console import make_call
from tests.recordings.rpi_support import Pbx, wav_bytes

pytestmark = pytest.mark.django_db

S = dt.timedelta(seconds=1)


def raw(tenant: Tenant) -> tuple[dict[Any, Any], dict[Any, Any]]:
    return (
        usage.raw_days(Call.objects.unscoped().filter(tenant=tenant)),
        usage.raw_stored(Recording.objects.unscoped().filter(tenant=tenant)),
    )


def summary(tenant: Tenant) -> tuple[dict[Any, Any], dict[Any, Any]]:
    return usage.summary_days(tenant.pk), usage.summary_stored(tenant.pk)


def recorded_call(pbx: Pbx, user: str, seconds: float = 3.0, **fields: Any) -> str:
    started = pbx.start(user, **fields)
    call_id = started.sent["call_id"]
    pbx.end(call_id, started.started + int(seconds) * S)
    assert pbx.audio(call_id, wav_bytes(seconds)).status_code == 201
    return call_id


def test_summary_equals_the_raw_counts_after_a_varied_series(
    pbx: Pbx, pbx_b: Pbx, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = personas.tenant_a
    always = personas.users["always"].pbx_id
    ids = [recorded_call(pbx, always, seconds=s) for s in (2.0, 3.0, 4.0)]
    playback_ids = [recorded_call(pbx, personas.playback["days_30"].pbx_id) for _ in range(2)]
    services.set_licence(user=personas.charlie, mode="always")
    recorded_call(pbx_b, personas.charlie.pbx_id)  # the other tenant's: never in A's summary
    # not recorded (licence mode never): counted nowhere
    never = pbx.start(personas.users["never"].pbx_id)
    pbx.end(never.sent["call_id"], never.started + 3 * S)
    # discarded: nothing of the audio lies inside the call
    discarded = pbx.start(always)
    pbx.end(discarded.sent["call_id"], discarded.started + 3 * S)
    assert pbx.audio(discarded.sent["call_id"], wav_bytes(1.0), offset_ms=5000).status_code == 201
    # failed: processing gave up (the task's last retry)
    for module in (capture_calls, capture_uploads):
        monkeypatch.setattr(module, "_enqueue_processing", lambda call: None)
    failing = recorded_call(pbx, always)
    with tenant_scope(tenant):
        call = Call.objects.get(pbx_call_id=failing)
    assert capture_processing.mark_failed(tenant_id=tenant.pk, call_id=call.pk, error_code="x") == "failed"
    assert capture_processing.mark_failed(tenant_id=tenant.pk, call_id=call.pk, error_code="x") == "failed"
    monkeypatch.undo()

    with tenant_scope(tenant):
        states = sorted(Call.objects.values_list("state", flat=True))
    assert states == ["discarded", "failed", "not_recorded", *["recorded"] * 5]
    assert summary(tenant) == raw(tenant)
    [(_day, counts)] = usage.summary_days(tenant.pk).items()
    assert counts == (5, 1, 1)

    # deleted by the user, then by the sweep (one standard, one playback), then a second delete
    # of the same recording (counted once)
    with tenant_scope(tenant):
        recs = {r.call.pbx_call_id: r for r in Recording.objects.select_related("call")}
    lifecycle.delete_recording_objects(recordings=[recs[ids[0]]], reason=DeletionReason.USER_DELETED)
    lifecycle.delete_recording_objects(recordings=[recs[ids[0]]], reason=DeletionReason.USER_DELETED)
    with tenant_scope(tenant):
        Recording.objects.filter(pk__in=[recs[ids[1]].pk, recs[playback_ids[0]].pk]).update(
            expires_at=timezone.now() - dt.timedelta(minutes=1)
        )
    result = lifecycle.sweep_expired()
    assert result.rows == 2
    with tenant_scope(tenant):
        assert Call.objects.filter(state=Call.State.DELETED).count() == 3
    assert summary(tenant) == raw(tenant)
    assert usage.summary_stored(tenant.pk) == {
        "standard": (1, recs[ids[2]].duration_ms),
        "playback": (1, recs[playback_ids[1]].duration_ms),
    }
    assert summary(personas.tenant_b) == raw(personas.tenant_b) != summary(tenant)
    # what the overview shows is the summary
    with tenant_scope(tenant):
        shown = overview.overview(tenant)
    assert (shown.days[-1].recorded, shown.days[-1].discarded, shown.days[-1].failed) == (5, 1, 1)
    assert shown.failures_total == 1


def test_rebuild_from_existing_rows_equals_the_raw_counts(personas: Personas) -> None:
    """What the migration does for the data there before the summary: rows written directly."""
    tenant = personas.tenant_a
    user = personas.users["always"]
    # 23:30 in Amsterdam, the evening before: the day is the local one, not UTC's
    evening = timezone.make_aware(
        dt.datetime.combine(timezone.localdate() - dt.timedelta(days=3), dt.time(23, 30))
    )
    make_call(
        user, state=Call.State.RECORDED, minutes_ago=int((timezone.now() - evening).total_seconds() // 60)
    )
    make_call(user, state=Call.State.DELETED, minutes_ago=60 * 24 * 2)
    make_call(user, state=Call.State.DISCARDED, minutes_ago=5)
    make_call(user, state=Call.State.FAILED, minutes_ago=6)
    make_call(user, state=Call.State.PROCESSING, minutes_ago=7)
    make_call(personas.charlie, state=Call.State.RECORDED, minutes_ago=5)
    make_recording(user, with_audio=False, duration_ms=70_000)
    make_recording(personas.playback["days_30"], with_audio=False, saved=True, duration_ms=50_000)
    gone = make_recording(user, with_audio=False)
    lifecycle.delete_recording_objects(recordings=[gone], reason=DeletionReason.USER_DELETED)
    with tenant_scope(tenant):
        CallDay.objects.create(tenant=tenant, day=dt.date(2020, 1, 1), recorded=9)  # wrong: replaced
    usage.rebuild(tenant.pk)
    assert summary(tenant) == raw(tenant)
    days = usage.summary_days(tenant.pk)
    assert days[evening.date()] == (1, 0, 0)
    assert sum(r for r, _d, _f in days.values()) == 2 and dt.date(2020, 1, 1) not in days
    assert usage.summary_stored(tenant.pk) == {"standard": (1, 70_000), "playback": (1, 50_000)}
    assert StoredKind.objects.unscoped().filter(tenant=personas.tenant_b).count() == 0
