"""Fixtures of the security tests: an emulator of their own, every secret it hands out, and a
DEBUG log capture over all loggers (ci_toolkit, httpx, httpcore, msal, urllib3, the emulator).

The secrets are the emulator's known demo values (both subscription keys, the client secret)
and everything issued while a test runs: each access and ID token the emulated Azure AD mints
(recorded by wrapping its token service, which changes nothing it does), each refresh token
and each device code (read from the emulated Azure AD).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import ci_toolkit
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.support import connect_args, quiet_prompt

#: ci-toolkit's connection settings (CI_TENANT_ID, ...): none may leak in from outside.

#: The start of a JSON web token (header and payload are JSON objects), whoever issued it.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")

#: Loggers that must be heard at DEBUG (httpx logs every request URL at INFO).
LOGGERS = ("", "ci_toolkit", "httpx", "httpcore", "msal", "urllib3", "uvicorn", "starlette")

#: How much of a secret counts as a leak (a prefix shown in a log line is one).
PREFIX = 16


@dataclass
class Secrets:
    """Every secret value of one test, by kind (``subscription_key``, ``access_token``...)."""

    emulator: Emulator
    minted: dict[str, set[str]] = field(default_factory=dict)
    extra: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, *values: str | None) -> None:
        """Remember further secret values (a wrong key, a wrong client secret)."""
        self.extra.setdefault(kind, set()).update(v for v in values if v)

    def by_kind(self) -> dict[str, set[str]]:
        """All secrets known now: demo values, issued tokens and codes, extras."""
        directory = self.emulator.state.directory
        aad = self.emulator.aad
        kinds: dict[str, set[str]] = {
            "subscription_key": set(directory.subscription_keys),
            "client_secret": {directory.confidential_client.secret or ""},
            "refresh_token": set(aad._refresh_tokens),
            "device_code": set(aad._flows),
        }
        for source in (self.minted, self.extra):
            for kind, values in source.items():
                kinds.setdefault(kind, set()).update(values)
        return {k: {v for v in values if len(v) >= PREFIX} for k, values in kinds.items()}

    def findings(self, texts: Iterable[str]) -> list[tuple[str, str, int]]:
        """``(kind, secret, text number)`` for each secret (or its first characters) found;
        kind ``jwt`` (and secret ``""``) for any JSON web token."""
        secrets = self.by_kind()
        found = []
        for number, text in enumerate(texts):
            for kind, values in secrets.items():
                found += [(kind, v, number) for v in values if v[:PREFIX] in text]
            if JWT.search(text):
                found.append(("jwt", "", number))
        return found

    def found_in(self, texts: Iterable[str]) -> list[str]:
        """What leaked, readably: ``kind in text #n: <start of the text>``."""
        texts = list(texts)
        return [f"{k} in text #{n}: {texts[n][:300]!r}" for k, _, n in self.findings(texts)]


@pytest.fixture(scope="package")
def vault() -> Iterator[Emulator]:
    """The security tests' emulator (auto-approves device codes as the demo admin)."""
    with Emulator(EmulatorConfig(profiles=300, seed=11, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _isolated(no_user_settings: None) -> None:
    """No CI_* settings and no config or cache file of the person running the tests."""


@pytest.fixture
def secrets(vault: Emulator, monkeypatch: pytest.MonkeyPatch) -> Secrets:
    """The test's secrets; every token the emulator mints from now on is added."""
    found = Secrets(vault)
    tokens = vault.state.tokens

    def recording(kind: str, mint: Callable[..., str]) -> Callable[..., str]:
        def wrapper(*args: Any, **kwargs: Any) -> str:
            token = mint(*args, **kwargs)
            found.minted.setdefault(kind, set()).add(token)
            return token

        return wrapper

    monkeypatch.setattr(
        tokens, "mint_access_token", recording("access_token", tokens.mint_access_token)
    )
    monkeypatch.setattr(tokens, "mint_id_token", recording("id_token", tokens.mint_id_token))
    return found


class Capture(logging.Handler):
    """Keeps every record, formatted with its name, level and any traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def debug_log() -> Iterator[Capture]:
    """A root handler at DEBUG; the listed loggers are lowered to DEBUG while it listens."""
    handler = Capture()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def connect(emu: Emulator, **changes: Any) -> CustomerInsights:
    """``ci_toolkit.connect()`` to ``emu`` (token cache in the test's folder unless off)."""
    values = connect_args(
        emu,
        prompt=quiet_prompt,
        emulator=False,
        config_file=Path("/nonexistent/ci-toolkit/config.toml"),
    )
    values.update(changes)
    return ci_toolkit.connect(**values)
