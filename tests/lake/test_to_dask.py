"""``ci.to_dask`` on a real dask.distributed LocalCluster with worker processes.

The workers sign in from their own environment (client credentials of the emulator's
confidential app, as a cluster would), never from the task graph.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import ci_toolkit
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.exceptions import PullInterruptedError
from ci_toolkit.scale import WorkerConnection, WorkerSignInError
from ci_toolkit.scale import worker as worker_module
from tests.support import RecordingPrompt, connect_args, emulator_env

KEY = "CustomerId"


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[Emulator]:
    """20 ms per request (long enough to kill a worker mid-pull), 5% of requests faulty.

    The faults (429 with Retry-After, 503, dropped connections, slow answers) hit the
    driver's planning and every worker's pull: the toolkit's retries absorb them.
    """
    config = EmulatorConfig(
        profiles=1_500, seed=21, latency_ms=20, fault_rate=0.05, time_scale=0.01
    )
    with Emulator(config) as emu:
        yield emu


@pytest.fixture(scope="module")
def worker_env(
    slow_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The CI_* settings of a service principal, in the environment workers inherit."""
    home = tmp_path_factory.mktemp("worker-home")
    env = {
        **emulator_env(slow_emulator),
        "CI_CLIENT_ID": slow_emulator.settings.confidential_client_id,
        "CI_CLIENT_SECRET": slow_emulator.settings.client_secret,
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield env


@pytest.fixture(scope="module")
def cluster_client(worker_env: dict[str, str]) -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def driver(worker_env: dict[str, str]) -> Iterator[CustomerInsights]:
    """The notebook side: connect() from the same settings (client credentials)."""
    ci = ci_toolkit.connect()
    yield ci
    ci.close()


@pytest.fixture(scope="module")
def expected(driver: CustomerInsights) -> pd.DataFrame:
    return driver.query("Customer", progress=False).sort_values(KEY).reset_index(drop=True)


def test_rows_are_exactly_those_of_query_in_key_order(
    driver: CustomerInsights, cluster_client: Client, expected: pd.DataFrame
) -> None:
    ddf = driver.to_dask("Customer", partition_rows=400)
    assert ddf.npartitions == 4
    assert ddf.dtypes.astype(str).to_dict() == expected.dtypes.astype(str).to_dict()
    got = ddf.compute().reset_index(drop=True)
    assert got[KEY].is_unique
    assert got[KEY].is_monotonic_increasing
    pd.testing.assert_frame_equal(got, expected)


def test_filter_select_and_known_divisions(
    driver: CustomerInsights, cluster_client: Client, expected: pd.DataFrame
) -> None:
    where = "LoyaltyTier eq 'Gold'"
    ddf = driver.to_dask(
        "Customer", filter=where, select=[KEY, "Email"], partition_rows=100, index=True
    )
    assert ddf.known_divisions
    got = ddf.compute()
    want = expected[expected["LoyaltyTier"] == "Gold"].set_index(KEY)[["Email"]]
    pd.testing.assert_frame_equal(got, want)
    assert ddf.divisions[0] == want.index[0]
    assert ddf.divisions[-1] == want.index[-1]
    # column projection: only Email is read back
    assert ddf["Email"].compute().tolist() == want["Email"].tolist()


def test_no_secret_in_the_task_graph(
    driver: CustomerInsights, slow_emulator: Emulator, worker_env: dict[str, str]
) -> None:
    ddf = driver.to_dask("Customer", select=[KEY, "Email"], partition_rows=300)
    graph = cloudpickle.dumps(dict(ddf.__dask_graph__()))
    token = driver.session.credential.get_token()  # type: ignore[union-attr]
    secrets = {
        "subscription key": slow_emulator.settings.subscription_key,
        "client secret": slow_emulator.settings.client_secret,
        "access token": token,
    }
    for what, value in secrets.items():
        assert value, what
        assert value.encode() not in graph, f"the {what} is in the task graph"
    assert b"ci_toolkit.client" not in graph  # no live client or session object either
    assert b"ci_toolkit.http" not in graph
    assert slow_emulator.settings.base_url.encode() in graph  # the coordinates are


def test_a_worker_killed_mid_pull_is_retried_without_duplicates(
    driver: CustomerInsights, cluster_client: Client, expected: pd.DataFrame
) -> None:
    ddf = driver.to_dask("Customer", partition_rows=100)  # 15 ranges of 1 page each
    future = cluster_client.compute(ddf)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until tasks are running on the workers
        if any(cluster_client.processing().values()):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    pids = cluster_client.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    got = future.result(timeout=120).reset_index(drop=True)
    assert got[KEY].is_unique
    pd.testing.assert_frame_equal(got, expected)
    assert victim not in cluster_client.run(os.getpid).values()


def test_a_service_that_stops_answering_reaches_the_notebook_as_the_toolkits_error(
    driver: CustomerInsights,
    cluster_client: Client,
    slow_emulator: Emulator,
    expected: pd.DataFrame,
) -> None:
    """Every connection dropped mid-compute: the workers' pulls give up, and the notebook
    gets the toolkit's own error from the worker process. When the service answers again,
    calling ``to_dask`` again reads exactly the rows, even while the error is still
    referenced: before, a second call built the same Dask keys and got the same error
    back for as long as the notebook held its last traceback."""
    ddf = driver.to_dask("Customer", partition_rows=100)  # planned while the service answers
    # Workers signed in and holding the metadata (another graph: equal keys would be served
    # from the results the scheduler still holds).
    driver.to_dask("Customer", partition_rows=700).compute()
    before = slow_emulator.faults
    slow_emulator.set_faults(fault_rate=1.0, kinds=("drop",))
    try:
        with pytest.raises(PullInterruptedError) as caught:
            ddf.compute()  # as in a notebook cell (the cluster's client is the default)
    finally:
        slow_emulator.set_faults(fault_rate=before.fault_rate, kinds=before.kinds)
    assert "/data/Customer: no answer after" in str(caught.value)
    assert caught.value.entity == "Customer"
    assert "resume" in str(caught.value)  # the message says how to go on
    # Dask keeps the failed keys' error while it is referenced (here by `caught`; in a
    # notebook by the last traceback): a new to_dask call is a new pull with its own keys.
    again = driver.to_dask("Customer", partition_rows=100)
    assert set(again.__dask_keys__()).isdisjoint(ddf.__dask_keys__())
    got = again.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)


def test_a_worker_without_credentials_says_how_to_give_them(
    slow_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s = slow_emulator.settings
    connection = WorkerConnection(
        base_url=s.base_url,
        authority=s.authority,
        client_id=s.client_id,  # the public client: it would need a device code
        instance_id=s.instance_id,
        tenant_id=s.tenant_id,
        ca_file=str(s.ca_file),
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CI_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("CI_SUBSCRIPTION_KEY", raising=False)
    monkeypatch.setattr(worker_module, "_clients", {})
    with pytest.raises(WorkerSignInError, match=r"incomplete settings.*CI_SUBSCRIPTION_KEY"):
        worker_module.worker_client(connection)
    monkeypatch.setenv("CI_SUBSCRIPTION_KEY", s.subscription_key)
    with pytest.raises(WorkerSignInError, match=r"device code.*CI_CLIENT_SECRET") as err:
        worker_module.worker_client(connection)
    assert s.subscription_key not in str(err.value)


def test_on_one_machine_workers_sign_in_silently_from_the_token_cache(
    slow_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The user signed in with a device code in the notebook; a worker finds the token."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CI_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("CI_CLIENT_ID", slow_emulator.settings.client_id)
    monkeypatch.setattr(worker_module, "_clients", {})
    prompts = RecordingPrompt()
    notebook = ci_toolkit.connect(**connect_args(slow_emulator), prompt=prompts)
    try:
        assert len(prompts.codes) == 1
        connection = WorkerConnection.from_client(notebook)
        worker = worker_module.worker_client(connection)  # would raise if it had to prompt
        assert len(worker.query("Customer", top=3, progress=False)) == 3
        worker.close()
    finally:
        notebook.close()


def test_lake_tables_read_on_the_cluster(exported: Path, cluster_client: Client) -> None:
    """ci_toolkit.lake's Dask reader on worker processes: one partition per file."""
    from ci_toolkit.lake import open_export

    lake = open_export(exported)
    ddf = lake.to_dask("Customer")
    assert ddf.npartitions == len(lake.partitions("Customer")) == 3
    got = cluster_client.compute(ddf).result(timeout=60).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, lake.read("Customer"))
