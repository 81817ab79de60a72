"""Test support shared by the test folders (not fixtures: plain helpers to import).

- :class:`RecordingPrompt` and :func:`quiet_prompt`: device code prompts for ``connect()``;
- :func:`connect_args` and :func:`emulator_env`: an emulator's settings as ``connect()``
  arguments or as the ``CI_*`` environment variables;
- :func:`api_client`: a plain httpx client on an emulator's API, for cross-checks;
- :func:`isolate_user_settings`: no ``CI_*`` variable, config file or token cache of the
  person running the tests (``tests/conftest.py`` offers it as ``no_user_settings``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ci_toolkit._defaults import ENV_VARS
from ci_toolkit.emulator import Emulator


class RecordingPrompt:
    """A device code prompt remembering what it was shown and the outcome.

    ``on_code(user_code)`` runs for each code shown (e.g. to approve it later).
    """

    def __init__(self, on_code: Callable[[str], object] | None = None) -> None:
        self.calls: list[tuple[str, str, datetime]] = []
        self.waits = 0
        self.outcome: tuple[bool, str] | None = None
        self.on_code = on_code

    def __call__(self, verification_uri: str, user_code: str, expires_on: datetime) -> None:
        self.calls.append((verification_uri, user_code, expires_on))
        if self.on_code is not None:
            self.on_code(user_code)

    @property
    def codes(self) -> list[str]:
        """The user codes shown, in order."""
        return [code for _, code, _ in self.calls]

    def waiting(self, seconds_left: float) -> None:
        self.waits += 1

    def finished(self, *, success: bool, message: str) -> None:
        self.outcome = (success, message)


def quiet_prompt(*args: object) -> None:
    """A device code prompt that shows nothing (the emulator approves the code itself)."""


def connect_args(emu: Emulator, **changes: Any) -> dict[str, Any]:
    """``connect()`` arguments for ``emu``'s public client; ``changes`` override them."""
    s = emu.settings
    values: dict[str, Any] = {
        "tenant_id": s.tenant_id,
        "client_id": s.client_id,
        "subscription_key": s.subscription_key,
        "authority": s.authority,
        "base_url": s.base_url,
        "ca_file": s.ca_file,
        "instance_id": s.instance_id,
    }
    values.update(changes)
    return values


def emulator_env(emu: Emulator) -> dict[str, str]:
    """The ``CI_*`` environment variables that point the toolkit at ``emu``."""
    return {ENV_VARS[name]: str(value) for name, value in connect_args(emu).items()}


def isolate_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config and cache folders under ``tmp_path``, and no ``CI_*`` variable set."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)


def api_client(emu: Emulator, *, role: str = "admin") -> httpx.Client:
    """A plain httpx client on ``emu``'s API with both credentials of a demo ``role`` user.

    Reads the emulator through its own API, independently of the toolkit (the token is
    minted by the emulator and lives an hour).
    """
    s = emu.settings
    return httpx.Client(
        base_url=s.base_url.rstrip("/") + "/",
        verify=s.ssl_context(),
        headers={
            "Authorization": f"Bearer {emu.mint_token(role=role, lifetime=3600)}",
            "Ocp-Apim-Subscription-Key": s.subscription_key,
        },
        timeout=30,
    )
