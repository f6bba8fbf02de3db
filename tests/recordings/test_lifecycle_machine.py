"""A hypothesis state machine over keep / delete / expire / tier change / new calls.

Checked after every step: a live recording's due time follows its rule; nothing is deleted
before it is due (except by the user's delete or a quota eviction); after a sweep nothing due is
left (so nothing outlives its due time by more than one sweep interval); the 100,000-minute quota
(scaled down here) is never exceeded; storage and rows agree (no orphan objects, no rows without
their object).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from recordings import lifecycle, products, rules
from recordings.lifecycle import ExpiryRule, RecordingGone, expiry
from recordings.models import Recording
from recordings.reconcile import reconcile
from tenants import services
from tenants.models import ProcessingRegister
from tenants.scoping import tenant_scope
from tests.base import INTEREST, PURPOSE
from tests.lifecycle_factory import committed, make_recording, use_file_storage

QUOTA_MINUTES = 10
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
TIER_DAYS = {"days_30": 30, "days_90": 90}
_tenants = itertools.count(1)


@dataclass
class Model:
    rec_id: object
    ended_at: datetime
    duration_min: int
    user_deleted: bool = False


class Lifecycle(RuleBasedStateMachine):
    @initialize(tier=st.sampled_from(["minutes_100k", "days_30", "days_90"]))
    def setup(self, tier: str) -> None:
        self.traveller = time_machine.travel(T0, tick=False)
        self.clock = self.traveller.start()
        n = next(_tenants)
        self.tenant = services.create_tenant(name=f"Hyp {n}", slug=f"hyp-{n}")
        with tenant_scope(self.tenant):
            ProcessingRegister.objects.create(
                tenant=self.tenant, purpose=PURPOSE, legitimate_interest=INTEREST
            )
        self.user = services.create_user(tenant=self.tenant, username=f"hyp-{n}", password=None, pbx_id="1")
        products.set_playback_subscription(user=self.user, tier=tier)
        self.tier = tier
        rules.add_rule(user=self.user, list_type="whitelist", number="+31202222222")
        self.recs: list[Model] = []

    def teardown(self) -> None:
        if hasattr(self, "traveller"):
            self.traveller.stop()

    # --- helpers ---

    def now(self) -> datetime:
        from django.utils import timezone

        return timezone.now()

    def rows(self) -> dict[object, Recording]:
        with tenant_scope(self.tenant):
            return {r.pk: r for r in Recording.objects.filter(pk__in=[m.rec_id for m in self.recs])}

    def pick(self, index: int) -> tuple[Model, Recording]:
        model = self.recs[index % len(self.recs)]
        return model, self.rows()[model.rec_id]

    # --- rules ---

    @rule(minutes=st.integers(1, 4), whitelisted=st.booleans())
    def new_call(self, minutes: int, whitelisted: bool) -> None:
        number = "+31202222222" if whitelisted else "+31612345678"
        rec = make_recording(
            self.user, duration_ms=minutes * 60_000, ended_at=self.now(), remote_number=number
        )
        with committed():
            lifecycle.on_playback_ready(rec)
        self.recs.append(Model(rec.pk, rec.ended_at, minutes))

    @precondition(lambda self: self.recs)
    @rule(index=st.integers(0, 50))
    def keep(self, index: int) -> None:
        _model, row = self.pick(index)
        gone = row.is_deleted or (
            not row.saved and row.expires_at is not None and row.expires_at <= self.now()
        )
        if gone:
            with pytest.raises(RecordingGone):
                lifecycle.keep_recording(recording=row, acting_user=self.user)
            return
        with committed():
            kept = lifecycle.keep_recording(recording=row, acting_user=self.user)
        assert kept.saved

    @precondition(lambda self: self.recs)
    @rule(index=st.integers(0, 50))
    def delete(self, index: int) -> None:
        model, row = self.pick(index)
        if row.is_deleted:
            with pytest.raises(RecordingGone):
                lifecycle.delete_recording(recording=row, acting_user=self.user)
            return
        lifecycle.delete_recording(recording=row, acting_user=self.user)
        model.user_deleted = True

    @rule(hours=st.integers(1, 24 * 40))
    def expire(self, hours: int) -> None:
        """Time passes (at most one sweep interval per step in this model), then the sweep runs."""
        self.clock.shift(timedelta(hours=hours))
        lifecycle.sweep_expired(batch_size=3)
        with tenant_scope(self.tenant):
            left = Recording.objects.filter(deleted_at__isnull=True, expires_at__lte=self.now())
            assert not left.exists(), "a due recording survived the sweep"

    @rule(tier=st.sampled_from(["days_30", "days_90", "minutes_100k"]))
    def change_tier(self, tier: str) -> None:
        with committed():
            products.set_playback_subscription(user=self.user, tier=tier)
        self.tier = tier

    # --- invariants ---

    @invariant()
    def due_times_follow_the_rules(self) -> None:
        if not hasattr(self, "recs"):
            return
        now = self.now()
        rows = self.rows()
        for model in self.recs:
            row = rows[model.rec_id]
            if row.is_deleted:
                if model.user_deleted:
                    assert row.deletion_reason == "user_deleted"
                elif row.deletion_reason == ExpiryRule.QUOTA:
                    assert row.saved
                else:
                    assert row.deletion_reason in {"unanswered", "days_30", "days_90"}, row.deletion_reason
                    assert row.deleted_at >= row.expires_at, "deleted before it was due"
                assert row.owner_id is None and row.remote_number == ""
                continue
            assert not model.user_deleted
            if not row.saved:
                assert row.expires_at == model.ended_at + timedelta(days=3)
            elif self.tier in TIER_DAYS:
                assert row.expires_at == model.ended_at + timedelta(days=TIER_DAYS[self.tier])
            else:
                assert row.expires_at is None or row.expires_at <= now  # quota-evicted, awaiting sweep
            if row.expires_at is not None and row.expires_at > now:
                assert not row.is_deleted

    @invariant()
    def quota_holds(self) -> None:
        if not hasattr(self, "recs") or self.tier != "minutes_100k":
            return
        with tenant_scope(self.tenant):
            assert lifecycle.saved_usage_ms(self.user.pk) <= QUOTA_MINUTES * 60_000

    @invariant()
    def storage_and_rows_agree(self) -> None:
        report = reconcile()
        assert report.clean, (report.orphan_objects[:3], report.missing_objects[:3])


@pytest.mark.django_db
def test_lifecycle_state_machine(monkeypatch: pytest.MonkeyPatch, settings, tmp_path) -> None:
    use_file_storage(settings, tmp_path / "recordings")
    monkeypatch.setattr(expiry, "QUOTA_MS", QUOTA_MINUTES * 60_000)
    Lifecycle.TestCase.settings = hypothesis_settings(
        max_examples=15,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Lifecycle.TestCase().runTest()
