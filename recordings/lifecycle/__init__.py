"""What happens to a recording after it is made: keep or delete, retention tiers, expiry.

One room per job:

- :mod:`~recordings.lifecycle.expiry`: the rules (when a recording is due, the tiers, the quota,
  the 3-day decision window, :func:`expiry_of`) and the rule names;
- :mod:`~recordings.lifecycle.deletion`: the one way to delete a recording (storage objects
  first, then the row as a tombstone), :func:`delete_recording_objects`;
- :mod:`~recordings.lifecycle.sweep`: the expiry sweep across tenants, :func:`sweep_expired`;
- :mod:`~recordings.lifecycle.decisions`: keep/delete by the user, the quota, and the hooks the
  capture and product changes call (``on_*``);
- :mod:`~recordings.lifecycle.tasks`: the Celery task of the sweep (not imported here).

The names other modules use are re-exported here, so ``from recordings import lifecycle`` and
``lifecycle.keep_recording(...)`` keep working.
"""

from __future__ import annotations

from recordings.lifecycle.decisions import (
    delete_recording,
    keep_recording,
    on_playback_ready,
    on_recording_ready,
    on_retention_changed,
    on_subscription_removed,
    on_tier_changed,
    quota_counted,
    saved_playbacks,
    saved_usage_ms,
    tier_expiry,
    unsubscribed_capped,
)
from recordings.lifecycle.deletion import (
    SWEEP_BATCH,
    DeletionResult,
    delete_recording_objects,
    delete_storage_objects,
)
from recordings.lifecycle.expiry import (
    DECISION_WINDOW,
    QUOTA_MINUTES,
    QUOTA_MS,
    QUOTA_WARNING_FRACTION,
    TIER_DAYS,
    UNSUBSCRIBED_GRACE,
    DeletionReason,
    ExpiryRule,
    RecordingGone,
    expiry_of,
    retention_expiry,
)
from recordings.lifecycle.sweep import SweepResult, claim_and_tombstone_sql, sweep_expired

__all__ = [
    "DECISION_WINDOW",
    "QUOTA_MINUTES",
    "QUOTA_MS",
    "QUOTA_WARNING_FRACTION",
    "SWEEP_BATCH",
    "TIER_DAYS",
    "UNSUBSCRIBED_GRACE",
    "DeletionReason",
    "DeletionResult",
    "ExpiryRule",
    "RecordingGone",
    "SweepResult",
    "claim_and_tombstone_sql",
    "delete_recording",
    "delete_recording_objects",
    "delete_storage_objects",
    "expiry_of",
    "keep_recording",
    "on_playback_ready",
    "on_recording_ready",
    "on_retention_changed",
    "on_subscription_removed",
    "on_tier_changed",
    "quota_counted",
    "retention_expiry",
    "saved_playbacks",
    "saved_usage_ms",
    "sweep_expired",
    "tier_expiry",
    "unsubscribed_capped",
]
