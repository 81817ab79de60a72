"""Fixtures of the Dataverse Web API tests: clients on the session emulator's org URL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ci_toolkit.emulator import Emulator
from tests.emulator.dataverse.helpers import dataverse_client


@pytest.fixture
def dv(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client of the demo viewer (who holds the Customer Insights read roles)."""
    with dataverse_client(emulator) as client:
        yield client


@pytest.fixture
def restore_dataverse(emulator: Emulator) -> Iterator[None]:
    """Put the session emulator's roles, limits and GUID order back after a test."""
    service = emulator.dataverse
    limits, order = service.protection.limits, service.guid_order
    yield
    service.protection.configure(**vars(limits))
    service.guid_order = order
    for who in ("admin", "contributor", "viewer", "app"):
        service.set_security_roles(who, None)
    emulator.set_faults(latency_ms=0.0, fault_rate=0.0)
