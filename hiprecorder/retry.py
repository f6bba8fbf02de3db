"""What Celery tasks retry: transient database, broker and storage errors, with backoff.

Imported by the task modules only (the worker), so the web process does not load botocore for it
(``hiprecorder.faults`` recognises the same faults without importing it).
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from hiprecorder.faults import INFRASTRUCTURE

try:  # the embedded default runs without the redis client
    import redis.exceptions

    _REDIS: tuple[type[BaseException], ...] = (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    )
except ImportError:  # pragma: no cover
    _REDIS = ()

# Infrastructure faults (database, broker, S3 connection), and storage hiccups (disk, S3
# 5xx/throttling). A broken upload or a bug is not retried.
TRANSIENT: tuple[type[BaseException], ...] = (
    *INFRASTRUCTURE,
    *_REDIS,
    OSError,
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
)

# Options of every task without its own retry logic: exponential backoff with jitter (about 5 s,
# 10 s, … capped at 10 min). The tasks are idempotent (claims, batches, status fields), so a
# retry after a partial run is safe.
RETRY_OPTIONS: dict[str, Any] = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 6,
}
