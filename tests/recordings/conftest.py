"""Fixtures of the telephony-interface tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.test import Client

from tenants import services
from tests.base import Personas
from tests.recordings import rpi_support
from tests.recordings.rpi_support import Pbx


class CommittingClient(Client):
    """A test client whose requests run their on-commit callbacks (task sends) when they return,
    as they would after a real request's transaction commits."""

    capture: Callable[..., AbstractContextManager[Any]]

    def request(self, **request: Any) -> Any:
        with self.capture(execute=True):
            return super().request(**request)


@pytest.fixture
def pbx_key(personas: Personas) -> str:
    return services.create_pbx_key(tenant=personas.tenant_a, name="PBX A").secret


@pytest.fixture
def pbx_key_b(personas: Personas) -> str:
    return services.create_pbx_key(tenant=personas.tenant_b, name="PBX B").secret


@pytest.fixture
def pbx(pbx_key: str, personas: Personas, django_capture_on_commit_callbacks: Any) -> Iterator[Pbx]:
    client = CommittingClient()
    client.capture = django_capture_on_commit_callbacks
    rpi_support.PREFIX["value"] = f"tenants/{personas.tenant_a.id}"
    yield Pbx(client, pbx_key)
    rpi_support.PREFIX["value"] = ""


@pytest.fixture
def pbx_b(pbx_key_b: str, django_capture_on_commit_callbacks: Any) -> Iterator[Pbx]:
    client = CommittingClient()
    client.capture = django_capture_on_commit_callbacks
    yield Pbx(client, pbx_key_b)
