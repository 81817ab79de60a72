"""The data-out export written to Azurite through adlfs and read back as a user reads Azure.

Azurite is started only through ``tests.lake.azurite.azurite``, on 127.0.0.1 with
``--disableTelemetry`` (it would otherwise try to send telemetry to an outside host).
"""

from __future__ import annotations

from collections.abc import Iterator

import cloudpickle
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.http.session import ApiSession
from ci_toolkit.lake import ExportFolder, LakeError, open_export
from tests.lake.azurite import KEY, azurite, connection_string, require_azurite
from tests.lake.conftest import LAKE_EXPORT
from tests.support import api_client

CONTAINER = "customerinsights"


@pytest.fixture(scope="module")
def blob_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = require_azurite()
    with azurite(binary, tmp_path_factory.mktemp("azurite")) as port:
        yield port


@pytest.fixture(scope="module")
def options(blob_port: int) -> dict[str, str]:
    return {"connection_string": connection_string(blob_port)}


@pytest.fixture(scope="module")
def blob_emulator(options: dict[str, str]) -> Iterator[Emulator]:
    """An emulator whose --output-dir is the abfs:// container on Azurite."""
    config = EmulatorConfig(
        profiles=700,
        seed=16,
        time_scale=0.01,
        output_dir=f"abfs://{CONTAINER}",
        output_options=options,
        lake_partition_rows=300,
    )
    with Emulator(config) as emu:
        yield emu


@pytest.fixture(scope="module")
def blob_ci(blob_emulator: Emulator) -> Iterator[CustomerInsights]:
    client = CustomerInsights(
        ApiSession(api_client(blob_emulator)), instance_id=blob_emulator.settings.instance_id
    )
    job = client.run_export(LAKE_EXPORT)
    assert job.wait(timeout=120, poll_interval=0.05, progress=False) == "successful"
    yield client
    client.close()


@pytest.fixture(scope="module")
def blob_lake(blob_ci: CustomerInsights, options: dict[str, str]) -> ExportFolder:
    return open_export(f"abfs://{CONTAINER}", storage_options=options)


def test_the_export_lands_in_the_container_and_reads_back(
    blob_lake: ExportFolder, blob_ci: CustomerInsights, blob_emulator: Emulator
) -> None:
    instance = blob_emulator.settings.instance_id
    assert blob_lake.path == f"{CONTAINER}/CustomerInsights_{instance}/DataLakeExport"
    parts = blob_lake.partitions("Customer")
    assert parts["name"].tolist() == ["Customer_1", "Customer_2", "Customer_3"]
    assert parts["url"].str.startswith(f"abfs://{CONTAINER}/CustomerInsights_{instance}/").all()
    df = blob_lake.read("Customer")
    api = blob_ci.query("Customer", progress=False)
    assert df.dtypes.astype(str).to_dict() == api.dtypes.astype(str).to_dict()
    pd.testing.assert_frame_equal(
        df.sort_values("CustomerId").reset_index(drop=True),
        api.sort_values("CustomerId").reset_index(drop=True),
    )


def test_dask_on_azurite_keeps_the_storage_key_out_of_the_graph(
    blob_lake: ExportFolder, options: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ddf = blob_lake.to_dask("Customer", columns=["CustomerId", "EmailOptIn"])
    graph = cloudpickle.dumps(dict(ddf.__dask_graph__()))
    assert KEY.encode() not in graph
    assert options["connection_string"].encode() not in graph
    # workers take the credentials from their own environment
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", options["connection_string"])
    got = ddf.compute(scheduler="sync").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got, blob_lake.read("Customer", columns=["CustomerId", "EmailOptIn"])
    )


def test_a_wrong_key_is_a_clear_error(blob_port: int, blob_lake: ExportFolder) -> None:
    key = "d3Jvbmc=" * 11
    wrong = {"connection_string": connection_string(blob_port, key=key)}
    with pytest.raises(LakeError, match=r"refused access|could not read") as err:
        _ = open_export(f"abfs://{CONTAINER}", storage_options=wrong).tables
    assert key not in str(err.value)
    assert key not in repr(err.value)


def test_a_missing_container(options: dict[str, str], blob_lake: ExportFolder) -> None:
    with pytest.raises(LakeError, match="does not exist"):
        open_export("abfs://nosuchcontainer/x", storage_options=options)


def test_no_model_json_in_an_empty_container(
    options: dict[str, str], blob_lake: ExportFolder
) -> None:
    import fsspec

    fs = fsspec.filesystem("abfs", **options)
    fs.mkdir("emptycontainer")
    with pytest.raises(LakeError, match=r"no model\.json in abfs://emptycontainer"):
        open_export("abfs://emptycontainer", storage_options=options)
