"""Fixtures for the lake reader: an emulator whose data-out export writes to a local folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.http.session import ApiSession
from tests.support import api_client

#: The demo's data-out export (Azure Data Lake): Customer and UnifiedActivity.
LAKE_EXPORT = "adls-customer-profiles"
#: Small partitions so the demo tables are split into several files.
PARTITION_ROWS = 600


@pytest.fixture(scope="session")
def lake_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The emulator's --output-dir."""
    return tmp_path_factory.mktemp("lake-output")


@pytest.fixture(scope="session")
def lake_emulator(lake_output: Path) -> Iterator[Emulator]:
    """An emulator writing exports under ``lake_output`` (tables split every 600 rows)."""
    config = EmulatorConfig(
        profiles=1_500,
        seed=15,
        time_scale=0.01,
        output_dir=lake_output,
        lake_partition_rows=PARTITION_ROWS,
    )
    with Emulator(config) as emu:
        yield emu


@pytest.fixture(scope="session")
def lake_ci(lake_emulator: Emulator) -> Iterator[CustomerInsights]:
    """An admin client on the lake emulator's production instance."""
    client = CustomerInsights(
        ApiSession(api_client(lake_emulator)), instance_id=lake_emulator.settings.instance_id
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def exported(lake_ci: CustomerInsights, lake_output: Path) -> Path:
    """Run the data-out export once through the API; the container folder it wrote into."""
    job = lake_ci.run_export(LAKE_EXPORT)
    assert job.wait(timeout=120, poll_interval=0.05, progress=False) == "successful"
    return lake_output / "customerinsights"
