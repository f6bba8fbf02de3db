"""Fixtures for every test; the personas themselves live in tests/base.py."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.base import REAL_SERVICES, Personas, make_personas
from tests.browser import CHROMIUM, HAVE_CHROMIUM


@pytest.fixture(autouse=True)
def _isolated_recordings_storage(tmp_path: Path, settings: object) -> Iterator[None]:
    """On the embedded default each test gets its own recordings folder (and audit seals folder)."""
    if settings.STORAGES["recordings"]["BACKEND"].endswith("FileSystemStorage"):  # type: ignore[attr-defined]
        storages = dict(settings.STORAGES)  # type: ignore[attr-defined]
        for name in ("recordings", "audit"):
            storages[name] = {
                **storages[name],
                "OPTIONS": {**storages[name]["OPTIONS"], "location": str(tmp_path / name)},
            }
        settings.STORAGES = storages  # type: ignore[attr-defined]
        yield
        shutil.rmtree(tmp_path / "recordings", ignore_errors=True)
        shutil.rmtree(tmp_path / "audit", ignore_errors=True)
    else:
        # S3: the seals of each test under a prefix of its own (the bucket outlives the test's
        # database, and a chain's seals must not meet another test's chain of the same name).
        storages = dict(settings.STORAGES)  # type: ignore[attr-defined]
        location = f"{storages['audit']['OPTIONS']['location']}/test-{uuid.uuid4().hex}"
        options = {**storages["audit"]["OPTIONS"], "location": location}
        storages["audit"] = {**storages["audit"], "OPTIONS": options}
        settings.STORAGES = storages  # type: ignore[attr-defined]
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """The cache holds allauth's and DRF's rate-limit counters: no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Tasks run in-process in tests (services are tested directly; tasks are called with ids)."""
    from hiprecorder.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture(autouse=True)
def _english_by_default(settings: object) -> Iterator[None]:
    """Messages outside a person's request (services, support staff's admin) are English in tests,
    so assertions on messages read the same with the Dutch catalogue compiled. Pages of Acme's
    people are still Dutch (their tenant's language): tests that read those ask for either."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"  # type: ignore[attr-defined]
    with translation.override("en"):
        yield


@pytest.fixture
def personas(db: None) -> Personas:
    return make_personas()


@pytest.fixture
def scope_a(personas: Personas) -> Iterator[Tenant]:
    with tenant_scope(personas.tenant_a):
        yield personas.tenant_a


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_real = pytest.mark.skip(reason="needs the real services (HIPRECORDER_REAL_SERVICES=1)")
    for item in items:
        if "real_services" in item.keywords and not REAL_SERVICES:
            item.add_marker(skip_real)


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI the browser tests must run, not skip: a missing Chromium is a failed set-up."""
    import os

    if os.environ.get("CI") == "true" and not HAVE_CHROMIUM:
        raise pytest.UsageError(f"CI needs {CHROMIUM} (scripts/system-deps.sh installs it)")
