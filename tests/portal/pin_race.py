"""Separate processes typing wrong share PINs at once, on the embedded default's SQLite file.

Run by ``tests/portal/test_share_pins.py`` (never by pytest itself), with ``DATA_DIR`` naming a
fresh folder whose database has been migrated:

    python -m tests.portal.pin_race setup            -> prints the share's id
    python -m tests.portal.pin_race fire ID THREADS TRIES GO P
        -> THREADS threads wait for the file GO, then each types TRIES wrong PINs (from addresses
           10.P.thread.try); prints "ready", then a JSON line: PINs judged and the verdicts
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def setup() -> str:
    from recordings import social
    from tenants import services
    from tenants.models import ProcessingRegister, Role
    from tenants.scoping import tenant_scope
    from tests.factories import make_recording

    tenant = services.create_tenant(name="Race BV", slug="race", country="NL", language="nl")
    with tenant_scope(tenant):
        ProcessingRegister.objects.create(tenant=tenant, purpose="Test.", legitimate_interest="Test.")
    owner = services.create_user(
        tenant=tenant, username="owner", password="x" * 20, role=Role.USER, pbx_id="1"
    )
    services.set_licence(user=owner, mode="always")
    recording = make_recording(owner, with_audio=False)
    return str(social.create_share(recording=recording, acting_user=owner, pin="2468").share.pk)


def fire_at_once(
    share: Any, *, threads: int, tries: int, wait: Callable[[], object], process: int = 0
) -> dict[str, Any]:
    """``threads`` threads (each with its own database connection) wait for ``wait()``, then each
    types ``tries`` wrong PINs one after another, each try from another address. Returns how many
    PINs were judged (hashed and compared) and the verdicts."""
    from django.db import connection

    from recordings import social

    judged = 0
    lock = threading.Lock()
    real_check = social.check_password

    def counting_check(password: str, encoded: str) -> bool:
        nonlocal judged
        with lock:
            judged += 1
        return real_check(password, encoded)

    verdicts: list[str] = []

    def run(i: int) -> None:
        try:
            wait()
            for k in range(tries):
                ip = f"10.{process}.{i}.{k + 1}"
                verdict = str(social.check_share_pin(share=share, pin="0000", client_ip=ip).verdict)
                with lock:
                    verdicts.append(verdict)
        except Exception as exc:  # reported in the verdicts
            with lock:
                verdicts.append(f"error: {exc!r}")
        finally:
            connection.close()

    social.check_password = counting_check  # type: ignore[assignment]
    try:
        workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        print("ready", flush=True)
        for worker in workers:
            worker.join()
    finally:
        social.check_password = real_check  # type: ignore[assignment]
    return {"judged": judged, "verdicts": dict(Counter(verdicts))}


def _wait_for(go: Path) -> None:
    while not go.exists():
        time.sleep(0.01)


if __name__ == "__main__":
    _django()
    if sys.argv[1] == "setup":
        print(setup())
    else:
        from recordings.models import ShareLink

        _cmd, share_id, threads, tries, go, process = sys.argv[1:7]
        share = ShareLink.objects.unscoped().select_related("tenant", "recording").get(pk=share_id)
        result = fire_at_once(
            share,
            threads=int(threads),
            tries=int(tries),
            wait=lambda: _wait_for(Path(go)),
            process=int(process),
        )
        print(json.dumps(result), flush=True)
