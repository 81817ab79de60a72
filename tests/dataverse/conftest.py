"""Fixtures of the Dataverse path tests: connections to the session emulator over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import ci_toolkit
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from tests.support import connect_args, quiet_prompt


def dv_args(emu: Emulator, *, v1: bool = True, **changes: Any) -> dict[str, Any]:
    """``connect()`` arguments for both paths (or Dataverse alone with ``v1=False``)."""
    args = connect_args(emu, dataverse_url=emu.settings.dataverse_url, token_cache=False)
    if not v1:
        for name in ("subscription_key", "base_url", "instance_id"):
            args.pop(name)
    args.setdefault("prompt", quiet_prompt)
    args.update(changes)
    return args


@pytest.fixture(scope="module")
def both(emulator: Emulator) -> Iterator[CustomerInsights]:
    """One connection with both paths (v1 the default), shared by a module's tests."""
    ci = ci_toolkit.connect(**dv_args(emulator))
    yield ci
    ci.close()


@pytest.fixture(scope="module")
def dv_only(emulator: Emulator) -> Iterator[CustomerInsights]:
    """One Dataverse-only connection (no subscription key)."""
    ci = ci_toolkit.connect(**dv_args(emulator, v1=False))
    yield ci
    ci.close()


@pytest.fixture
def restore_roles(emulator: Emulator) -> Iterator[None]:
    """Give every demo principal its derived Dataverse roles back after the test."""
    yield
    for who in ("admin", "contributor", "viewer", "app"):
        emulator.dataverse.set_security_roles(who, None)
