"""Fixtures shared by every test folder: one real HTTPS emulator per session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ci_toolkit.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """A running emulator on 127.0.0.1 with small demo data and fast jobs."""
    with Emulator(EmulatorConfig(profiles=1_000, seed=7, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    """An httpx client for the emulator's API carrying both credentials of an admin."""
    settings = emulator.settings
    headers = {
        "Authorization": f"Bearer {emulator.mint_token(role='admin')}",
        "Ocp-Apim-Subscription-Key": settings.subscription_key,
    }
    with httpx.Client(
        base_url=settings.base_url, verify=settings.ssl_context(), headers=headers, timeout=30
    ) as client:
        yield client


@pytest.fixture
def instance_id(emulator: Emulator) -> str:
    """The demo production instance."""
    return emulator.settings.instance_id
