"""Measures over real HTTPS: list, get with history, create, update, delete, errors."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.emulator.contract import assert_matches_contract
from tests.emulator.data_helpers import follow_pages


def measures_url(instance_id: str) -> str:
    return f"/instances/{instance_id}/manage/measures"


def body(name: str, operation: str = "sum", field: str = "Amount") -> dict[str, Any]:
    return {
        "name": name,
        "displayName": name,
        "definition": {
            "type": "structured",
            "isProfile": True,
            "isScalar": False,
            "linkedEntities": [{"kind": "base", "entity": "UnifiedActivity"}],
            "aggregates": [{"operation": operation, "field": field, "alias": name}],
            "filteringCriteria": {"attribute": "UnifiedActivity.Channel",
                                  "comparisonOperator": "equals", "value": "Online"},
        },
    }  # fmt: skip


@pytest.fixture
def name(api: httpx.Client, instance_id: str) -> Any:
    measure = f"Test_{uuid.uuid4().hex[:8]}"
    yield measure
    api.delete(f"{measures_url(instance_id)}/{measure}")


def test_list_and_get(api: httpx.Client, instance_id: str) -> None:
    response = api.get(measures_url(instance_id))
    assert response.status_code == 200
    assert_matches_contract(response, "Get-a-list-of-measures-metadata")
    measures = {m["name"]: m for m in response.json()}
    assert measures["TotalSpend"]["definition"]["isProfile"] is True
    assert measures["TotalRevenue"]["definition"]["isProfile"] is False
    one = api.get(
        f"{measures_url(instance_id)}/TotalRevenue",
        params={"includeHistoricStats": "true", "historicStatsDays": "10"},
    )
    assert one.status_code == 200
    assert_matches_contract(one, "Get-metadata-for-a-measure")
    history = one.json()["outputHistory"]
    assert len(history) == 10
    assert len(one.json()["evaluationHistory"]) == 11
    missing = api.get(f"{measures_url(instance_id)}/Nope")
    assert missing.status_code == 404
    assert_matches_contract(missing, "Get-metadata-for-a-measure")


def test_scalar_output_matches_the_data(api: httpx.Client, instance_id: str) -> None:
    measure = api.get(f"{measures_url(instance_id)}/TotalRevenue").json()
    pages = follow_pages(
        api,
        f"/instances/{instance_id}/data/UnifiedActivity",
        {"$filter": "ActivityType eq 'Purchase'", "$select": "ActivityId,Amount"},
    )
    total = sum(r["Amount"] for p in pages for r in p["value"])
    assert float(measure["output"]["values"]["TotalRevenue"]) == pytest.approx(total, abs=0.05)


def test_create_update_delete(api: httpx.Client, instance_id: str, name: str) -> None:
    created = api.post(measures_url(instance_id), json=body(name))
    assert created.status_code == 200, created.text
    assert_matches_contract(created, "Create-a-measure")
    assert created.json()["latestEvaluation"]["state"] == "completed"
    column = api.get(
        f"/instances/{instance_id}/data/Customer_Measure",
        params={"$select": f"CustomerId,{name}", "$orderby": f"{name} desc", "$top": "1"},
    )
    assert column.status_code == 200, column.text
    assert column.json()["value"][0][name] > 0

    updated = api.put(f"{measures_url(instance_id)}/{name}", json=body(name, "count", "ActivityId"))
    assert updated.status_code == 200, updated.text
    assert_matches_contract(updated, "Update-a-measure")
    assert updated.json()["version"] == 2

    deleted = api.delete(f"{measures_url(instance_id)}/{name}")
    assert deleted.status_code == 200
    assert_matches_contract(deleted, "Delete-a-measure")
    gone = api.get(f"/instances/{instance_id}/data/Customer_Measure", params={"$select": name})
    assert gone.status_code == 400


@pytest.mark.parametrize(
    ("operation", "field", "code"),
    [("median", "Amount", "unsupportedSyntax"), ("sum", "Colour", "attributeNotFound")],
)
def test_invalid_definitions_are_parsing_errors(
    api: httpx.Client, instance_id: str, name: str, operation: str, field: str, code: str
) -> None:
    response = api.post(measures_url(instance_id), json=body(name, operation, field))
    assert response.status_code == 400
    assert_matches_contract(response, "Create-a-measure")
    assert response.json()["code"] == code
    message = response.json()["messages"][0]["message"]
    assert (operation in message) or (field in message)


def test_names_differing_only_in_case_are_one_name(
    api: httpx.Client, instance_id: str, name: str
) -> None:
    """Measure names are unique without regard to case, as segment names are.

    The contract does not say; a profile measure is a column of ``Customer_Measure`` and
    column names compare without case, so a second name differing only in case (or
    ``customerid``, the table's key) is refused with a 400 ``ParsingError`` naming the one
    that exists. (The emulator accepted ``customerid`` and its evaluation failed.)
    """
    assert api.post(measures_url(instance_id), json=body(name)).status_code == 200
    for other, existing in ((name.lower(), name), ("totalspend", "TotalSpend"),
                            ("customerid", "CustomerId")):  # fmt: skip
        response = api.post(measures_url(instance_id), json=body(other))
        assert response.status_code == 400, other
        assert_matches_contract(response, "Create-a-measure")
        message = response.json()["messages"][0]["message"]
        assert f"'{existing}'" in message
        assert "without regard to case" in message
    columns = api.get(f"/instances/{instance_id}/data/Customer_Measure", params={"$top": "1"})
    assert columns.status_code == 200
    assert name in columns.json()["value"][0]
    assert api.get(f"{measures_url(instance_id)}/{name}").json()["latestEvaluation"]["state"] == (
        "completed"
    )


def test_aggregates_of_text_and_of_all_rows(api: httpx.Client, instance_id: str, name: str) -> None:
    """A profile measure over text (the latest ``Country``) evaluates, with no average in its
    output; ``'*'`` (all rows) suits ``count`` only. Both answered 500 before."""
    latest = body(name, "max", "Country")
    latest["definition"]["linkedEntities"] = [{"kind": "base", "entity": "Customer"}]
    del latest["definition"]["filteringCriteria"]
    response = api.post(measures_url(instance_id), json=latest)
    assert response.status_code == 200, response.text
    measure = response.json()
    assert measure["latestEvaluation"]["state"] == "completed"
    assert "average" not in measure["output"]["values"]
    assert measure["output"]["values"]["max"] >= measure["output"]["values"]["min"]
    for operation in ("avg", "max"):
        rows = body(f"{name}_{operation}", operation, "*")
        response = api.post(measures_url(instance_id), json=rows)
        assert response.status_code == 400
        assert "is for 'count' only" in response.json()["messages"][0]["message"]
