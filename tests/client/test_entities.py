"""entities(), attributes(), entity_size(), data_profile(), data_sources() against the emulator."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.exceptions import NotFoundError

DATETIME = pd.api.types.is_datetime64_any_dtype


def test_entities(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.entities()
    assert list(df.columns) == [
        "name",
        "qualifiedEntityName",
        "entityType",
        "dataSourceName",
        "dataflowType",
        "semanticType",
        "attributeCount",
        "refreshTime",
        "datasourceId",
    ]
    body = raw.get(f"instances/{iid}/manage/entities").json()["entities"]
    assert df["name"].tolist() == [e["name"] for e in body]
    assert df["attributeCount"].tolist() == [len(e["attributes"]) for e in body]
    assert str(df["attributeCount"].dtype) == "Int64"
    assert DATETIME(df["refreshTime"])
    assert {"Customer", "UnifiedActivity", "Customer_Measure"} <= set(df["name"])


def test_attributes(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.attributes("Customer")
    body = raw.get(f"instances/{iid}/manage/entities/Customer").json()
    assert df["name"].tolist() == [a["name"] for a in body["attributes"]]
    assert df["dataType"].tolist() == [a["dataType"] for a in body["attributes"]]
    assert str(df["isTimestamp"].dtype) == "boolean"
    assert df["isTimestamp"].sum() <= 1
    assert "CustomerId" in set(df["name"])
    assert df.attrs["raw"]["name"] == "Customer"


def test_unknown_entity_is_not_found(ci: CustomerInsights) -> None:
    with pytest.raises(NotFoundError):
        ci.attributes("NoSuchEntity")
    with pytest.raises(NotFoundError):
        ci.entity_size("NoSuchEntity")


def test_entity_size(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    s = ci.entity_size("Customer")
    body = raw.get(f"instances/{iid}/manage/entities/Customer/entitysize").json()
    assert s["rowCount"] == body["rowCount"] == 1000
    assert s["size"] == body["size"]
    assert s["qualifiedEntityName"] == "Customer"


def test_data_profile(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.data_profile("Customer")
    body = raw.get(
        f"instances/{iid}/dataprofile/Customer", params={"includeAttributeData": "true"}
    ).json()
    profiles = body["attributeDataProfiles"]
    assert df["attributeName"].tolist() == [p["attributeName"] for p in profiles]
    assert str(df["missingCount"].dtype) == "Int64"
    assert str(df["mean"].dtype) == "Float64"
    assert DATETIME(df["profilingDate"])
    email = df.set_index("attributeName").loc["Email"]
    raw_email = next(p for p in profiles if p["attributeName"] == "Email")
    assert email["missingCount"] == raw_email["missingCount"]
    assert email["count"] == raw_email["count"]
    assert isinstance(email["topValues"], list)
    assert df.attrs["rowCount"] == body["rowCount"]


def test_data_sources(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.data_sources()
    body = raw.get(f"instances/{iid}/manage/datasources").json()
    assert df["name"].tolist() == [d["dataSourceMetadata"]["name"] for d in body]
    assert str(df["isActive"].dtype) == "boolean"
    assert str(df["entitiesCount"].dtype) == "Int64"
    assert DATETIME(df["lastRefresh"])
    assert all(isinstance(v, list) for v in df["entityNames"])
