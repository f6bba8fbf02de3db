"""Separate processes typing wrong share PINs at once, on the embedded default's SQLite file.

Run by ``tests/portal/test_share_pins.py`` (never by pytest itself), with ``DATA_DIR`` naming a
fresh folder whose database has been migrated:

    python -m tests.portal.pin_race setup            -> prints the share's id
    python -m tests.portal.pin_race fire ID N GO     -> N threads wait for the file GO, then each
                                                        types one wrong PIN; prints a JSON line
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path


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


def fire(share_id: str, n: int, go: Path, process: int) -> dict[str, object]:
    from django.db import connection

    from recordings import social
    from recordings.models import ShareLink

    share = ShareLink.objects.unscoped().select_related("tenant", "recording").get(pk=share_id)
    judged = 0
    lock = threading.Lock()
    real_check = social.check_password

    def counting_check(password: str, encoded: str) -> bool:
        nonlocal judged
        with lock:
            judged += 1
        return real_check(password, encoded)

    social.check_password = counting_check  # type: ignore[assignment]
    verdicts: list[str] = [""] * n

    def run(i: int) -> None:
        try:
            while not go.exists():
                time.sleep(0.01)
            ip = f"10.{process}.{i}.1"
            verdicts[i] = str(social.check_share_pin(share=share, pin="0000", client_ip=ip).verdict)
        except Exception as exc:  # reported in the verdicts
            verdicts[i] = f"error: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    for thread in threads:
        thread.join()
    return {"judged": judged, "verdicts": dict(Counter(verdicts))}


if __name__ == "__main__":
    _django()
    if sys.argv[1] == "setup":
        print(setup())
    else:
        _cmd, share_id, n, go, process = sys.argv[1:6]
        print(json.dumps(fire(share_id, int(n), Path(go), int(process))), flush=True)
