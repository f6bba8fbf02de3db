"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tenants.models import User
from tests.api.helpers import client_for
from tests.base import Personas


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    """Throttle counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(personas: Personas) -> Callable[[User | None], APIClient]:
    return client_for
