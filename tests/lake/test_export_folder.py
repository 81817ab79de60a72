"""The emulator's data-out export, run through the API, read back with ci_toolkit.lake."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.lake import ExportFolder, LakeError, open_export
from tests.lake.conftest import PARTITION_ROWS


@pytest.fixture(scope="module")
def lake(exported: Path) -> ExportFolder:
    return open_export(exported)


def test_the_folder_follows_the_documented_blob_path_template(
    exported: Path, lake_emulator: Emulator
) -> None:
    instance = lake_emulator.settings.instance_id
    base = exported / f"CustomerInsights_{instance}" / "DataLakeExport"
    model = json.loads((base / "model.json").read_text(encoding="utf-8"))
    assert model["version"] == "1.0"
    assert model["name"] == "DataLakeExport"
    assert [e["name"] for e in model["entities"]] == ["Customer", "UnifiedActivity"]
    customer = model["entities"][0]
    assert customer["$type"] == "LocalEntity"
    types = {a["name"]: a["dataType"] for a in customer["attributes"]}
    assert types["CustomerId"] == "string"
    assert types["EmailOptIn"] == "boolean"
    assert types["CreatedOn"] == "dateTime"
    # 1,500 profiles, 600 rows per file: three partitions, numbered from 1, in one folder
    partitions = customer["partitions"]
    assert [p["name"] for p in partitions] == ["Customer_1", "Customer_2", "Customer_3"]
    for p in partitions:
        prefix = f"https://devstoreaccount1.blob.core.windows.net/customerinsights/CustomerInsights_{instance}/DataLakeExport/Customer/"
        assert p["location"].startswith(prefix)
        stamp = p["location"][len(prefix) :].rsplit("/", 1)[0]
        datetime.strptime(stamp, "%Y/%m/%d/%H%M")  # the %Year%/%Month%/%Day%/%HHMM% folders
        relative = p["location"].split("/customerinsights/", 1)[1]
        assert (exported / relative).is_file()
        assert p["fileFormatSettings"]["columnHeaders"] is False
        assert pd.Timestamp(p["refreshTime"]).tzinfo is not None
    first = (exported / partitions[0]["location"].split("/customerinsights/", 1)[1]).read_text()
    assert first.startswith('"')  # CDM default: every value quoted, no header row
    assert not first.startswith('"CustomerId"')


def test_read_matches_the_api_rows_and_dtypes(
    lake: ExportFolder, lake_ci: CustomerInsights
) -> None:
    df = lake.read("Customer")
    api = lake_ci.query("Customer", progress=False)
    assert len(df) == len(api) == 1_500
    assert list(df.columns) == list(api.columns)
    assert df.dtypes.astype(str).to_dict() == api.dtypes.astype(str).to_dict()
    ordered = df.sort_values("CustomerId").reset_index(drop=True)
    expected = api.sort_values("CustomerId").reset_index(drop=True)
    pd.testing.assert_frame_equal(ordered, expected, check_exact=True)


def test_tables_partitions_and_refresh_times(lake: ExportFolder) -> None:
    assert lake.tables == ["Customer", "UnifiedActivity"]
    parts = lake.partitions("Customer")
    assert parts["name"].tolist() == ["Customer_1", "Customer_2", "Customer_3"]
    assert parts["snapshot"].nunique() == 1
    assert str(parts["refreshTime"].dtype) == "datetime64[us, UTC]"
    times = lake.refresh_times().set_index("table")
    assert times.loc["Customer", "partitions"] == 3
    activity = lake.read("UnifiedActivity", columns=["ActivityId", "Amount"])
    assert list(activity.columns) == ["ActivityId", "Amount"]
    assert str(activity["Amount"].dtype) == "Float64"
    assert times.loc["UnifiedActivity", "partitions"] == -(-len(activity) // PARTITION_ROWS)
    columns = lake.columns("Customer").set_index("name")
    assert columns.loc["CreatedOn", "dtype"] == "datetime64[us, UTC]"


def test_only_the_columns_asked_for(lake: ExportFolder) -> None:
    df = lake.read("Customer", columns=["Email", "CustomerId"])
    assert list(df.columns) == ["Email", "CustomerId"]
    assert df["CustomerId"].notna().all()
    with pytest.raises(LakeError, match="no column 'Nope'"):
        lake.read("Customer", columns=["Nope"])


def test_unknown_table_names_the_tables(lake: ExportFolder) -> None:
    with pytest.raises(LakeError, match=r"no table 'customer'.*did you mean 'Customer'"):
        lake.read("customer")


def test_open_by_container_export_folder_or_model_json(exported: Path, lake: ExportFolder) -> None:
    assert open_export(Path(lake.path)).tables == lake.tables
    assert open_export(f"{lake.path}/model.json").tables == lake.tables
    assert open_export(f"file://{lake.path}").tables == lake.tables


def test_a_second_run_adds_a_snapshot_and_model_json_points_at_it(
    lake_ci: CustomerInsights, lake: ExportFolder, lake_emulator: Emulator
) -> None:
    """A later run writes a new HHMM folder; the old one stays; model.json moves to the new.

    Runs in the same minute write the same blob names, as the service's would (the path
    template has minute resolution): so the second run is written a minute later through
    the emulator's own writer, the way the export task writes it.
    """
    from ci_toolkit.emulator.workflows.exports import load_tables, write_export

    state = lake_emulator.state
    instance = state.instances[lake_emulator.settings.instance_id]
    export = next(e for e in instance.workflows.exports if e.is_data_out)
    before = lake.partitions("Customer")["snapshot"].iloc[0]
    later = datetime.strptime(before, "%Y/%m/%d/%H%M").replace(tzinfo=UTC) + pd.Timedelta("61min")
    write_export(
        load_tables(instance.data, export),
        export=export,
        output_dir=instance.workflows.output_dir,
        moment=later,
        lake=state.lake,
        instance_id=instance.instance_id,
    )
    lake.refresh()
    snaps = lake.snapshots("Customer")
    assert snaps["snapshot"].tolist() == [before, later.strftime("%Y/%m/%d/%H%M")]
    assert snaps["latest"].tolist() == [False, True]
    assert lake.partitions("Customer")["snapshot"].unique().tolist() == [snaps["snapshot"].iloc[1]]
    old = lake.read("Customer", snapshot=before)
    new = lake.read("Customer")
    pd.testing.assert_frame_equal(old, new)
    with pytest.raises(LakeError, match="no snapshot"):
        lake.read("Customer", snapshot="1999/01/01/0000")


def test_output_dir_flag_takes_a_folder_or_an_fsspec_url(tmp_path: Path) -> None:
    import argparse

    from ci_toolkit.emulator.cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    url = config_from_args(parser.parse_args(["--output-dir", "abfs://customerinsights"]))
    assert url.output_dir == "abfs://customerinsights"
    local = config_from_args(parser.parse_args(["--output-dir", str(tmp_path)]))
    assert local.output_dir == tmp_path
    file_url = config_from_args(parser.parse_args(["--output-dir", f"file://{tmp_path}"]))
    assert file_url.output_dir == tmp_path
