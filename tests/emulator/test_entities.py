"""Entity metadata, sizes, data profiles, data sources, relationships, activity types and key
rings over real HTTPS, each response checked against the contract."""

from __future__ import annotations

from typing import Any

import httpx

from tests.emulator.contract import assert_matches_contract
from tests.emulator.data_helpers import assert_schema

PYTHON_TYPES = {"string": str, "int64": int, "double": float, "boolean": bool, "dateTime": str}


def call(api: httpx.Client, path: str, op: str, status: int = 200, **params: str) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == status, response.text
    assert_matches_contract(response, op)
    return response.json()


def test_all_entity_metadata(api: httpx.Client, instance_id: str) -> None:
    model = call(api, f"/instances/{instance_id}/manage/entities", "Get-all-entity-metadata")
    names = {e["name"] for e in model["entities"]}
    assert {"Customer", "UnifiedActivity", "Customer_Measure"} <= names
    assert {"PosSystem_Customers", "Webshop_PageViews", "ServiceDesk_Cases"} <= names
    assert "HighValueCustomers" in names
    types = {e["name"]: e["entityType"] for e in model["entities"]}
    assert types["Customer"] == "profile"
    assert types["HighValueCustomers"] == "segment"


def test_attribute_types_describe_the_served_values(api: httpx.Client, instance_id: str) -> None:
    for entity in ("Customer", "UnifiedActivity", "Customer_Measure"):
        meta = call(
            api, f"/instances/{instance_id}/manage/entities/{entity}", "Get-entity-metadata"
        )
        rows = api.get(f"/instances/{instance_id}/data/{entity}", params={"$top": "50"}).json()
        attributes = {a["name"]: a["dataType"] for a in meta["attributes"]}
        assert list(attributes) == list(rows["value"][0])
        for name, data_type in attributes.items():
            values = [r[name] for r in rows["value"] if r[name] is not None]
            expected = PYTHON_TYPES[data_type]
            assert all(isinstance(v, expected) for v in values), (entity, name, data_type)
            if data_type == "dateTime":
                assert all(v.endswith("Z") for v in values)
    customer = call(
        api, f"/instances/{instance_id}/manage/entities/Customer", "Get-entity-metadata"
    )
    assert [[a["name"] for a in key] for key in customer["keys"]] == [["CustomerId"]]
    semantic = {a["name"]: a.get("semanticType") for a in customer["attributes"]}
    assert semantic["Email"] == "IdentityServiceEmail"
    searchable = {
        a["name"] for a in customer["attributes"] if a["searchProperties"]["isSearchable"]
    }
    assert {"FullName", "Email"} <= searchable


def test_unknown_entity_is_404(api: httpx.Client, instance_id: str) -> None:
    body = call(api, f"/instances/{instance_id}/manage/entities/Nope", "Get-entity-metadata", 404)
    assert "Nope" in body["message"]


def test_entity_size_counts_rows(api: httpx.Client, instance_id: str) -> None:
    size = call(
        api, f"/instances/{instance_id}/manage/entities/Customer/entitysize", "Get-entity-size"
    )
    count = api.get(
        f"/instances/{instance_id}/data/Customer", params={"$count": "true", "$top": "0"}
    ).json()["@odata.count"]
    assert size["rowCount"] == count
    assert size["size"] > 0


def test_entity_and_attribute_profiles(api: httpx.Client, instance_id: str) -> None:
    profile = call(
        api, f"/instances/{instance_id}/dataprofile/Customer_Measure", "Get-an-entity-profile",
        includeAttributeData="true",
    )  # fmt: skip
    by_name = {p["attributeName"]: p for p in profile["attributeDataProfiles"]}
    spend = by_name["TotalSpend"]
    top = api.get(
        f"/instances/{instance_id}/data/Customer_Measure",
        params={"$orderby": "TotalSpend desc", "$top": "1"},
    ).json()["value"][0]
    assert spend["max"] == {"value": top["TotalSpend"]}
    assert spend["count"] == profile["rowCount"]
    assert sum(b["count"] for b in spend["histogram"]) == spend["count"] - spend["missingCount"]
    assert spend["quantiles"]["p25"] <= spend["quantiles"]["p50"] <= spend["quantiles"]["p75"]
    tier = call(
        api, f"/instances/{instance_id}/dataprofile/Customer/LoyaltyTier",
        "Get-an-attribute-profile",
    )  # fmt: skip
    tiers = {v["value"]["value"] for v in tier["valueCounts"]}
    assert tiers == {"Bronze", "Silver", "Gold", "Platinum"}
    assert tier["missingCount"] > 0
    missing = api.get(f"/instances/{instance_id}/dataprofile/Customer/Shoe")
    assert missing.status_code == 404
    assert_matches_contract(missing, "Get-an-attribute-profile")


def test_data_sources(api: httpx.Client, instance_id: str) -> None:
    sources = call(api, f"/instances/{instance_id}/manage/datasources", "Get-all-data-sources")
    names = {s["dataSourceMetadata"]["name"] for s in sources}
    assert {"PosSystem", "Webshop", "LoyaltyApp", "EmailMarketing", "ServiceDesk"} <= names
    pos = next(s for s in sources if s["dataSourceMetadata"]["name"] == "PosSystem")
    ds_id = pos["dataSourceMetadata"]["dataSourceId"]
    one = call(
        api, f"/instances/{instance_id}/manage/datasources/{ds_id}", "Get-data-source",
        includeModel="true",
    )  # fmt: skip
    assert one["dataSourceMetadata"]["entityNames"] == ["PosSystem_Customers",
                                                         "PosSystem_Transactions"]  # fmt: skip
    assert "model" in one
    missing = api.get(f"/instances/{instance_id}/manage/datasources/nope")
    assert missing.status_code == 404
    assert_schema(missing.json(), "ApiErrorResult")


def test_relationships(api: httpx.Client, instance_id: str) -> None:
    user = call(api, f"/instances/{instance_id}/manage/relationships", "Get-all-relationships")
    system = call(
        api, f"/instances/{instance_id}/manage/systemrelationships",
        "Get-all-system-created-relationships",
    )  # fmt: skip
    assert all(r["source"] == "user" for r in user)
    assert any(r["toEntityName"] == "Customer" and r["toAttributeName"] ==
               "PosSystem_Customers_PosCustomerId" for r in system)  # fmt: skip
    name = user[0]["name"]
    one = call(api, f"/instances/{instance_id}/manage/relationships/{name}", "Get-a-relationship")
    assert one == user[0]
    call(api, f"/instances/{instance_id}/manage/relationships/nope", "Get-a-relationship", 404)


def test_activity_types_and_key_ring(api: httpx.Client, instance_id: str) -> None:
    customer = api.get(
        f"/instances/{instance_id}/data/Customer",
        params={"$filter": "PosSystem_Customers_PosCustomerId ne null", "$top": "1"},
    ).json()["value"][0]
    counts = call(
        api, f"/instances/{instance_id}/profile/activityresponsemetadata",
        "Get-Activity-Types-and-Counts", customerId=customer["CustomerId"],
    )  # fmt: skip
    total = api.get(
        f"/instances/{instance_id}/data/UnifiedActivity",
        params={"$filter": f"CustomerId eq '{customer['CustomerId']}'", "$count": "true"},
    ).json()["@odata.count"]
    assert sum(counts["keyRing"].values()) == total
    call(
        api, f"/instances/{instance_id}/profile/activityresponsemetadata",
        "Get-Activity-Types-and-Counts", 404, customerId="nobody",
    )  # fmt: skip
    ring = call(
        api, f"/instances/{instance_id}/profile/keyring", "Get-KeyRing",
        dataSourceName="PosSystem", entityName="Customers",
        key=customer["PosSystem_Customers_PosCustomerId"],
    )  # fmt: skip
    assert ring["customerId"] == customer["CustomerId"]
