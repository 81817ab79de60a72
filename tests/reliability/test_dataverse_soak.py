"""A Dataverse bulk read under the soak's faults and 60-second tokens: every row exactly once.

The emulator's injected faults (10% of requests: 429 with ``Retry-After: 1``, 503, a dropped
connection, a 0.5 s response) reach the Dataverse Web API as they reach ``/v1``. The read is
``ci.dataverse.iter_batches`` over the profile table, keyed on ``msdynci_customerid`` (a
String key) with the emulator's SQL Server GUID order; the truth is the emulator's own
store. Bounded: the read (30,000 rows, about 8 s) is repeated until a token refresh (at
half the 60 s token life) fell inside, about 40 s in all; every pass is checked in full.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest

import ci_toolkit
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from tests.dataverse.conftest import dv_args
from tests.reliability.conftest import FAULT_KINDS, FAULT_RATE, customer_ids

ROWS = 30_000
TOKEN_LIFETIME = 60


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(profiles=ROWS, seed=29, token_lifetime=TOKEN_LIFETIME)
    with Emulator(config) as emulator:
        yield emulator


@pytest.fixture
def ci(emu: Emulator) -> Iterator[CustomerInsights]:
    connection = ci_toolkit.connect(**dv_args(emu, v1=False))
    connection.dataverse.columns("msdynci_customerprofile")  # metadata before the faults
    yield connection
    connection.close()
    emu.set_faults(fault_rate=0.0, latency_ms=0)


@pytest.mark.soak
@pytest.mark.timeout(120)
def test_dataverse_bulk_read_is_exact_under_faults_and_expiring_tokens(
    emu: Emulator, ci: CustomerInsights
) -> None:
    truth = customer_ids(emu)
    dv = ci.dataverse
    ordered = dv.query(
        "msdynci_customerprofile", select=["msdynci_customerid"], orderby="msdynci_customerid",
        parallel=False, progress=False,
    )["msdynci_customerid"].tolist()  # fmt: skip
    statuses: list[int] = []
    dv.session.client.event_hooks["response"].append(lambda r: statuses.append(r.status_code))
    tokens_before = emu.aad.tokens_issued
    emu.set_faults(
        fault_rate=FAULT_RATE, kinds=FAULT_KINDS, retry_after=1, slow_seconds=0.5, seed=404
    )
    started = time.monotonic()
    passes = 0
    # Read again until a token refresh (at half the 60 s life) fell inside; every pass checked.
    while passes == 0 or time.monotonic() - started < TOKEN_LIFETIME / 2 + 3:
        batches = list(
            dv.iter_batches(
                "msdynci_customerprofile",
                select=["msdynci_customerid", "msdynci_lastname"],
                key="msdynci_customerid",
                batch_rows=5_000,
                progress=False,
            )
        )
        passes += 1
        ids = pd.concat(batches, ignore_index=True)["msdynci_customerid"].tolist()
        assert len(ids) == len(truth) == ROWS
        assert len(set(ids)) == ROWS  # none twice
        assert set(ids) == set(truth)  # none missing
        assert ids == ordered  # in the service's key order
        assert time.monotonic() - started < 75, f"pass {passes} ends after 75 s"
    emu.set_faults(fault_rate=0.0)
    assert {429, 503} <= set(statuses)  # the faults were met (drops leave no status)
    issued = emu.aad.tokens_issued - tokens_before
    assert 1 <= issued <= 3, f"{issued} tokens for a {passes}-pass read of about 35 s"
