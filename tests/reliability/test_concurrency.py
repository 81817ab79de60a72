"""Several pulls and widgets in one process share one connection, under faults and refreshes.

One ``CustomerInsights`` from ``ci_toolkit.connect`` (one ``httpx.Client``, one MSAL
credential) serves, at the same time: four pulls on their own threads (parallel, page by
page, streamed in batches, segment members), a ``SegmentExplorer`` showing a segment and a
``JobMonitor`` following a refresh job, each widget on its own worker thread, as in a
notebook kernel. Faults are on (10%, as in the soak tests) and access tokens live 6 seconds,
so the credential refreshes every 3 seconds while all of them are in flight. Each result is
compared with a fault-free pull made beforehand on a separate connection, and the token
requests the emulator saw are bounded by the refresh schedule, not by the request count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.odata import F
from ci_toolkit.widgets import JobMonitor, SegmentExplorer
from tests.reliability.conftest import (
    FAULT_KINDS,
    FAULT_RATE,
    FaultLog,
    connect,
    customer_ids,
    faults_off,
    raw_api,
)
from tests.widgets.conftest import IDLE, settle

TOKEN_LIFETIME = 6
SEGMENT = "HighValueCustomers"
IRELAND = F.eq("Country", "Ireland")

Pull = Callable[[CustomerInsights], pd.DataFrame]
PULLS: dict[str, Pull] = {
    "parallel, filtered": lambda ci: ci.query("Customer", filter=IRELAND, progress=False),
    "page by page, two columns": lambda ci: ci.query(
        "Customer", select=["CustomerId", "LastName"], parallel=False, progress=False
    ),
    "streamed batches": lambda ci: pd.concat(
        ci.iter_batches("UnifiedActivity", top=20_000, batch_rows=4_000, progress=False),
        ignore_index=True,
    ),
    "segment members": lambda ci: ci.segment_members(SEGMENT, progress=False),
}


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """6-second access tokens; a refresh of everything takes a few seconds."""
    config = EmulatorConfig(profiles=8_000, seed=53, time_scale=0.2, token_lifetime=TOKEN_LIFETIME)
    with Emulator(config) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def references(emu: Emulator) -> dict[str, pd.DataFrame]:
    """Each pull's result from a connection of its own, faults off, one after another."""
    faults_off(emu)
    with connect(emu) as ref:
        return {name: pull(ref) for name, pull in PULLS.items()}


def test_pulls_and_widgets_share_one_connection_under_faults_and_refreshes(
    emu: Emulator, references: dict[str, pd.DataFrame], fault_log: FaultLog
) -> None:
    expected_ids = customer_ids(emu)
    ci = connect(emu)
    ci.attributes("Customer")
    ci.attributes("UnifiedActivity")
    tokens_before = emu.aad.tokens_issued
    emu.set_faults(
        fault_rate=FAULT_RATE, kinds=FAULT_KINDS, retry_after=1, slow_seconds=0.3, seed=7
    )
    started = time.monotonic()
    explorer = SegmentExplorer(ci, sample=5)
    monitor = JobMonitor(ci, poll_interval=0.1)
    try:
        with ThreadPoolExecutor(len(PULLS), thread_name_prefix="pull") as pool:
            futures = {name: pool.submit(pull, ci) for name, pull in PULLS.items()}
            job = ci.refresh("all", force=True)
            settle(explorer)
            explorer.picker.value = SEGMENT  # shows definition, history and members
            settle(monitor)
            monitor.reload()
            settle(monitor)
            monitor.picker.value = job.job_id  # follows the job until it ends
            results = {name: future.result(timeout=120) for name, future in futures.items()}
        assert explorer.wait_idle(IDLE)
        assert monitor.wait_idle(IDLE)
        seconds = time.monotonic() - started
        faults_off(emu)

        # every pull got exactly its own rows
        for name, frame in results.items():
            pd.testing.assert_frame_equal(frame, references[name], obj=name)
        assert results["page by page, two columns"]["CustomerId"].tolist() == expected_ids
        # the widgets showed what the service holds, and no error
        assert explorer.last_error is None, explorer.last_error
        assert monitor.last_error is None, monitor.last_error
        assert explorer.members.value.count("<tr>") == 1 + 5
        members = set(references["segment members"]["CustomerId"])
        shown = [i for i in members if i in explorer.members.value]
        assert len(shown) == 5
        with raw_api(emu) as api:
            path = f"instances/{emu.settings.instance_id}/workflows/main/jobs/{job.job_id}"
            truth = api.get(path).json()
        assert monitor.job is not None
        assert monitor.job.job_id == job.job_id
        assert monitor.job.status == truth["jobStatus"]  # failed: Google Ads is in "all"
        assert job.job_id in monitor.tasks.value
        assert truth["jobStatus"] in monitor.tasks.value
    finally:
        explorer.close()
        monitor.close()
        ci.close()
        faults_off(emu)

    # faults met, tokens refreshed while everything ran, but once per refresh, not per thread
    assert fault_log.total >= 10, fault_log.kinds
    issued = emu.aad.tokens_issued - tokens_before
    assert seconds > TOKEN_LIFETIME, seconds
    assert 1 <= issued <= seconds / (TOKEN_LIFETIME / 2) + 2, (issued, seconds)
