"""The reader against every dialect switch, hostile values, and bad input (local folders)."""

from __future__ import annotations

import itertools
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from ci_toolkit.emulator.workflows.lake_export import (
    CsvDialect,
    ExportTable,
    LakeTarget,
    write_cdm_export,
)
from ci_toolkit.lake import ExportFolder, LakeError, MissingDependencyError, open_export

WHEN = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
TYPES = {
    "Id": "string",
    "Segments": "json",
    "Visits": "int64",
    "Active": "boolean",
    "Seen": "dateTime",
    "Spend": "double",
    "Born": "date",
}


def hostile() -> ExportTable:
    """JSON with , " and newlines, non-ASCII, and empty ints/booleans in the LAST file only."""
    rows = pa.table(
        {
            "Id": ["c1", "c2", "c3", "c4", "c5"],
            "Segments": ['["Gold, \\"VIP\\""]', "line1\nline2", "Zoë Ångström", "", None],
            "Visits": [1, 2, 3, 4, None],
            "Active": [True, False, True, False, None],
            "Seen": pa.array(
                [datetime(2020, 1, 1, 10), None, datetime(2021, 1, 1), None, None],
                pa.timestamp("us"),
            ),
            "Spend": [1.25, None, 3.0, 4.5, None],
            "Born": pa.array([datetime(1990, 5, 6).date(), None, None, None, None], pa.date32()),
        }
    )
    return ExportTable("Seg_2", rows, TYPES)


DEFAULT = CsvDialect()


def write(root: Path, dialect: CsvDialect = DEFAULT, **kwargs: object) -> ExportFolder:
    target = LakeTarget(root=str(root), partition_rows=2, dialect=dialect)
    write_cdm_export(
        [hostile()], target=target, instance_id="abcd", destination="Lake", moment=WHEN, **kwargs
    )
    return open_export(root)


DIALECTS = [
    CsvDialect(column_headers=h, delimiter=d, quote_always=q, bom=b)
    for h, d, q, b in itertools.product(
        [False, True], [",", ";", "\t"], [True, False], [False, True]
    )
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=repr)
def test_every_dialect_reads_back_the_same_typed_rows(tmp_path: Path, dialect: CsvDialect) -> None:
    lake = write(tmp_path, dialect)
    df = lake.read("Seg_2")
    assert len(lake.partitions("Seg_2")) == 3  # 5 rows, 2 per file: Seg_2_1..Seg_2_3
    assert lake.partitions("Seg_2")["name"].tolist() == ["Seg_2_1", "Seg_2_2", "Seg_2_3"]
    assert df["Id"].tolist() == ["c1", "c2", "c3", "c4", "c5"]
    assert df["Segments"].tolist()[:3] == ['["Gold, \\"VIP\\""]', "line1\nline2", "Zoë Ångström"]
    # "" and null cannot be told apart in CSV: both come back missing (see the notes §7.4)
    assert df["Segments"].isna().tolist() == [False, False, False, True, True]
    assert df.dtypes.astype(str).tolist() == [
        "string",
        "string",
        "Int64",
        "boolean",
        "datetime64[us, UTC]",
        "Float64",
        "datetime64[us]",
    ]
    assert df["Visits"].tolist()[4] is pd.NA  # empty int in the last file only: still Int64
    assert df["Active"].tolist() == [True, False, True, False, pd.NA]
    assert df["Seen"].iloc[0] == pd.Timestamp("2020-01-01T10:00:00Z")
    assert df["Born"].iloc[0] == pd.Timestamp("1990-05-06")


def test_dask_reads_the_same_rows_as_pandas(tmp_path: Path) -> None:
    lake = write(tmp_path, CsvDialect(column_headers=True))
    ddf = lake.to_dask("Seg_2", columns=["Id", "Visits", "Active"])
    assert ddf.npartitions == 3
    assert ddf.dtypes.astype(str).tolist() == ["string", "Int64", "boolean"]
    got = ddf.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, lake.read("Seg_2", columns=["Id", "Visits", "Active"]))
    # column projection after the fact reads only that column
    assert ddf["Id"].compute().tolist() == ["c1", "c2", "c3", "c4", "c5"]


def test_dask_by_blocksize_on_values_without_newlines(tmp_path: Path) -> None:
    target = LakeTarget(root=str(tmp_path), partition_rows=1000)
    rows = pa.table({"Id": [f"c{i}" for i in range(300)], "N": list(range(300))})
    write_cdm_export(
        [ExportTable("T", rows, {"Id": "string", "N": "int64"})],
        target=target,
        instance_id="a",
        destination="L",
        moment=WHEN,
    )
    ddf = open_export(tmp_path).to_dask("T", blocksize=1000)
    assert ddf.npartitions > 1
    got = ddf.compute()
    assert got["N"].tolist() == list(range(300))
    assert str(got["N"].dtype) == "Int64"


def test_a_cancelled_run_leaves_the_previous_model_json(tmp_path: Path) -> None:
    import threading

    write(tmp_path)
    cancelled = threading.Event()
    cancelled.set()
    later = WHEN.replace(hour=9)
    with pytest.raises(RuntimeError, match="cancelled"):
        write_cdm_export(
            [hostile()],
            target=LakeTarget(root=str(tmp_path), partition_rows=2),
            instance_id="abcd",
            destination="Lake",
            moment=later,
            cancelled=cancelled,
        )
    lake = open_export(tmp_path)
    assert lake.snapshots()["snapshot"].tolist() == ["2026/03/04/0506"]
    assert len(lake.read("Seg_2")) == 5


# -- bad input ------------------------------------------------------------------------------


def model_path(root: Path) -> Path:
    return root / "CustomerInsights_abcd" / "Lake" / "model.json"


def test_no_model_json(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LakeError, match=r"no model\.json in .*open the export folder"):
        open_export(tmp_path / "empty")
    with pytest.raises(LakeError, match="does not exist"):
        open_export(tmp_path / "missing")


def test_model_json_that_does_not_parse(tmp_path: Path) -> None:
    write(tmp_path)
    path = model_path(tmp_path)
    path.write_text(path.read_text()[:200], encoding="utf-8")
    with pytest.raises(LakeError, match=r"does not parse as JSON \(line"):
        _ = open_export(tmp_path).tables
    path.write_text('{"name": "x", "version": "1.0"}', encoding="utf-8")
    with pytest.raises(LakeError, match="no 'entities' list"):
        _ = open_export(tmp_path).tables


def test_model_json_naming_a_missing_partition(tmp_path: Path) -> None:
    lake = write(tmp_path)
    second = Path(lake.path) / "Seg_2" / "2026" / "03" / "04" / "0506" / "Seg_2_2.csv"
    second.unlink()
    with pytest.raises(LakeError, match=r"partition Seg_2_2 .* is missing at .*re-run the export"):
        lake.read("Seg_2")
    with pytest.raises(LakeError, match=r"partition Seg_2_2 .* is missing"):
        lake.to_dask("Seg_2")


def test_partition_columns_disagreeing_with_model_json(tmp_path: Path) -> None:
    lake = write(tmp_path)
    model = json.loads(model_path(tmp_path).read_text())
    model["entities"][0]["attributes"].pop()  # model.json now lists one column fewer
    model_path(tmp_path).write_text(json.dumps(model))
    with pytest.raises(LakeError, match=r"Seg_2_1\.csv does not have the 6 columns model\.json"):
        lake.refresh().read("Seg_2")


def test_header_row_disagreeing_with_model_json(tmp_path: Path) -> None:
    write(tmp_path, CsvDialect(column_headers=True))
    model = json.loads(model_path(tmp_path).read_text())
    model["entities"][0]["attributes"][0]["name"] = "CustomerId"
    model_path(tmp_path).write_text(json.dumps(model))
    with pytest.raises(LakeError, match=r"header row .* does not match the columns"):
        open_export(tmp_path).read("Seg_2")


def test_https_locations_with_a_query_string_are_refused(tmp_path: Path) -> None:
    write(tmp_path)
    model = json.loads(model_path(tmp_path).read_text())
    for partition in model["entities"][0]["partitions"]:
        partition["location"] = (
            partition["location"].replace("devstoreaccount1", "other")
            + "?snapshot=2018-11-14T19:37:51Z"
        )
    model_path(tmp_path).write_text(json.dumps(model))
    with pytest.raises(LakeError, match="query string"):
        open_export(tmp_path).read("Seg_2")


def test_storage_url_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LakeError, match=r"no storage credentials for abfs://.*account_key"):
        open_export("abfs://customerinsights/CustomerInsights_x/Lake")


def test_storage_url_without_adlfs_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "adlfs", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'ci-toolkit\[lake\]'"):
        open_export("abfs://customerinsights/x", storage_options={"account_name": "a"})


def test_en_us_datetimes_parse_and_unreadable_ones_are_not_dropped(tmp_path: Path) -> None:
    """CI's default text format is en-US (notes §7.3); a value that is no date is an error."""
    from ci_toolkit.lake.model import Attribute
    from ci_toolkit.lake.model import CsvDialect as ReadDialect
    from ci_toolkit.lake.partitions import read_partition

    columns = [Attribute("Seen", "dateTime"), Attribute("Born", "date")]
    df = read_partition(
        b'"1/2/2020 10:00:00 PM","3/4/1990"\n,\n', columns, ReadDialect(), label="T_1.csv"
    )
    assert df["Seen"].tolist()[0] == pd.Timestamp("2020-01-02T22:00:00Z")
    assert df["Born"].tolist()[0] == pd.Timestamp("1990-03-04")
    assert df.dtypes.astype(str).tolist() == ["datetime64[us, UTC]", "datetime64[us]"]
    with pytest.raises(LakeError, match=r"T_1\.csv: column 'Seen' holds 'soon'"):
        read_partition(b'"soon","1/1/2000"\n', columns, ReadDialect(), label="T_1.csv")


def test_reprs_hold_no_storage_secret(tmp_path: Path) -> None:
    secret = "AccountKey=c2VjcmV0LWtleS12YWx1ZQ=="
    target = LakeTarget(root=str(tmp_path), storage_options={"connection_string": secret})
    assert secret not in repr(target)
    lake = write(tmp_path)
    lake.storage_options["account_key"] = secret
    assert secret not in repr(lake)
    import cloudpickle

    graph = cloudpickle.dumps(dict(lake.to_dask("Seg_2").__dask_graph__()))
    assert b"c2VjcmV0" not in graph
