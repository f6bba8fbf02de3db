"""``GET /healthz``: is the database, the recordings storage and the broker reachable?"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


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


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "storage": _check_storage,
    "broker": _check_broker,
}


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure is the answer here, reported by name
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    healthy = all(r["ok"] for r in results.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": results}
    if not healthy:
        body["failing"] = [name for name, r in results.items() if not r["ok"]]
    body["backend"] = {
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "broker": settings.CELERY_BROKER_URL.split(":", 1)[0],
        "storage": settings.STORAGES["recordings"]["BACKEND"].rsplit(".", 1)[-1],
    }
    return JsonResponse(body, status=200 if healthy else 503)
