"""Exports from the refresh graph, schedules and history; run_export and export_history."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.exceptions import NotFoundError
from ci_toolkit.resources.exports import connection_type


def test_exports_overview(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.exports()
    assert list(df.columns) == [
        "identifier",
        "friendlyName",
        "connectionType",
        "lastStatus",
        "lastRun",
        "lastSuccess",
        "schedule",
        "scheduleActive",
        "runs",
        "failures",
        "lastError",
    ]
    nodes = [
        n
        for n in raw.get(f"instances/{iid}/workflows/main/status").json()
        if n["operationType"] == "export"
    ]
    assert df["identifier"].tolist() == [n["identifier"] for n in nodes]
    assert pd.api.types.is_datetime64_any_dtype(df["lastSuccess"])
    assert str(df["runs"].dtype) == "Int64"
    assert len(df) >= 5
    assert df["connectionType"].notna().all()
    assert {"Braze", "SFTP", "Google Ads", "Azure Data Lake Storage"} <= set(df["connectionType"])
    assert df["schedule"].str.contains(r"\d\d:\d\d").all()
    failed = df[df["lastStatus"] == "failed"]
    assert failed["lastError"].notna().all()
    assert (failed["failures"] > 0).all()


def test_export_history(ci: CustomerInsights) -> None:
    overview = ci.exports().set_index("identifier")
    ident = overview.index[0]
    df = ci.export_history(ident)
    assert (df["identifier"] == ident).all()
    assert (df["operationType"] == "export").all()
    assert (df["friendlyName"] == overview.loc[ident, "friendlyName"]).all()
    assert df["submittedTimestamp"].dropna().is_monotonic_decreasing
    assert len(df) == overview.loc[ident, "runs"]


def test_run_export(ci: CustomerInsights) -> None:
    ident = ci.exports()["identifier"][0]
    job = ci.run_export(ident)
    assert job.operation_type == "export"
    status = job.wait(timeout=60, poll_interval=0.05, progress=False)
    assert status in {"successful", "failed", "skipped"}
    assert ident in job.info.get("idList", [])
    latest = ci.export_history(ident)
    assert any(job.job_id in ids for ids in latest["jobIds"])


def test_unknown_export(ci: CustomerInsights) -> None:
    with pytest.raises(NotFoundError, match="no export"):
        ci.run_export("no-such-export")
    with pytest.raises(NotFoundError):
        ci.export_history("no-such-export")


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("braze-gold-members",), "Braze"),
        (("x", "Azure Data Lake: profiles"), "Azure Data Lake Storage"),
        (("googleads-high-value",), "Google Ads"),
        (("d365mkt-newsletter", "Dynamics 365 Marketing: Newsletter"), "Dynamics 365 Marketing"),
        (("weekly-file", None), None),
    ],
)
def test_connection_type(texts: tuple[str | None, ...], expected: str | None) -> None:
    assert connection_type(*texts) == expected
