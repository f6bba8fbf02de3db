"""The portal's tests read the Dutch catalogue: compile it when the .mo is missing or stale
(``make test`` does this too; *.mo files are not committed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

PO = Path(settings.BASE_DIR) / "locale" / "nl" / "LC_MESSAGES" / "django.po"


@pytest.fixture(autouse=True, scope="session")
def _compiled_messages() -> None:
    mo = PO.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < PO.stat().st_mtime:
        import subprocess

        subprocess.run(["msgfmt", "--check", "-o", str(mo), str(PO)], check=True)
        from django.utils import translation

        translation.trans_real._translations = {}  # type: ignore[attr-defined]
        translation.trans_real._default = None  # type: ignore[attr-defined]
