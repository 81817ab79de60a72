"""Fixtures for the resource layer: a ``CustomerInsights`` on the emulator over real HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.http.session import ApiSession
from tests.support import api_client


def make_session(emulator: Emulator, role: str = "admin") -> ApiSession:
    """An ``ApiSession`` on the emulator carrying both credentials of a demo user."""
    return ApiSession(api_client(emulator, role=role))


@pytest.fixture(scope="session")
def ci(emulator: Emulator) -> Iterator[CustomerInsights]:
    """An admin client on the demo production instance (shared: its metadata cache too)."""
    client = CustomerInsights(make_session(emulator), instance_id=emulator.settings.instance_id)
    yield client
    client.close()


@pytest.fixture(scope="session")
def raw(emulator: Emulator) -> Iterator[httpx.Client]:
    """A plain httpx client on the same API, for cross-checking values against the JSON."""
    with api_client(emulator) as client:
        yield client


@pytest.fixture(scope="session")
def iid(emulator: Emulator) -> str:
    """The demo production instance id."""
    return emulator.settings.instance_id
