"""A 100,000-row pull under 10% injected faults and 60-second access tokens: exactly once.

One emulator with exactly 100,000 ``Customer`` profiles and a token lifetime of 60 s. Each
test signs in with real MSAL (device code, auto-approved), switches on 10% faults drawn
evenly from 429 with ``Retry-After``, 503, dropped connections and slow responses, pulls the
whole table and compares its keys with the emulator's own store: none missing, none twice.

Token expiry: the client refreshes a token at half its life (30 s here), silently, with the
refresh token. Each pull is long enough (the injected ``Retry-After`` waits alone add up to
more than 30 s) that the emulator's token endpoint must issue a new token during the pull;
the test counts that on the emulator, so a pull that never outlived a token fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

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
#: A request for each page plus planning and retries: at least this many pass the gateway.
MIN_REQUESTS = ROWS // 100


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


def _check_faults_and_tokens(
    emu: Emulator,
    fault_log: FaultLog,
    tokens_before: int,
    seconds: float,
    *,
    requests: int = MIN_REQUESTS,
) -> None:
    # Every kind of fault happened, at about the rate asked for.
    for kind in FAULT_KINDS:
        assert fault_log.kinds[kind] >= 3, fault_log.kinds
    assert fault_log.total >= FAULT_RATE * requests * 0.6, fault_log.kinds
    # The pull outlived the first token's refresh point: the emulator issued new tokens.
    issued = emu.aad.tokens_issued - tokens_before
    assert seconds > TOKEN_LIFETIME / 2, f"the pull took {seconds:.0f} s: no refresh was due"
    assert issued >= 1, f"no token was issued during a {seconds:.0f} s pull"
    assert issued <= seconds / (TOKEN_LIFETIME / 2) + 2, issued  # refreshed, not per request


def _check_exact(ids: pd.Series, truth: list[str], *, ordered: bool) -> None:
    assert len(ids) == len(truth), len(ids)
    assert ids.is_unique
    assert set(ids) == set(truth)
    if ordered:
        assert ids.tolist() == truth  # and in key order


def test_query_pulls_100k_rows_exactly_once_under_faults_and_expiring_tokens(
    big: Emulator, truth: list[str], ci: CustomerInsights, fault_log: FaultLog
) -> None:
    tokens_before = big.aad.tokens_issued
    _faults_on(big, seed=101)
    started = time.monotonic()
    df = ci.query("Customer", progress=False)  # the default: parallel key ranges
    seconds = time.monotonic() - started
    faults_off(big)
    _check_exact(df["CustomerId"], truth, ordered=True)
    assert df.index.equals(pd.RangeIndex(ROWS))
    _check_faults_and_tokens(big, fault_log, tokens_before, seconds)


def test_iter_batches_streams_100k_rows_exactly_once_under_faults_and_expiring_tokens(
    big: Emulator, truth: list[str], ci: CustomerInsights, fault_log: FaultLog
) -> None:
    tokens_before = big.aad.tokens_issued
    _faults_on(big, seed=202)
    started = time.monotonic()
    sizes: list[int] = []
    keys: list[str] = []
    for batch in ci.iter_batches("Customer", batch_rows=30_000, progress=False):
        sizes.append(len(batch))
        keys.extend(batch["CustomerId"])
    seconds = time.monotonic() - started
    faults_off(big)
    assert sizes == [30_000, 30_000, 30_000, 10_000]
    _check_exact(pd.Series(keys), truth, ordered=True)
    _check_faults_and_tokens(big, fault_log, tokens_before, seconds)


def test_page_by_page_pull_gets_every_row_once_under_faults_and_expiring_tokens(
    big: Emulator, truth: list[str], ci: CustomerInsights, fault_log: FaultLog
) -> None:
    # One nextLink after another: each failure costs its full wait, nothing overlaps, so a
    # 100,000-row pull would take minutes; a filter selects exactly the first 40,000 keys.
    expected = truth[:SEQUENTIAL_ROWS]
    tokens_before = big.aad.tokens_issued
    _faults_on(big, seed=303)
    started = time.monotonic()
    df = ci.query(
        "Customer",
        filter=F.lt("CustomerId", truth[SEQUENTIAL_ROWS]),
        parallel=False,
        progress=False,
    )
    seconds = time.monotonic() - started
    faults_off(big)
    _check_exact(df["CustomerId"], expected, ordered=False)
    _check_faults_and_tokens(
        big, fault_log, tokens_before, seconds, requests=SEQUENTIAL_ROWS // 100
    )
