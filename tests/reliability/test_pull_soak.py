"""A 100,000-row pull under 10% injected faults and 60-second access tokens: exactly once.

One emulator with exactly 100,000 ``Customer`` profiles and a token lifetime of 60 s. Each
test signs in with real MSAL (device code, auto-approved), switches on 10% faults drawn
evenly from 429 with ``Retry-After``, 503, dropped connections and slow responses, pulls the
whole table and compares its keys with the emulator's own store: none missing, none twice.

Token expiry: the client refreshes a token at half its life (30 s here), silently, with the
refresh token. Each pull is long enough (the injected ``Retry-After`` waits alone add up to
about 30 s; on a machine fast enough to finish sooner the pull runs again) that the
emulator's token endpoint must issue a new token while rows are being pulled; the test counts
the tokens on the emulator, so pulls that never reach a refresh fail, and so do refreshes per
request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.odata import F
from tests.reliability.conftest import (
    FAULT_KINDS,
    FAULT_RATE,
    FaultLog,
    connect,
    customer_ids,
    faults_off,
)

ROWS = 100_000
SEQUENTIAL_ROWS = 40_000
TOKEN_LIFETIME = 60
#: Pulls a test runs at most while waiting for the client's first token refresh.
MAX_PULLS = 3


@pytest.fixture(scope="module")
def big() -> Iterator[Emulator]:
    """An emulator whose ``Customer`` entity has exactly 100,000 rows; 60-second tokens."""
    config = EmulatorConfig(profiles=ROWS, seed=23, token_lifetime=TOKEN_LIFETIME)
    with Emulator(config) as emu:
        yield emu


@pytest.fixture(scope="module")
def truth(big: Emulator) -> list[str]:
    """The emulator's own keys, read from its store (not through the API)."""
    ids = customer_ids(big)
    assert len(ids) == len(set(ids)) == ROWS
    return ids


@pytest.fixture
def ci(big: Emulator) -> Iterator[CustomerInsights]:
    """A freshly signed-in client (its first token issued now), faults off before and after."""
    faults_off(big)
    client = connect(big)
    client.attributes("Customer")  # sign in and read the metadata before the faults start
    yield client
    faults_off(big)
    client.close()


def _faults_on(emu: Emulator, seed: int) -> None:
    emu.set_faults(
        fault_rate=FAULT_RATE, kinds=FAULT_KINDS, retry_after=1, slow_seconds=0.5, seed=seed
    )


def _check_exact(ids: list[str], truth: list[str], *, ordered: bool) -> None:
    assert len(ids) == len(truth), len(ids)
    assert len(set(ids)) == len(ids), "rows came twice"
    assert set(ids) == set(truth), "rows are missing"
    if ordered:
        assert ids == truth  # and in key order


def _soak(
    emu: Emulator,
    fault_log: FaultLog,
    pull: Callable[[], list[str]],
    *,
    expected: list[str],
    ordered: bool,
    seed: int,
) -> None:
    """Run ``pull`` under the faults until the emulator has issued a new token meanwhile.

    One pull lasts longer than the 30 s after which the client refreshes its token on this
    machine; on a machine fast enough to finish sooner the pull runs again (each run is
    checked in full), at most ``MAX_PULLS`` times.
    """
    tokens_before = emu.aad.tokens_issued
    _faults_on(emu, seed)
    started = time.monotonic()
    pulls = 0
    while pulls < MAX_PULLS:
        ids = pull()
        pulls += 1
        _check_exact(ids, expected, ordered=ordered)
        if emu.aad.tokens_issued > tokens_before:
            break
    seconds = time.monotonic() - started
    faults_off(emu)
    # Every kind of fault happened, at about the rate asked for.
    for kind in FAULT_KINDS:
        assert fault_log.kinds[kind] >= 3, fault_log.kinds
    assert fault_log.total >= FAULT_RATE * pulls * len(expected) / 100 * 0.6, fault_log.kinds
    # The pull outlived the first token's refresh point: the emulator issued new tokens,
    # once per refresh, not per request or per thread.
    issued = emu.aad.tokens_issued - tokens_before
    assert issued >= 1, f"no token was issued in {seconds:.0f} s of pulling"
    assert issued <= seconds / (TOKEN_LIFETIME / 2) + 2, (issued, seconds)


def test_query_pulls_100k_rows_exactly_once_under_faults_and_expiring_tokens(
    big: Emulator, truth: list[str], ci: CustomerInsights, fault_log: FaultLog
) -> None:
    def pull() -> list[str]:
        df = ci.query("Customer", progress=False)  # the default: parallel key ranges
        assert df.index.equals(pd.RangeIndex(ROWS))
        return df["CustomerId"].tolist()

    _soak(big, fault_log, pull, expected=truth, ordered=True, seed=101)


def test_iter_batches_streams_100k_rows_exactly_once_under_faults_and_expiring_tokens(
    big: Emulator, truth: list[str], ci: CustomerInsights, fault_log: FaultLog
) -> None:
    def pull() -> list[str]:
        batches = list(ci.iter_batches("Customer", batch_rows=30_000, progress=False))
        assert [len(b) for b in batches] == [30_000, 30_000, 30_000, 10_000]
        return [i for b in batches for i in b["CustomerId"]]

    _soak(big, fault_log, pull, expected=truth, ordered=True, seed=202)


def test_page_by_page_pull_gets_every_row_once_under_faults_and_expiring_tokens(
    big: Emulator, truth: list[str], ci: CustomerInsights, fault_log: FaultLog
) -> None:
    # One nextLink after another: each failure costs its full wait, nothing overlaps, so a
    # 100,000-row pull would take minutes; a filter selects exactly the first 40,000 keys.
    def pull() -> list[str]:
        where = F.lt("CustomerId", truth[SEQUENTIAL_ROWS])
        df = ci.query("Customer", filter=where, parallel=False, progress=False)
        return df["CustomerId"].tolist()

    _soak(big, fault_log, pull, expected=truth[:SEQUENTIAL_ROWS], ordered=False, seed=303)
