"""Soak tests' support: clients signed in with real MSAL, fault counting, ground truth.

Every test here runs on 127.0.0.1 against an emulator of its own module (so faults switched
on for one test never reach another suite) and is bounded in time.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

import ci_toolkit
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.emulator.gateway import FaultInjector, FaultSettings
from ci_toolkit.http.retry import RetryPolicy
from tests.support import api_client, connect_args, quiet_prompt

#: 10% of API requests fail, drawn evenly from 429 (Retry-After), 503, drop, slow response.
FAULT_RATE = 0.1
FAULT_KINDS = ("throttle", "unavailable", "drop", "slow")
GATEWAY_LOGGER = "ci_toolkit.emulator.gateway"
INJECTING = "Injecting fault %r into %s %s"
"""The gateway's log line for each fault it injects."""


def connect(emu: Emulator, *, retry_policy: RetryPolicy | None = None) -> CustomerInsights:
    """``ci_toolkit.connect`` to ``emu``: device code sign-in through MSAL, memory token cache.

    Signs in at once, so the first access token is issued before the caller measures.
    """
    return ci_toolkit.connect(
        **connect_args(emu),
        prompt=quiet_prompt,
        token_cache=False,
        emulator=False,
        retry_policy=retry_policy,
    )


def customer_ids(emu: Emulator) -> list[str]:
    """Every ``CustomerId`` in the emulator's own store, sorted (the ground truth)."""
    store = emu.state.instances[emu.settings.instance_id].data
    rows = store.cursor().execute("SELECT CustomerId FROM Customer").fetchall()
    return sorted(str(r[0]) for r in rows)


def faults_off(emu: Emulator) -> None:
    """No latency, rate limit or injected faults."""
    emu.set_faults(latency_ms=0, rate_limit=None, fault_rate=0.0, kinds=FAULT_KINDS)


class FaultLog(logging.Handler):
    """Counts the faults the emulator's gateway says it injected (its INFO log lines)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.kinds: Counter[str] = Counter()
        #: ``(kind, method)`` of every fault, e.g. ``("drop", "POST")``.
        self.requests: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg == INJECTING and isinstance(args, tuple) and len(args) == 3:
            self.kinds[str(args[0])] += 1
            self.requests[(str(args[0]), str(args[1]))] += 1

    @property
    def total(self) -> int:
        """Faults injected so far."""
        return sum(self.kinds.values())


@pytest.fixture
def fault_log() -> Iterator[FaultLog]:
    """The faults injected during the test, by kind (counted on the server side)."""
    handler = FaultLog()
    logger = logging.getLogger(GATEWAY_LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _isolated_environment(no_user_settings: None) -> None:
    """No CI_* settings and no config or cache file of the person running the tests."""


def raw_api(emu: Emulator) -> httpx.Client:
    """A plain httpx client on the emulator's API (use it with faults off)."""
    return api_client(emu)


def seed_where(
    draws: int, wanted: Callable[[list[str | None]], bool], *, rate: float = FAULT_RATE
) -> int:
    """A fault seed whose first ``draws`` draws (one per API request) satisfy ``wanted``.

    Uses the emulator's own :class:`FaultInjector`, so the seed means what the gateway does.
    """
    for seed in range(200_000):
        injector = FaultInjector(FaultSettings(fault_rate=rate, kinds=FAULT_KINDS, seed=seed))
        if wanted([injector.draw_fault() for _ in range(draws)]):
            return seed
    raise AssertionError("no seed gives the faults wanted")


def seed_faulting(nth: int, kind: str | None, *, rate: float = FAULT_RATE) -> int:
    """A fault seed sparing the first ``nth - 1`` API requests and giving the ``nth`` the
    fault ``kind`` (``None``: no fault); the later requests meet faults at ``rate``."""
    return seed_where(nth, lambda d: d == [*([None] * (nth - 1)), kind], rate=rate)
