"""The OData data endpoint over real HTTPS: paging, query options, expansion, rejections."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse

from ci_toolkit.emulator.data.jsonrows import reference_json
from ci_toolkit.emulator.data.store import ODataPage
from ci_toolkit.emulator.routes.data import page_body
from tests.emulator.contract import assert_matches_contract
from tests.emulator.data_helpers import follow_pages

OP = "Get-entities-with-OData-path"


def data_url(instance_id: str, entity: str) -> str:
    return f"/instances/{instance_id}/data/{entity}"


def get(api: httpx.Client, instance_id: str, entity: str, **params: str) -> dict[str, Any]:
    response = api.get(data_url(instance_id, entity), params=params)
    assert response.status_code == 200, response.text
    assert_matches_contract(response, OP)
    body: dict[str, Any] = response.json()
    return body


def test_paging_follows_next_links_to_every_row(api: httpx.Client, instance_id: str) -> None:
    pages = follow_pages(
        api,
        data_url(instance_id, "Customer"),
        {"$filter": "Country ne 'Ireland'", "$count": "true"},
    )
    total = pages[0]["@odata.count"]
    ids = [row["CustomerId"] for page in pages for row in page["value"]]
    assert len(pages) == -(-total // 100)
    assert all(len(page["value"]) <= 100 for page in pages)
    assert len(ids) == total
    assert len(set(ids)) == total
    assert ids == sorted(ids)
    first_link = pages[0]["@odata.nextLink"]
    assert f"/v1/instances/{instance_id}/data/Customer?" in first_link
    assert "$skiptoken=" in first_link


def test_top_and_skip(api: httpx.Client, instance_id: str) -> None:
    pages = follow_pages(api, data_url(instance_id, "UnifiedActivity"), {"$top": "150"})
    assert [len(p["value"]) for p in pages] == [100, 50]
    window = get(api, instance_id, "Customer", **{"$skip": "10", "$top": "5"})["value"]
    everything = get(api, instance_id, "Customer", **{"$top": "15"})["value"]
    assert [r["CustomerId"] for r in window] == [r["CustomerId"] for r in everything[10:15]]
    assert "@odata.nextLink" not in get(api, instance_id, "Customer", **{"$top": "100"})


def test_orderby_select_and_context(api: httpx.Client, instance_id: str) -> None:
    body = get(
        api, instance_id, "Customer_Measure",
        **{"$orderby": "TotalSpend desc", "$select": "CustomerId,TotalSpend", "$top": "30"},
    )  # fmt: skip
    spend = [row["TotalSpend"] for row in body["value"]]
    assert spend == sorted(spend, reverse=True)
    assert all(set(row) == {"CustomerId", "TotalSpend"} for row in body["value"])
    assert body["@odata.context"].endswith("$metadata#Customer_Measure(CustomerId,TotalSpend)")


def test_json_types_follow_the_columns(api: httpx.Client, instance_id: str) -> None:
    customer = get(api, instance_id, "Customer", **{"$top": "1"})["value"][0]
    assert isinstance(customer["EmailOptIn"], bool)
    assert customer["CreatedOn"].endswith("Z")
    activities = get(
        api, instance_id, "UnifiedActivity",
        **{"$filter": f"CustomerId eq '{customer['CustomerId']}' and "
                      "ActivityTime gt 2020-01-01T00:00:00Z", "$count": "true"},
    )  # fmt: skip
    assert activities["@odata.count"] == len(activities["value"]) > 0
    for row in activities["value"]:
        assert row["CustomerId"] == customer["CustomerId"]
        assert row["ActivityTime"] > "2020-01-01T00:00:00Z"
        assert row["Amount"] is None or isinstance(row["Amount"], float)


def test_search_finds_names_with_apostrophes(api: httpx.Client, instance_id: str) -> None:
    body = get(api, instance_id, "Customer", **{"$search": '"O\'Brien"', "$count": "true"})
    assert body["@odata.count"] > 0
    assert all("o'brien" in row["FullName"].lower() for row in body["value"])
    filtered = get(
        api, instance_id, "Customer", **{"$filter": "LastName eq 'O''Brien'", "$count": "true"}
    )
    assert filtered["@odata.count"] == body["@odata.count"]


def test_expand_activities_and_measures(api: httpx.Client, instance_id: str) -> None:
    customer = get(api, instance_id, "Customer", **{"$top": "1", "$skip": "3"})["value"][0]
    cid = customer["CustomerId"]
    body = get(
        api, instance_id, "Customer",
        **{"$expand": "UnifiedActivity,Customer_Measure", "$filter": f"CustomerId eq '{cid}'"},
    )  # fmt: skip
    [row] = body["value"]
    own = get(api, instance_id, "UnifiedActivity", **{"$filter": f"CustomerId eq '{cid}'",
                                                       "$count": "true"})  # fmt: skip
    assert len(row["UnifiedActivity"]) == own["@odata.count"]
    assert {a["CustomerId"] for a in row["UnifiedActivity"]} <= {cid}
    assert row["Customer_Measure"]["CustomerId"] == cid
    assert "TotalSpend" in row["Customer_Measure"]


def test_segment_membership_filter_and_segment_table(api: httpx.Client, instance_id: str) -> None:
    segments = api.get(f"/instances/{instance_id}/manage/segments").json()
    seg = next(s for s in segments if s["name"] == "GoldAndPlatinumMembers")
    size = seg["evaluationStatus"]["entityCount"]
    members = get(
        api, instance_id, "Customer",
        **{"$filter": "IsMemberOfSegment('GoldAndPlatinumMembers')", "$count": "true"},
    )  # fmt: skip
    table = get(api, instance_id, "GoldAndPlatinumMembers", **{"$count": "true"})
    assert members["@odata.count"] == table["@odata.count"] == size > 0
    assert all(r["LoyaltyTier"] in {"Gold", "Platinum"} for r in members["value"])


@pytest.mark.parametrize(
    ("entity", "params", "status", "words"),
    [
        ("PosSystem_Customers", {"$filter": "City eq 'Cork'"}, 400, "source table"),
        ("Customer", {"$expand": "UnifiedActivity", "$search": "anna"}, 400, "$search"),
        ("Customer", {"$expand": "UnifiedActivity", "$select": "CustomerId"}, 400, "partial"),
        ("Customer", {"$filter": "City eq 'Cork' and"}, 400, "Syntax error"),
        ("Customer", {"$filter": "Shoe eq 1"}, 400, "property named 'Shoe'"),
        ("Customer", {"$filter": "IsMemberOfSegment('Nope')"}, 400, "'Nope' does not exist"),
        ("Customer", {"$top": "-1"}, 400, "non-negative integer"),
        ("Customer", {"$skiptoken": "garbage"}, 400, "$skiptoken"),
        ("Customer", {"$orderby": "Shoe"}, 400, "property named 'Shoe'"),
        ("Customer", {"$apply": "groupby((City))"}, 400, "not supported"),
        ("UnifiedActivity", {"$expand": "Customer_Measure"}, 400, "only supported on Customer"),
        ("NoSuchEntity", {}, 404, "NoSuchEntity"),
    ],
)
def test_rejections_are_odata_errors(
    api: httpx.Client,
    instance_id: str,
    entity: str,
    params: dict[str, str],
    status: int,
    words: str,
) -> None:
    response = api.get(data_url(instance_id, entity), params=params)
    assert response.status_code == status, response.text
    assert_matches_contract(response, OP)
    assert words in response.json()["message"]
    assert "errorCode" in response.json()


def test_concurrent_requests_all_succeed(api: httpx.Client, instance_id: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> int:
        response = api.get(
            data_url(instance_id, "UnifiedActivity"),
            params={"$filter": f"Amount gt {i}", "$top": "10"},
        )
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(32))) == {200}


def test_page_body_is_what_json_response_writes() -> None:
    rows = [
        {"Id": 'O\'Brien "é" 😀\n', "At": "2024-01-01T00:00:00Z", "N": None, "F": 1.5},
        {"Id": "b", "At": None, "N": 3, "F": None},
    ]
    context = "https://127.0.0.1:8443/v1/instances/i/data/$metadata#Customer(Id,At)"
    for count in (None, 0, 123):
        for link in (None, "https://h/v1/i/data/Customer?$filter=Id%20gt%20'a'&$skiptoken=x\"\\é"):
            page = ODataPage("Customer", reference_json(rows), count, "token", ["Id", "At"])
            body: dict[str, Any] = {"@odata.context": context}
            if count is not None:
                body["@odata.count"] = count
            body["value"] = rows
            if link is not None:
                body["@odata.nextLink"] = link
            assert page_body(context, page, link) == JSONResponse(body).body


def test_key_range_pages_over_https(api: httpx.Client, instance_id: str) -> None:
    everything = follow_pages(api, data_url(instance_id, "Customer"), {"$count": "true"})
    ids = [row["CustomerId"] for page in everything for row in page["value"]]
    low, high = ids[len(ids) // 4], ids[len(ids) // 2]
    pages = follow_pages(
        api,
        data_url(instance_id, "Customer"),
        {"$filter": f"CustomerId ge '{low}' and CustomerId lt '{high}'", "$count": "true"},
    )
    assert [row["CustomerId"] for page in pages for row in page["value"]] == [
        i for i in ids if low <= i < high
    ]
    assert pages[0]["@odata.count"] == len(ids) // 2 - len(ids) // 4
    probe = get(
        api, instance_id, "Customer",
        **{"$select": "CustomerId", "$orderby": "CustomerId", "$top": "1",
           "$skip": str(len(ids) // 4)},
    )  # fmt: skip
    assert probe["value"] == [{"CustomerId": low}]
    assert "@odata.nextLink" not in probe
