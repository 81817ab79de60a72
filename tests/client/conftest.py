"""Fixtures for the resource layer: a ``CustomerInsights`` on the emulator over real HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.http.session import ApiSession


def make_session(emulator: Emulator, role: str = "admin") -> ApiSession:
    """An ``ApiSession`` on the emulator carrying both credentials of a demo user."""
    settings = emulator.settings
    client = httpx.Client(
        base_url=settings.base_url.rstrip("/") + "/",
        verify=settings.ssl_context(),
        headers={
            "Authorization": f"Bearer {emulator.mint_token(role=role)}",
            "Ocp-Apim-Subscription-Key": settings.subscription_key,
        },
        timeout=30,
    )
    return ApiSession(client)


@pytest.fixture(scope="session")
def ci(emulator: Emulator) -> Iterator[CustomerInsights]:
    """An admin client on the demo production instance (shared: its metadata cache too)."""
    client = CustomerInsights(make_session(emulator), instance_id=emulator.settings.instance_id)
    yield client
    client.close()


@pytest.fixture(scope="session")
def raw(emulator: Emulator) -> Iterator[httpx.Client]:
    """A plain httpx client on the same API, for cross-checking values against the JSON."""
    settings = emulator.settings
    with httpx.Client(
        base_url=settings.base_url.rstrip("/") + "/",
        verify=settings.ssl_context(),
        headers={
            "Authorization": f"Bearer {emulator.mint_token(role='admin')}",
            "Ocp-Apim-Subscription-Key": settings.subscription_key,
        },
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def iid(emulator: Emulator) -> str:
    """The demo production instance id."""
    return emulator.settings.instance_id
