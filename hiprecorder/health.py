"""``GET /healthz``: is the database, the recordings storage and the broker reachable; is a
worker alive and is the queue moving?

The answer is ``503`` when the database, the storage or the broker fails: what this web process
needs to take calls. A dead worker or an old queue is reported (``status`` ``degraded``, named in
``failing``) but answers ``200``: the web process can still take the phone system's calls and
audio (they wait, safely, in the outbox), so a load balancer must not take it out of rotation.
Monitoring alerts on ``degraded``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

if TYPE_CHECKING:
    from recordings.models import WorkerHeartbeat


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_storage() -> None:
    storage = storages["recordings"]
    name = storage.save(f"healthz/{uuid.uuid4().hex}", ContentFile(b"ok"))
    try:
        with storage.open(name) as handle:
            if handle.read() != b"ok":
                raise RuntimeError("read back different bytes")
    finally:
        storage.delete(name)


def _check_broker() -> None:
    from hiprecorder.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _heartbeat() -> WorkerHeartbeat | None:
    from recordings.models import WorkerHeartbeat

    return WorkerHeartbeat.objects.filter(pk=1).first()


def _eager() -> bool:
    from hiprecorder.celery import app

    return bool(app.conf.task_always_eager)


def _check_worker() -> dict[str, object]:
    """A worker ran the heartbeat task (sent by beat) within ``WORKER_STALE_SECONDS``."""
    if _eager():
        return {"mode": "eager"}  # tasks run in the web process itself
    beat = _heartbeat()
    if beat is None:
        raise RuntimeError("no worker heartbeat yet (are the worker and beat running?)")
    age = (timezone.now() - beat.ran_at).total_seconds()
    if age > settings.WORKER_STALE_SECONDS:
        raise RuntimeError(f"last worker heartbeat {age:.0f} s ago")
    return {"last_heartbeat_s": round(age, 1)}


def _check_queue() -> dict[str, object]:
    """The heartbeat's wait in the queue, and the oldest call waiting for processing, are both
    within ``QUEUE_MAX_AGE_SECONDS``."""
    from recordings.models import ProcessingOutbox

    limit = settings.QUEUE_MAX_AGE_SECONDS
    beat = None if _eager() else _heartbeat()
    wait = beat.queue_wait_ms / 1000 if beat is not None else 0.0
    oldest = (
        ProcessingOutbox.objects.unscoped()
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    oldest_age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    waiting = ProcessingOutbox.objects.unscoped().count()
    if wait > limit:
        raise RuntimeError(f"the last heartbeat waited {wait:.0f} s in the queue")
    if oldest_age > settings.PROCESSING_DEADLINE_SECONDS + limit:
        raise RuntimeError(f"a call has waited {oldest_age:.0f} s for processing ({waiting} waiting)")
    return {
        "heartbeat_wait_s": round(wait, 1),
        "oldest_call_s": round(oldest_age, 1),
        "calls_waiting": waiting,
    }


CHECKS: dict[str, Callable[[], object]] = {
    "database": _check_database,
    "storage": _check_storage,
    "broker": _check_broker,
}
# Reported, but a failure answers 200 "degraded" (see the module docstring).
BACKGROUND_CHECKS: dict[str, Callable[[], object]] = {
    "worker": _check_worker,
    "queue": _check_queue,
}


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in {**CHECKS, **BACKGROUND_CHECKS}.items():
        if name in BACKGROUND_CHECKS and not results.get("database", {}).get("ok"):
            results[name] = {"ok": False, "error": "unknown: the database is unavailable"}
            continue
        started = time.perf_counter()
        try:
            detail = check()
        except Exception as exc:  # any failure is the answer here, reported by name
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
            if isinstance(detail, dict):
                results[name].update(detail)
    healthy = all(results[name]["ok"] for name in CHECKS)
    degraded = healthy and not all(results[name]["ok"] for name in BACKGROUND_CHECKS)
    body: dict[str, object] = {
        "status": "unavailable" if not healthy else "degraded" if degraded else "ok",
        "checks": results,
    }
    failing = [name for name, r in results.items() if not r["ok"]]
    if failing:
        body["failing"] = failing
    stores = cast(dict[str, dict[str, str]], settings.STORAGES)
    body["backend"] = {
        "database": str(settings.DATABASES["default"]["ENGINE"]).rsplit(".", 1)[-1],
        "broker": str(settings.CELERY_BROKER_URL).split(":", 1)[0],
        "storage": str(stores["recordings"]["BACKEND"]).rsplit(".", 1)[-1],
    }
    return JsonResponse(body, status=200 if healthy else 503)
