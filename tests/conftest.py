"""Fixtures shared by every test folder: one real HTTPS emulator per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.support import api_client, isolate_user_settings


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """A running emulator on 127.0.0.1 with small demo data and fast jobs."""
    with Emulator(EmulatorConfig(profiles=1_000, seed=7, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    """An httpx client for the emulator's API carrying both credentials of an admin."""
    with api_client(emulator) as client:
        yield client


@pytest.fixture
def instance_id(emulator: Emulator) -> str:
    """The demo production instance."""
    return emulator.settings.instance_id


@pytest.fixture
def no_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``CI_*`` variable, config file or token cache of the person running the tests."""
    isolate_user_settings(tmp_path, monkeypatch)
