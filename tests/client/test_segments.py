"""Segments: list, definition, members, history and the full create -> delete cycle."""

from __future__ import annotations

import uuid

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.exceptions import NotFoundError, PermissionDeniedError
from ci_toolkit.resources.segments import describe_segment_query, segment_definition

from .conftest import make_session

DATETIME = pd.api.types.is_datetime64_any_dtype


def test_segments(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.segments()
    assert list(df.columns) == [
        "name",
        "friendlyName",
        "description",
        "state",
        "size",
        "lastEvaluation",
        "jobStatus",
        "definition",
        "kind",
        "endDate",
        "createdBy",
        "createdUtc",
        "updatedUtc",
    ]
    body = raw.get(f"instances/{iid}/manage/segments").json()
    assert df["name"].tolist() == [s["name"] for s in body]
    assert df["size"].tolist() == [s["evaluationStatus"]["entityCount"] for s in body]
    assert str(df["size"].dtype) == "Int64"
    assert DATETIME(df["lastEvaluation"])
    assert len(df) >= 6
    assert df["definition"].str.len().gt(0).all()
    tiers = df.set_index("name").loc["GoldAndPlatinumMembers", "definition"]
    assert tiers == "Customer.LoyaltyTier in ('Gold', 'Platinum')"


def test_segment_definition_rows(ci: CustomerInsights) -> None:
    df = ci.segment("GoldWithoutComplaints")
    assert {"rowset", "rowsetOperation", "attribute", "comparisonOperator", "value"} <= set(
        df.columns
    )
    assert df["rowset"].nunique() == 2
    assert "except" in set(df["rowsetOperation"]) or "exclude" in set(df["rowsetOperation"])
    assert df.attrs["raw"]["name"] == "GoldWithoutComplaints"
    assert df.attrs["definition"] == describe_segment_query(
        df.attrs["raw"]["segmentQueryExpression"]
    )
    with pytest.raises(NotFoundError):
        ci.segment("NoSuchSegment")


def test_segment_members_match_size(ci: CustomerInsights) -> None:
    size = ci.segments().set_index("name").loc["HighValueCustomers", "size"]
    members = ci.segment_members("HighValueCustomers", select=["CustomerId"], progress=False)
    assert list(members.columns) == ["CustomerId"]
    assert len(members) == size
    top = ci.segment_members("HighValueCustomers", top=5, progress=False)
    assert len(top) == 5
    assert "Email" in top.columns


def test_segment_history_is_tidy(ci: CustomerInsights) -> None:
    df = ci.segment_history(days=30)
    assert list(df.columns) == ["segment", "date", "size", "jobStatus"]
    assert DATETIME(df["date"])
    assert str(df["size"].dtype) == "Int64"
    segments = ci.segments()
    assert set(df["segment"]) <= set(segments["name"])
    assert set(segments.loc[segments["state"] == "active", "name"]) <= set(df["segment"])
    per_segment = df.groupby("segment")["date"]
    assert per_segment.apply(lambda s: s.is_monotonic_increasing).all()
    assert per_segment.size().max() <= 31
    one = ci.segment_history("YoungAdults", days=10)
    assert set(one["segment"]) == {"YoungAdults"}
    pivot = df.pivot_table(index="date", columns="segment", values="size")
    assert pivot.shape[1] == df["segment"].nunique()
    with pytest.raises(NotFoundError):
        ci.segment_history(["NoSuchSegment"])
    with pytest.raises(ValueError, match="days"):
        ci.segment_history(days=0)


def test_create_activate_update_deactivate_delete(ci: CustomerInsights) -> None:
    name = f"Test_{uuid.uuid4().hex[:8]}"
    definition = segment_definition(
        name,
        [("LoyaltyTier", "=", "Gold"), ("Country", "isIn", ["Ireland", "Spain"])],
        friendly_name="Gold in Ireland or Spain",
    )
    created = ci.create_segment(definition)
    try:
        assert created["name"] == name
        row = ci.segments().set_index("name").loc[name]
        assert row["friendlyName"] == "Gold in Ireland or Spain"
        assert row["definition"] == "LoyaltyTier = 'Gold' AND Country in ('Ireland', 'Spain')"

        assert ci.activate_segment(name) is True
        job = ci.refresh("segmentation", identifiers=[name])
        job.wait(timeout=60, poll_interval=0.05, progress=False)
        members = ci.segment_members(name, select=["LoyaltyTier", "Country"], progress=False)
        assert len(members) > 0
        assert (members["LoyaltyTier"] == "Gold").all()
        assert set(members["Country"]) <= {"Ireland", "Spain"}

        updated = ci.update_segment(name, {"description": "updated by a test"})
        assert updated["description"] == "updated by a test"
        assert ci.segments().set_index("name").loc[name, "description"] == "updated by a test"

        assert ci.deactivate_segment(name) is True
        assert ci.segments().set_index("name").loc[name, "state"] == "inactive"
    finally:
        ci.delete_segment(name)
    assert name not in set(ci.segments()["name"])
    with pytest.raises(NotFoundError):
        ci.delete_segment(name)


def test_viewer_cannot_create(emulator: Emulator) -> None:
    viewer = CustomerInsights(
        make_session(emulator, "viewer"), instance_id=emulator.settings.instance_id
    )
    try:
        with pytest.raises(PermissionDeniedError):
            viewer.create_segment(segment_definition("ViewerTry", [("Country", "=", "Ireland")]))
    finally:
        viewer.close()


def test_segment_definition_helper_validates() -> None:
    with pytest.raises(ValueError, match="operator"):
        segment_definition("X", [("Country", "like", "x")])
    with pytest.raises(ValueError, match="condition"):
        segment_definition("X", [])
    with pytest.raises(ValueError, match="name"):
        segment_definition("bad name", [("Country", "=", "x")])
    any_of = segment_definition("X", [("A", ">", 1), ("B", "isNull", None)], match="any")
    criteria = any_of["segmentQueryExpression"]["rowsets"][0]["criteria"]
    assert criteria["logicalOperator"] == "or"
    assert criteria["childCriterias"][0] == {
        "kind": "default",
        "attribute": "A",
        "comparisonOperator": "greaterThan",
        "value": "1",
    }
    assert "value" not in criteria["childCriterias"][1]
