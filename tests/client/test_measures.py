"""measures(), measure(), measure_history() against the emulator."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.exceptions import NotFoundError
from ci_toolkit.resources.measures import scalar_value

DATETIME = pd.api.types.is_datetime64_any_dtype


def test_measures(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.measures()
    body = raw.get(f"instances/{iid}/manage/measures").json()
    assert df["name"].tolist() == [m["name"] for m in body]
    assert str(df["value"].dtype) == "Float64"
    assert str(df["isScalar"].dtype) == "boolean"
    assert DATETIME(df["lastSuccessful"])
    scalar = df[df["isScalar"].fillna(False)]
    assert len(scalar) > 0
    assert scalar["value"].notna().all()
    for m in body:
        if m["definition"].get("isScalar"):
            (expected,) = m["output"]["values"].values()
            assert df.set_index("name").loc[m["name"], "value"] == pytest.approx(float(expected))


def test_measure_one(ci: CustomerInsights) -> None:
    s = ci.measure("TotalRevenue")
    assert s["name"] == "TotalRevenue"
    assert s["value"] > 0
    assert isinstance(s["lastSuccessful"], pd.Timestamp)
    assert s.attrs["raw"]["name"] == "TotalRevenue"
    with pytest.raises(NotFoundError):
        ci.measure("NoSuchMeasure")


def test_measure_history(ci: CustomerInsights) -> None:
    df = ci.measure_history("TotalRevenue", days=30)
    assert list(df.columns) == ["measure", "evaluationTime", "value", "values", "state", "error"]
    assert DATETIME(df["evaluationTime"])
    assert df["evaluationTime"].is_monotonic_increasing
    assert 25 <= len(df) <= 32
    assert df["value"].notna().sum() >= 25
    assert df["value"].iloc[-1] == pytest.approx(ci.measure("TotalRevenue")["value"])
    assert set(df["state"].dropna()) <= {"completed", "failed", "running", "none"}


def test_scalar_value() -> None:
    assert scalar_value({"x": "1.5"}) == 1.5
    assert scalar_value({"x": 1, "y": 2}) is None
    assert scalar_value(True) is None
    assert scalar_value("abc") is None
