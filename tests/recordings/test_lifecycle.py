"""The Playback lifecycle and expiry, with time travel (time-machine) for every rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.core.management import call_command

from notifications.models import Device, OutboxMessage, PushPrompt
from notifications.services import register_device
from recordings import lifecycle, privacy, products, rules
from recordings.lifecycle import ExpiryRule, RecordingGone, expiry
from recordings.lifecycle.tasks import sweep_expired_task
from recordings.models import Call, Kind, Recording
from recordings.reconcile import reconcile
from tenants.models import AccessCopy
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import committed, make_recording, object_exists, use_file_storage
from tests.privacy.factory import requested_access_copy

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(settings, tmp_path):
    use_file_storage(settings, tmp_path / "recordings")
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def reload(rec: Recording) -> Recording:
    with tenant_scope(rec.tenant_id):
        return Recording.objects.get(pk=rec.pk)


def assert_tombstone(rec: Recording, reason: str, key: str) -> None:
    rec = reload(rec)
    assert rec.deleted_at is not None
    assert rec.deletion_reason == reason
    assert not object_exists(key)
    assert rec.owner_id is None
    assert (rec.remote_number, rec.local_number, rec.storage_key, rec.sha256) == ("", "", "", "")
    assert rec.peaks == [] and rec.segments == [] and rec.paused_spans == []
    with tenant_scope(rec.tenant_id):
        call = Call.objects.get(pbx_call_id__startswith="pbx-", recording=rec)
        assert call.state == Call.State.DELETED
        assert call.remote_number == ""


# --- ready: rules and prompts ------------------------------------------------------------------


def test_unsaved_playback_is_due_three_days_after_the_call_and_prompted(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    register_device(user=user, token="phone-1", platform="android")
    rec = make_recording(user, ended_at=T0 - timedelta(minutes=1))
    with committed():
        lifecycle.on_playback_ready(rec)
    rec = reload(rec)
    assert not rec.saved
    assert rec.expires_at == rec.ended_at + timedelta(days=3)
    assert rec.expiry_rule == ExpiryRule.UNANSWERED
    assert rec.colour == Recording.Colour.UNSAVED_PLAYBACK
    with tenant_scope(personas.tenant_a):
        prompt = PushPrompt.objects.get(recording=rec)
        assert prompt.status == PushPrompt.Status.SENT
        assert prompt.title == "Gesprek bewaren?"  # acme speaks Dutch
        assert "+31612345678" in prompt.body and "1:01" in prompt.body
        assert prompt.data["recording_id"] == str(rec.pk)
        assert prompt.data["actions"] == "keep,delete"
        message = OutboxMessage.objects.get(prompt=prompt)
        assert message.payload["token"] == "phone-1"
        assert message.payload["apns"]["payload"]["aps"]["category"] == "KEEP_OR_DELETE"
    # A repeated hook neither re-prompts nor changes the due time.
    lifecycle.on_playback_ready(rec)
    with tenant_scope(personas.tenant_a):
        assert PushPrompt.objects.filter(recording=rec).count() == 1
        assert OutboxMessage.objects.count() == 1


def test_prompt_in_the_users_language(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    user.language = "en"
    user.save()
    rec = make_recording(user, remote_number="anonymous")
    with committed():
        lifecycle.on_playback_ready(rec)
    with tenant_scope(personas.tenant_a):
        prompt = PushPrompt.objects.get(recording=rec)
    assert prompt.title == "Keep this call?"
    assert "anonymous number" in prompt.body
    # No phone registered: nothing could be sent.
    assert prompt.status == PushPrompt.Status.FAILED
    assert prompt.last_error == "no active device"


def test_whitelisted_number_is_kept_at_once_without_prompt(personas: Personas, clock) -> None:
    user = personas.playback["days_90"]
    rules.add_rule(user=user, list_type="whitelist", number="0202222222")
    rec = make_recording(user, remote_number="+31202222222")
    lifecycle.on_playback_ready(rec)
    rec = reload(rec)
    assert rec.saved and rec.saved_at == T0
    assert rec.expires_at == rec.ended_at + timedelta(days=90)
    assert rec.expiry_rule == ExpiryRule.DAYS_90
    with tenant_scope(personas.tenant_a):
        assert not PushPrompt.objects.exists()


def test_blacklisted_number_is_deleted_at_once_without_prompt(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    rules.add_rule(user=user, list_type="blacklist", number="+31201111111")
    rec = make_recording(user, remote_number="+31201111111")
    key = rec.storage_key
    assert object_exists(key)
    lifecycle.on_playback_ready(rec)
    assert_tombstone(rec, "blacklisted", key)
    with tenant_scope(personas.tenant_a):
        assert not PushPrompt.objects.exists()


# --- keep and delete ---------------------------------------------------------------------------


def ready(user, **kw) -> Recording:
    rec = make_recording(user, **kw)
    with committed():
        lifecycle.on_playback_ready(rec)
    return reload(rec)


def test_keep_saves_with_the_tiers_retention_and_is_idempotent(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    register_device(user=user, token="phone-1", platform="ios")
    rec = ready(user)
    kept = lifecycle.keep_recording(recording=rec, acting_user=user)
    assert kept.saved and kept.expires_at == rec.ended_at + timedelta(days=30)
    assert kept.colour == Recording.Colour.SAVED_PLAYBACK
    with tenant_scope(personas.tenant_a):
        prompt = PushPrompt.objects.get(recording=rec)
    assert (prompt.status, prompt.answer) == (PushPrompt.Status.ANSWERED, "keep")
    clock.shift(timedelta(hours=1))
    again = lifecycle.keep_recording(recording=rec, acting_user=user)
    assert again.saved_at == T0 and again.expires_at == kept.expires_at


def test_delete_removes_audio_and_derived_data_at_once(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    register_device(user=user, token="phone-1", platform="ios")
    rec = ready(user)
    key = rec.storage_key
    tomb = lifecycle.delete_recording(recording=rec, acting_user=user)
    assert tomb.deleted_at == T0
    assert_tombstone(rec, "user_deleted", key)
    with tenant_scope(personas.tenant_a):
        assert not PushPrompt.objects.exists()  # the prompt (with the caller's number) went too
        assert not OutboxMessage.objects.exists()
    with pytest.raises(RecordingGone, match="already deleted"):
        lifecycle.delete_recording(recording=rec, acting_user=user)
    with pytest.raises(RecordingGone, match="already deleted"):
        lifecycle.keep_recording(recording=rec, acting_user=user)


def test_a_saved_playback_can_still_be_deleted(personas: Personas, clock) -> None:
    user = personas.playback["days_90"]
    rec = ready(user)
    lifecycle.keep_recording(recording=rec, acting_user=user)
    lifecycle.delete_recording(recording=rec, acting_user=user)
    assert reload(rec).is_deleted


def test_keep_after_the_three_days_is_refused(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    rec = ready(user)
    clock.shift(timedelta(days=3, seconds=1))
    with pytest.raises(RecordingGone, match="passed"):
        lifecycle.keep_recording(recording=rec, acting_user=user)
    assert not reload(rec).saved


def test_only_the_owner_decides_and_only_on_playbacks(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    rec = ready(user)
    for other in (personas.playback["days_90"], personas.admin):
        with pytest.raises(PermissionDenied):
            lifecycle.keep_recording(recording=rec, acting_user=other)
        with pytest.raises(PermissionDenied):
            lifecycle.delete_recording(recording=rec, acting_user=other)
    standard = make_recording(personas.users["always"], kind=Kind.STANDARD)
    with pytest.raises(ValidationError):
        lifecycle.keep_recording(recording=standard, acting_user=personas.users["always"])
    with pytest.raises(ValidationError):
        lifecycle.delete_recording(recording=standard, acting_user=personas.users["always"])
    assert not reload(rec).saved and not reload(standard).is_deleted


def test_keep_without_subscription_is_refused(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    rec = ready(user)
    products.remove_products(user=user)
    with pytest.raises(ValidationError, match="no longer have a Playback subscription"):
        lifecycle.keep_recording(recording=rec, acting_user=user)
    assert not reload(rec).saved


# --- expiry ------------------------------------------------------------------------------------


def test_unanswered_playback_is_deleted_three_days_after_the_call_not_before(
    personas: Personas, clock
) -> None:
    user = personas.playback["days_30"]
    rec = ready(user, ended_at=T0)
    key = rec.storage_key
    clock.move_to(T0 + timedelta(days=3) - timedelta(seconds=1))
    assert lifecycle.sweep_expired().rows == 0
    assert object_exists(key)
    clock.move_to(T0 + timedelta(days=3))
    result = lifecycle.sweep_expired()
    assert (result.rows, result.objects) == (1, 1)
    assert_tombstone(rec, ExpiryRule.UNANSWERED, key)
    assert reload(rec).expires_at == T0 + timedelta(days=3)  # the due time stays on the tombstone
    assert lifecycle.sweep_expired().rows == 0  # a second run finds nothing


@pytest.mark.parametrize(("tier", "days"), [("days_30", 30), ("days_90", 90)])
def test_saved_playback_expires_by_tier(personas: Personas, clock, tier: str, days: int) -> None:
    user = personas.playback[tier]
    rec = ready(user, ended_at=T0)
    lifecycle.keep_recording(recording=rec, acting_user=user)
    clock.move_to(T0 + timedelta(days=days) - timedelta(seconds=1))
    assert lifecycle.sweep_expired().rows == 0
    clock.move_to(T0 + timedelta(days=days, seconds=1))
    assert lifecycle.sweep_expired().rows == 1
    assert_tombstone(rec, tier, rec.storage_key)


def test_standard_recordings_expire_by_the_tenants_retention(personas: Personas, clock) -> None:
    user = personas.users["always"]
    rec = make_recording(user, kind=Kind.STANDARD, ended_at=T0)
    key = rec.storage_key
    lifecycle.on_recording_ready(rec)
    assert reload(rec).expires_at == T0 + timedelta(days=90)  # acme's default retention
    products.update_tenant_settings(tenant=personas.tenant_a, retention_days=10)
    assert reload(rec).expires_at == T0 + timedelta(days=10)
    clock.move_to(T0 + timedelta(days=10) - timedelta(seconds=1))
    assert lifecycle.sweep_expired().rows == 0
    clock.move_to(T0 + timedelta(days=10))
    assert lifecycle.sweep_expired().rows == 1
    assert_tombstone(rec, ExpiryRule.RETENTION, key)


def test_changing_the_tier_recomputes_expiry_of_saved_playbacks(personas: Personas, clock) -> None:
    user = personas.playback["days_90"]
    old = ready(user, ended_at=T0 - timedelta(days=40))  # kept before the 3 days passed
    clock.move_to(T0 - timedelta(days=39))
    lifecycle.keep_recording(recording=old, acting_user=user)
    clock.move_to(T0)
    recent = ready(user, ended_at=T0)
    unsaved = ready(user, ended_at=T0)
    lifecycle.keep_recording(recording=recent, acting_user=user)
    products.set_playback_subscription(user=user, tier="days_30")
    assert reload(old).expires_at == old.ended_at + timedelta(days=30)  # already past: next sweep
    assert reload(recent).expires_at == T0 + timedelta(days=30)
    assert reload(unsaved).expires_at == T0 + timedelta(days=3)  # unsaved ones keep their 3 days
    assert lifecycle.sweep_expired().rows == 1
    assert reload(old).is_deleted and not reload(recent).is_deleted
    products.set_playback_subscription(user=user, tier="minutes_100k")
    assert reload(recent).expires_at is None
    clock.move_to(T0 + timedelta(days=365))
    assert lifecycle.sweep_expired().rows == 1  # only the unsaved one
    assert not reload(recent).is_deleted


def test_quota_deletes_the_oldest_saved_and_warns_once_per_crossing(
    personas: Personas, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expiry, "QUOTA_MS", 10 * 60_000)  # 10 minutes keeps the test small
    user = personas.playback["minutes_100k"]
    register_device(user=user, token="phone-1", platform="android")
    minute = 60_000
    recs = []
    for n in range(4):  # 3 + 3 + 2 + 1 = 9 minutes: the 4th crosses 90 %
        rec = ready(user, ended_at=T0 + timedelta(minutes=n), duration_ms=[3, 3, 2, 1][n] * minute)
        with committed():
            lifecycle.keep_recording(recording=rec, acting_user=user)
        assert reload(rec).expires_at is None
        recs.append(rec)
    with tenant_scope(personas.tenant_a):
        warnings = PushPrompt.objects.filter(kind=PushPrompt.Kind.QUOTA_WARNING)
        assert warnings.count() == 1
        assert warnings.get().status == PushPrompt.Status.SENT
    # 9 + 2 = 11 > 10: the oldest (3 min) goes, leaving 8 (below 90 %, so the warning re-arms).
    fifth = ready(user, ended_at=T0 + timedelta(minutes=10), duration_ms=2 * minute)
    lifecycle.keep_recording(recording=fifth, acting_user=user)
    assert reload(recs[0]).is_deleted and reload(recs[0]).deletion_reason == ExpiryRule.QUOTA
    assert not object_exists(recs[0].storage_key)
    assert all(not reload(r).is_deleted for r in [*recs[1:], fifth])
    with tenant_scope(personas.tenant_a):
        assert PushPrompt.objects.filter(kind=PushPrompt.Kind.QUOTA_WARNING).count() == 1
    sixth = ready(user, ended_at=T0 + timedelta(minutes=20), duration_ms=1 * minute)  # 9 again: crossing
    with committed():
        lifecycle.keep_recording(recording=sixth, acting_user=user)
    with tenant_scope(personas.tenant_a):
        assert PushPrompt.objects.filter(kind=PushPrompt.Kind.QUOTA_WARNING).count() == 2
    with tenant_scope(personas.tenant_a):
        assert lifecycle.saved_usage_ms(user.pk) <= expiry.QUOTA_MS


def test_switching_to_the_quota_tier_trims_to_the_quota(
    personas: Personas, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expiry, "QUOTA_MS", 5 * 60_000)
    user = personas.playback["days_30"]
    recs = [ready(user, ended_at=T0 + timedelta(minutes=n), duration_ms=2 * 60_000) for n in range(4)]
    for rec in recs:
        lifecycle.keep_recording(recording=rec, acting_user=user)
    with committed():
        products.set_playback_subscription(user=user, tier="minutes_100k")  # sweeps at once
    assert [reload(r).is_deleted for r in recs] == [True, True, False, False]


@pytest.mark.parametrize("batch_size", [1, 10])  # alone, or in one batch with one that goes
def test_sweep_leaves_a_recording_whose_object_cannot_be_deleted(
    personas: Personas, clock, batch_size: int
) -> None:
    user = personas.playback["days_30"]
    stuck = ready(user, ended_at=T0)
    fine = ready(user, ended_at=T0)
    # A directory where the object should be: unlinking it fails (a real storage error).
    folder = Path(storages["recordings"].path(f"{user.tenant_id}/stuck"))
    folder.mkdir(parents=True)
    (folder / "x").write_bytes(b"x")
    with tenant_scope(personas.tenant_a):
        Recording.objects.filter(pk=stuck.pk).update(storage_key=f"{user.tenant_id}/stuck")
    clock.move_to(T0 + timedelta(days=4))
    result = lifecycle.sweep_expired(batch_size=batch_size)
    assert result.rows == 1 and result.failed == [stuck.pk]
    assert not reload(stuck).is_deleted and reload(fine).is_deleted
    assert_tombstone(fine, ExpiryRule.UNANSWERED, fine.storage_key)
    # The stuck one is whole: PostgreSQL's set-based batch was rolled back, not half-applied.
    left = reload(stuck)
    assert (left.remote_number, left.owner_id, left.storage_key) == (
        "+31612345678",
        user.pk,
        f"{user.tenant_id}/stuck",
    )
    with tenant_scope(personas.tenant_a):
        call = Call.objects.get(pk=left.call_id)
    assert (call.state, call.remote_number) == (Call.State.RECORDED, "+31612345678")
    with tenant_scope(personas.tenant_a):
        assert PushPrompt.objects.filter(recording=stuck).exists()


def test_sweep_works_in_batches_and_is_resumable(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    recs = [ready(user, ended_at=T0) for _ in range(5)]
    clock.move_to(T0 + timedelta(days=3))
    first = lifecycle.sweep_expired(batch_size=2, max_batches=1)  # "interrupted" after one batch
    assert first.rows == 2
    rest = lifecycle.sweep_expired(batch_size=2)
    assert (rest.rows, rest.batches) == (3, 2)
    assert all(reload(r).is_deleted for r in recs)


@pytest.mark.parametrize("workers", [1, 2])
def test_sweep_deletes_rows_that_share_a_due_time_across_batches(
    personas: Personas, clock, workers: int
) -> None:
    """Each batch's claim starts at the latest due time the sweep has claimed so far (not at the
    start of the index); rows due at that very time in the next batch are still taken."""
    user = personas.playback["days_30"]
    early = ready(user, ended_at=T0 - timedelta(hours=1))
    same = [ready(user, ended_at=T0) for _ in range(7)]  # one due time, over four batches of 2
    later = ready(user, ended_at=T0 + timedelta(hours=1))
    clock.move_to(T0 + timedelta(days=3, hours=2))
    result = lifecycle.sweep_expired(batch_size=2, workers=workers)
    assert (result.rows, result.failed) == (9, [])
    assert all(reload(r).is_deleted for r in [early, *same, later])
    assert lifecycle.sweep_expired(batch_size=2, workers=workers).rows == 0


def test_beat_schedules_the_sweep_task(personas: Personas, clock) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["expiry-sweep"]
    assert entry["task"] == sweep_expired_task.name
    assert entry["schedule"] == settings.EXPIRY_SWEEP_SECONDS
    rec = ready(personas.playback["days_30"], ended_at=T0)
    clock.move_to(T0 + timedelta(days=3))
    assert sweep_expired_task.delay().get() == {"rows": 1, "objects": 1, "failed": 0}
    assert reload(rec).is_deleted


def test_tenant_isolation_of_deletion(personas: Personas, clock) -> None:
    a = ready(personas.playback["days_30"], ended_at=T0)
    b = make_recording(personas.charlie, kind=Kind.STANDARD, ended_at=T0)
    lifecycle.on_recording_ready(b)  # globex keeps 90 days
    clock.move_to(T0 + timedelta(days=3))
    assert lifecycle.sweep_expired().rows == 1
    assert reload(a).is_deleted and not reload(b).is_deleted
    assert object_exists(b.storage_key)


def test_reconcile_reports_orphans_and_missing_objects(personas: Personas, clock, capsys) -> None:
    user = personas.playback["days_30"]
    good = ready(user)
    lost = ready(user)
    storages["recordings"].delete(lost.storage_key)
    orphan = storages["recordings"].save("stray/object.opus", __import__("io").BytesIO(b"x"))
    report = reconcile()
    assert report.orphan_objects == [orphan]
    assert report.missing_objects == [(str(lost.pk), lost.storage_key)]
    assert good.storage_key not in report.orphan_objects
    call_command("reconcile_recordings")
    out = capsys.readouterr().out
    assert "objects without a row: 1" in out and "rows without an object: 1" in out
    storages["recordings"].delete(orphan)
    lifecycle.delete_recording(recording=lost, acting_user=user)
    assert reconcile().clean


def test_devices_deactivated_get_nothing(personas: Personas, clock) -> None:
    user = personas.playback["days_30"]
    device = register_device(user=user, token="phone-1", platform="android")
    with tenant_scope(personas.tenant_a):
        Device.objects.filter(pk=device.pk).update(active=False)
    ready(user)
    with tenant_scope(personas.tenant_a):
        assert not OutboxMessage.objects.exists()


def test_sweep_removes_the_derived_rows_of_the_recordings_that_have_them(personas: Personas, clock) -> None:
    from recordings.models import Comment, Label, PlaybackAccess, ShareLink, ShareOpen

    user = personas.playback["days_30"]
    due = [ready(user, ended_at=T0) for _ in range(4)]
    later = ready(user, ended_at=T0 + timedelta(days=2))
    with tenant_scope(personas.tenant_a):
        tenant = personas.tenant_a
        for rec in (due[1], later):  # one due recording with everything, one that is not due
            Label.objects.create(tenant=tenant, recording=rec, name="vip", created_by=user)
            Comment.objects.create(tenant=tenant, recording=rec, author=user, text="call back")
            share = ShareLink.objects.create(
                tenant=tenant, recording=rec, created_by=user, token_hash=uuid.uuid4().hex, expires_at=T0
            )
            ShareOpen.objects.create(tenant=tenant, share=share)
            PlaybackAccess.objects.create(tenant=tenant, recording=rec, user=user, share=share, via="share")
        Comment.objects.create(tenant=tenant, recording=due[3], author=user, text="only a comment")
    # An access copy (a many-to-many to Recording): its links to the due ones go, the copy stays.
    copy = requested_access_copy(personas.admin, "+31612345678")
    with tenant_scope(personas.tenant_a):
        assert copy.recordings.count() == 5
    clock.move_to(T0 + timedelta(days=3, seconds=1))
    result = lifecycle.sweep_expired(batch_size=3)
    assert (result.rows, result.batches) == (4, 2)
    with tenant_scope(personas.tenant_a):
        for model in (Label, Comment, ShareLink, PlaybackAccess):
            assert list(model.objects.values_list("recording_id", flat=True)) == [later.pk], model
        assert list(ShareOpen.objects.values_list("share__recording_id", flat=True)) == [later.pk]
        assert list(PushPrompt.objects.values_list("recording_id", flat=True)) == [later.pk]
        assert list(copy.recordings.values_list("pk", flat=True)) == [later.pk]
        through = AccessCopy.recordings.through.objects
        assert list(through.values_list("recording_id", flat=True)) == [later.pk]
        assert AccessCopy.objects.filter(pk=copy.pk).exists()
    assert all(reload(r).is_deleted for r in due) and not reload(later).is_deleted


def test_every_deletion_path_removes_the_many_to_many_links(personas: Personas, clock) -> None:
    """A user's delete answer, a blacklisted capture and a subject erasure go through the same
    deletion, which removes the through rows of many-to-manys that point at Recording."""
    user = personas.playback["days_30"]
    answered, erased, other = ready(user), ready(user, remote_number="+31687654321"), ready(user)
    through = AccessCopy.recordings.through.objects
    copy = requested_access_copy(personas.admin, "+31612345678")
    with tenant_scope(personas.tenant_a):
        copy.recordings.add(erased)
    assert set(through.filter(accesscopy=copy).values_list("recording_id", flat=True)) == {
        answered.pk,
        erased.pk,
        other.pk,
    }
    lifecycle.delete_recording(recording=answered, acting_user=user)
    privacy.erase_subject(
        tenant=personas.tenant_a, number="+31687654321", confirmed_count=1, acting_user=personas.admin
    )
    assert list(through.values_list("recording_id", flat=True)) == [other.pk]
    assert reload(answered).is_deleted and reload(erased).is_deleted and not reload(other).is_deleted
    rules.add_rule(user=user, list_type="blacklist", number="+31201111111", acting_user=user)
    blocked = make_recording(user, remote_number="+31201111111")
    with tenant_scope(personas.tenant_a):
        copy.recordings.add(blocked)
    lifecycle.on_playback_ready(blocked)
    assert reload(blocked).is_deleted
    assert list(through.values_list("recording_id", flat=True)) == [other.pk]


# --- the Playback subscription is removed -------------------------------------------------------


def test_removing_the_subscription_makes_saved_playbacks_due_within_30_days(
    personas: Personas, clock
) -> None:
    user = personas.playback["days_90"]
    soon = ready(user, ended_at=T0 - timedelta(days=80))  # saved: due T0 + 10 days, stays
    clock.move_to(T0 - timedelta(days=79))
    lifecycle.keep_recording(recording=soon, acting_user=user)
    clock.move_to(T0)
    late = ready(user, ended_at=T0)  # saved: due T0 + 90 days, capped at T0 + 30 days
    lifecycle.keep_recording(recording=late, acting_user=user)
    unsaved = ready(user, ended_at=T0)  # due T0 + 3 days, stays
    removed_at = T0 + timedelta(hours=2)
    clock.move_to(removed_at)
    assert products.remove_playback_subscription(user=user) is True
    assert (reload(soon).expires_at, reload(soon).expiry_rule) == (T0 + timedelta(days=10), "days_90")
    assert (reload(late).expires_at, reload(late).expiry_rule) == (
        removed_at + timedelta(days=30),
        "unsubscribed",
    )
    assert (reload(unsaved).expires_at, reload(unsaved).expiry_rule) == (T0 + timedelta(days=3), "unanswered")
    with pytest.raises(ValidationError, match="no longer have a Playback subscription"):
        lifecycle.keep_recording(recording=unsaved, acting_user=user)
    assert products.remove_playback_subscription(user=user) is False  # nothing left: no change
    assert reload(late).expires_at == removed_at + timedelta(days=30)
    clock.move_to(T0 + timedelta(days=3))
    assert lifecycle.sweep_expired().rows == 1 and reload(unsaved).is_deleted
    clock.move_to(T0 + timedelta(days=10))
    assert lifecycle.sweep_expired().rows == 1 and reload(soon).is_deleted
    clock.move_to(removed_at + timedelta(days=30) - timedelta(seconds=1))
    assert lifecycle.sweep_expired().rows == 0
    clock.move_to(removed_at + timedelta(days=30))
    assert lifecycle.sweep_expired().rows == 1
    assert_tombstone(late, "unsubscribed", late.storage_key)


def test_quota_tier_playbacks_get_a_due_date_when_the_subscription_goes(personas: Personas, clock) -> None:
    user = personas.playback["minutes_100k"]
    kept = ready(user, ended_at=T0 - timedelta(days=400))
    clock.move_to(T0 - timedelta(days=400))
    lifecycle.keep_recording(recording=kept, acting_user=user)
    clock.move_to(T0)
    assert reload(kept).expires_at is None
    products.set_user_product(user=user, product="licence", setting="always")  # another product
    assert reload(kept).expires_at == T0 + timedelta(days=30)
    clock.move_to(T0 + timedelta(days=30))
    assert lifecycle.sweep_expired().rows == 1
    assert reload(kept).deletion_reason == "unsubscribed"


@pytest.mark.parametrize(
    ("tier", "due_after_call"), [("days_90", timedelta(days=90)), ("minutes_100k", None)]
)
def test_a_subscription_given_again_recomputes_from_the_new_tier(
    personas: Personas, clock, tier: str, due_after_call: timedelta | None
) -> None:
    user = personas.playback["days_30"]
    rec = ready(user, ended_at=T0)
    lifecycle.keep_recording(recording=rec, acting_user=user)
    products.remove_products(user=user)
    assert reload(rec).expires_at == T0 + timedelta(days=30)  # days_30: already the sooner one
    assert reload(rec).expiry_rule == "days_30"
    clock.move_to(T0 + timedelta(days=20))
    products.set_playback_subscription(user=user, tier=tier)
    expected = None if due_after_call is None else T0 + due_after_call
    assert reload(rec).expires_at == expected
    clock.move_to(T0 + timedelta(days=60))
    assert lifecycle.sweep_expired().rows == 0
    assert not reload(rec).is_deleted
