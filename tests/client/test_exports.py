"""Exports from the refresh graph, schedules and history; run_export and export_history."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
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


def test_braze_export_preview_is_what_a_run_sends(
    ci: CustomerInsights, emulator: Emulator, iid: str
) -> None:
    """The preview (client side) and the payload a run writes (emulator side) agree.

    The segment is found in the seeded refresh history (the segmentation task the export
    task waited on), since the v1 API has no export definitions.
    """
    engine = emulator.state.instances[iid].workflows
    preview = ci.export_preview("braze-gold-members", top=None)
    export = next(e for e in engine.exports if e.identifier == "braze-gold-members")
    assert preview.attrs["segment"] == export.source
    attribute = f"ci_segment_{export.source}"
    assert list(preview.columns) == ["external_id", "email", attribute]
    assert preview[attribute].all()
    assert str(preview["external_id"].dtype) == "string"

    before = set((engine.output_dir / "braze-gold-members").glob("*"))
    job = ci.run_export("braze-gold-members")
    assert job.wait(timeout=60, poll_interval=0.05, progress=False) == "successful"
    (folder,) = set((engine.output_dir / "braze-gold-members").glob("*")) - before
    sent = json.loads((folder / "braze-users-track.json").read_text(encoding="utf-8"))
    assert all(len(body["attributes"]) <= 75 for body in sent)
    assert len(sent) == len(preview.attrs["requests"]) == -(-len(preview) // 75)

    def users(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((u for b in bodies for u in b["attributes"]), key=lambda u: u["external_id"])

    assert users(sent) == users(preview.attrs["requests"])
    assert len(users(sent)) == len(preview) > 0


def test_export_preview_of_other_exports_says_what_to_use(ci: CustomerInsights) -> None:
    with pytest.raises(ValueError, match=r"Braze exports.*ci_toolkit\.lake\.open_export"):
        ci.export_preview("adls-customer-profiles")
    with pytest.raises(NotFoundError, match="no export"):
        ci.export_preview("no-such-export")
