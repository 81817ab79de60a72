"""Segments over real HTTPS: list with history, create, update, (de)activate, delete, errors."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.emulator.contract import assert_matches_contract
from tests.emulator.data_helpers import assert_schema


def segments_url(instance_id: str) -> str:
    return f"/instances/{instance_id}/manage/segments"


def definition(name: str, country: str = "Germany") -> dict[str, Any]:
    return {
        "name": name,
        "friendlyName": f"Test {name}",
        "description": "created by a test",
        "segmentQueryExpression": {
            "type": "structured",
            "rowsets": [
                {
                    "rowsetOperation": "none",
                    "criteria": {
                        "kind": "default",
                        "logicalOperator": "and",
                        "childCriterias": [
                            {"attribute": "Customer.Country", "comparisonOperator": "equals",
                             "value": country},
                            {"attribute": "UnifiedActivity.ActivityType",
                             "comparisonOperator": "equals", "value": "Purchase"},
                        ],
                    },
                }
            ],
        },
    }  # fmt: skip


def count(api: httpx.Client, instance_id: str, odata_filter: str) -> int:
    response = api.get(
        f"/instances/{instance_id}/data/Customer",
        params={"$filter": odata_filter, "$count": "true", "$top": "0"},
    )
    assert response.status_code == 200, response.text
    result: int = response.json()["@odata.count"]
    return result


@pytest.fixture
def name(api: httpx.Client, instance_id: str) -> Any:
    segment = f"Test_{uuid.uuid4().hex[:8]}"
    yield segment
    api.delete(f"{segments_url(instance_id)}/{segment}")


def test_list_with_history(api: httpx.Client, instance_id: str) -> None:
    response = api.get(
        segments_url(instance_id),
        params={"includeHistoricStats": "true", "historicStatsDays": "90"},
    )
    assert response.status_code == 200
    assert_matches_contract(response, "Get-all-segments")
    segments = response.json()
    assert len(segments) >= 6
    assert "inactive" in {s["state"] for s in segments}
    for segment in segments:
        history = segment["evaluationStatusHistory"]
        assert len(history) >= 55
        assert segment["evaluationStatus"]["jobStatus"] in {"CompletedSuccess", "CompletedFailure"}
    short = api.get(
        segments_url(instance_id),
        params={"includeHistoricStats": "true", "historicStatsDays": "7", "numberOfSegments": "2"},
    ).json()
    assert len(short) == 2
    assert all(len(s["evaluationStatusHistory"]) <= 8 for s in short)
    assert "evaluationStatusHistory" not in api.get(segments_url(instance_id)).json()[0]


def test_demo_segment_definitions_are_evaluated(api: httpx.Client, instance_id: str) -> None:
    segments = {s["name"]: s for s in api.get(segments_url(instance_id)).json()}
    irish = segments["IrishEmailSubscribers"]["evaluationStatus"]["entityCount"]
    assert irish == count(api, instance_id, "Country eq 'Ireland' and EmailOptIn eq true") > 0
    young = segments["YoungAdults"]["evaluationStatus"]["entityCount"]
    assert young == count(api, instance_id, "BirthDate ge 1998-01-01T00:00:00Z")


def test_create_update_deactivate_delete(api: httpx.Client, instance_id: str, name: str) -> None:
    created = api.post(segments_url(instance_id), json=definition(name))
    assert created.status_code == 201, created.text
    assert_matches_contract(created, "Create-a-segment")
    members = created.json()["evaluationStatus"]["entityCount"]
    assert 0 < members <= count(api, instance_id, "Country eq 'Germany'")
    assert count(api, instance_id, f"IsMemberOfSegment('{name}')") == members

    updated = api.put(f"{segments_url(instance_id)}/{name}", json=definition(name, "France"))
    assert updated.status_code == 200, updated.text
    assert_matches_contract(updated, "Update-a-segment")
    assert updated.json()["version"] == 2
    rows = api.get(
        f"/instances/{instance_id}/data/{name}", params={"$select": "Country", "$top": "100"}
    ).json()["value"]
    assert {r["Country"] for r in rows} == {"France"}

    described = api.put(f"{segments_url(instance_id)}/{name}", json={"description": "renamed"})
    assert described.status_code == 200, described.text
    assert described.json()["description"] == "renamed"
    assert (
        described.json()["evaluationStatus"]["entityCount"]
        == updated.json()["evaluationStatus"]["entityCount"]
    )

    off = api.put(f"{segments_url(instance_id)}/{name}/deactivate")
    assert off.status_code == 200
    assert_matches_contract(off, "Deactivate-segment")
    assert off.json() is True
    listed = {s["name"]: s for s in api.get(segments_url(instance_id)).json()}
    assert listed[name]["state"] == "inactive"
    on = api.put(f"{segments_url(instance_id)}/{name}/activate")
    assert_matches_contract(on, "Activate-segment")
    assert {s["name"]: s for s in api.get(segments_url(instance_id)).json()}[name]["state"] == (
        "active"
    )

    deleted = api.delete(f"{segments_url(instance_id)}/{name}")
    assert deleted.status_code == 200
    assert_matches_contract(deleted, "Delete-segment")
    assert name not in {s["name"] for s in api.get(segments_url(instance_id)).json()}
    gone = api.get(f"/instances/{instance_id}/data/{name}")
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"attribute": "Customer.ShoeSize"}, "no attribute 'ShoeSize'"),
        ({"attribute": "Basket.Total"}, "Unknown entity 'Basket'"),
        ({"comparisonOperator": "roughly"}, "Unknown comparison operator 'roughly'"),
        ({"attribute": "Customer.BirthDate", "value": "yesterday"}, "not an ISO 8601 date"),
    ],
)
def test_invalid_definitions_are_400(
    api: httpx.Client, instance_id: str, name: str, change: dict[str, str], words: str
) -> None:
    body = definition(name)
    body["segmentQueryExpression"]["rowsets"][0]["criteria"]["childCriterias"][0].update(change)
    response = api.post(segments_url(instance_id), json=body)
    assert response.status_code == 400
    assert_schema(response.json(), "ApiErrorResult")
    assert words in response.json()["message"]


def test_bad_bodies_and_unknown_segments(api: httpx.Client, instance_id: str) -> None:
    not_json = api.post(
        segments_url(instance_id), content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert_schema(not_json.json(), "ApiErrorResult")
    nameless = api.post(segments_url(instance_id), json={"segmentQueryExpression": {}})
    assert nameless.status_code == 400
    assert "name" in nameless.json()["message"]
    taken = api.post(segments_url(instance_id), json=definition("HighValueCustomers"))
    assert taken.status_code == 400
    assert "already exists" in taken.json()["message"]
    for method, suffix in (("PUT", "/activate"), ("PUT", "/deactivate"), ("DELETE", "")):
        response = api.request(method, f"{segments_url(instance_id)}/NoSuchSegment{suffix}")
        assert response.status_code == 404
        assert_schema(response.json(), "ApiErrorResult")


def test_names_differing_only_in_case_are_one_name(
    api: httpx.Client, instance_id: str, name: str
) -> None:
    """Segment names are unique without regard to case.

    The v1 contract and API notes do not say; the service keeps a segment as an entity and
    entity names in the lake and in SQL compare without case, so a second name differing
    only in case is refused with 400 (``ApiErrorResult``) naming the existing segment.
    Lookups use the exact name. (The emulator let both exist, sharing one table: deleting
    one broke the other and the entity list answered 500.)
    """
    created = api.post(segments_url(instance_id), json=definition(name))
    assert created.status_code == 201
    for other in (name.lower(), name.upper(), "highvaluecustomers", "CUSTOMER"):
        response = api.post(segments_url(instance_id), json=definition(other, "Ireland"))
        assert response.status_code == 400, other
        assert_schema(response.json(), "ApiErrorResult")
        message = response.json()["message"]
        assert "without regard to case" in message
        assert "Choose another name" in message
        existing = {"highvaluecustomers": "HighValueCustomers", "CUSTOMER": "Customer"}
        assert f"'{existing.get(other, name)}'" in message
    members = created.json()["evaluationStatus"]["entityCount"]
    assert members > 0
    assert count(api, instance_id, f"IsMemberOfSegment('{name}')") == members
    gone = api.delete(f"{segments_url(instance_id)}/{name.lower()}")
    assert gone.status_code == 404  # the exact name only: nothing deleted
    entities = api.get(f"/instances/{instance_id}/manage/entities")
    assert entities.status_code == 200
    assert name in {e["name"] for e in entities.json()["entities"]}
    page = api.get(f"/instances/{instance_id}/data/{name}", params={"$count": "true"})
    assert page.status_code == 200
    assert page.json()["@odata.count"] == members
