"""Microsoft's own examples, sent to the emulator as Microsoft documents them.

Sources (each test names the one it follows):

- DOCS: "OData query examples", Customer Insights - Data,
  https://learn.microsoft.com/en-us/dynamics365/customer-insights/data/odata-examples
  (MicrosoftDocs/customer-insights ``ci-docs/odata-examples.md``, ms.date 03/20/2024).
- CSHARP: ``microsoft/Dynamics365-CustomerInsights-Client-Libraries``,
  ``src/sample_apps/csharp-server-to-server/SampleApiInteractions.cs`` (2020-09-04).
- NODE: the same repository, ``src/sample_apps/nodejs-sample/routes/customerinsights.js``.
- CONTRACT: the v1 OpenAPI contract the emulator routes (``Get-all-hierarchies``...).

Token format tests (point 6 of issue 16) are in ``test_aad.py`` and ``test_gateway.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import httpx

from ci_toolkit.emulator.app import load_route_modules
from ci_toolkit.emulator.contract import operations
from ci_toolkit.emulator.routes import HANDLERS
from tests.emulator.contract import assert_matches_contract
from tests.emulator.data_helpers import follow_pages

OP = "Get-entities-with-OData-path"
README = Path(__file__).resolve().parents[2] / "README.md"


def data_url(instance_id: str, entity: str) -> str:
    return f"/instances/{instance_id}/data/{entity}"


def rows(api: httpx.Client, url: str, **params: str) -> list[dict[str, Any]]:
    response = api.get(url, params=params)
    assert response.status_code == 200, response.text
    assert_matches_contract(response, OP)
    found: list[dict[str, Any]] = response.json()["value"]
    return found


def first_customer(api: httpx.Client, instance_id: str) -> dict[str, Any]:
    return rows(api, data_url(instance_id, "Customer"), **{"$top": "1"})[0]


# --- 1. property names ------------------------------------------------------------------------


def test_property_names_resolve_regardless_of_case_as_in_the_docs_select_example(
    api: httpx.Client, instance_id: str
) -> None:
    """DOCS, Customer, "Select": ``$select=CustomerId,FullName&$filter=customerid eq '1'``.

    The docs filter on ``customerid`` against the property ``CustomerId`` and show it as a
    working query: the service's OData layer resolves property names case-insensitively. The
    emulator does too (``$filter``, ``$select``, ``$orderby``), answering with the property's
    own spelling; a name that matches nothing in any case is still a 400 ``ODataError``.
    """
    url = data_url(instance_id, "Customer")
    assert (
        rows(api, url, **{"$select": "CustomerId,FullName", "$filter": "customerid eq '1'"}) == []
    )
    cid = first_customer(api, instance_id)["CustomerId"]
    found = rows(
        api, url, **{"$select": "customerid,FULLNAME", "$filter": f"customerid eq '{cid}'"}
    )
    assert len(found) == 1
    assert set(found[0]) == {"CustomerId", "FullName"}
    assert found[0]["CustomerId"] == cid
    ordered = rows(api, url, **{"$orderby": "createdon desc", "$top": "5", "$select": "CreatedOn"})
    assert [r["CreatedOn"] for r in ordered] == sorted(
        (r["CreatedOn"] for r in ordered), reverse=True
    )
    bad = api.get(url, params={"$filter": "customer_id eq '1'"})
    assert bad.status_code == 400
    assert "customer_id" in bad.json()["message"]


# --- 2. UnifiedActivity columns -----------------------------------------------------------------


def test_unified_activity_has_the_documented_and_sample_read_columns(
    api: httpx.Client, instance_id: str
) -> None:
    """DOCS, Unified activity, "Activity by display name": ``ActivityTypeDisplay eq '...'``;
    "Activity type": ``ActivityType eq '{ActivityName}'``. CSHARP ``DisplayCustomer`` prints
    ``ActivityTime``, ``ActivityName`` and ``Title`` of each expanded activity.
    """
    cid = first_customer(api, instance_id)["CustomerId"]
    url = data_url(instance_id, "UnifiedActivity")
    activities = rows(api, url, **{"$filter": f"CustomerId eq '{cid}'"})
    assert activities
    for activity in activities:
        assert {"ActivityTypeDisplay", "ActivityName", "Title", "ActivityTime"} <= set(activity)
        assert activity["Title"]
        assert activity["ActivityTypeDisplay"]
        assert activity["ActivityName"] == activity["ActivityType"]
    display = activities[0]["ActivityTypeDisplay"]
    by_display = rows(
        api, url, **{"$filter": f"CustomerId eq '{cid}' and ActivityTypeDisplay eq '{display}'"}
    )
    assert by_display == [a for a in activities if a["ActivityTypeDisplay"] == display]
    # What the C# sample reads from the expanded activities is there.
    customer = rows(
        api,
        data_url(instance_id, "Customer"),
        **{"$expand": "UnifiedActivity,Customer_Measure", "$filter": f"CustomerId eq '{cid}'"},
    )[0]
    expanded = customer["UnifiedActivity"]
    assert len(expanded) == len(activities)
    assert all(a["ActivityName"] and a["Title"] and a["ActivityTime"] for a in expanded)


# --- 3. datasources/v2 --------------------------------------------------------------------------


def test_datasources_v2_lists_friendly_names_and_ids(api: httpx.Client, instance_id: str) -> None:
    """DOCS, Manage Workflows, "Get data source IDs": ``{serviceRoot}/manage/datasources/v2``
    "Returns all data sources ... check the 'friendlyName' for a specific data source and then
    use its 'dataSourceId'". Not in the v1 contract; the body beyond those two properties is
    not documented, so each item is the data source's ``DataSourceMetadata`` (the object that
    carries both). The id then refreshes the data source as the next example does.
    """
    response = api.get(f"/instances/{instance_id}/manage/datasources/v2")
    assert response.status_code == 200, response.text
    listed = response.json()
    v1 = api.get(f"/instances/{instance_id}/manage/datasources").json()
    assert [s["dataSourceId"] for s in listed] == [
        s["dataSourceMetadata"]["dataSourceId"] for s in v1
    ]
    assert all(s["friendlyName"] for s in listed)
    webshop = next(s for s in listed if s["friendlyName"] == "Webshop")
    one = api.get(f"/instances/{instance_id}/manage/datasources/{webshop['dataSourceId']}")
    assert one.status_code == 200
    assert one.json()["dataSourceMetadata"]["friendlyName"] == "Webshop"


# --- 4. operationType casing --------------------------------------------------------------------


def test_operation_type_in_the_docs_casing_refreshes_a_data_source(
    api: httpx.Client, instance_id: str
) -> None:
    """DOCS, Manage Workflows, "Refresh a data source":
    ``jobs?operationType=Ingestion&identifiers='{dataSourceId}'&forceRunRequested=true``.

    The service reads ``operationType`` as an enum, case-insensitively; the job reports the
    contract's spelling (``ingestion``). The docs quote the id; the quotes are not part of it.
    An unknown type is still refused, naming the value given.
    """
    source = api.get(f"/instances/{instance_id}/manage/datasources/v2").json()[0]
    url = f"/instances/{instance_id}/workflows/main/jobs"
    query = f"operationType=Ingestion&identifiers='{source['dataSourceId']}'&forceRunRequested=true"
    response = api.post(f"{url}?{query}")
    assert response.status_code in (200, 202), response.text
    job = response.json()
    assert job["operationType"] == "ingestion"
    assert api.post(f"{url}/{job['jobId']}/cancel").status_code in (200, 202, 400, 409)
    # The examples page writes the path as .../manage/workflows/main/jobs; the contract (and
    # the emulator) serve .../workflows/main/jobs, and the README lists the other as not
    # imitated.
    assert api.get(f"/instances/{instance_id}/manage/workflows/main/jobs").status_code == 404
    refused = api.post(f"{url}?operationType=Refresh")
    assert refused.status_code == 400
    assert "'Refresh'" in refused.json()["message"]


# --- 5. customer ids ----------------------------------------------------------------------------


def test_customer_ids_are_32_hex_digits_and_sort_alike_in_python_and_duckdb(
    api: httpx.Client, instance_id: str
) -> None:
    """DOCS: "{CID}: GUID of a unified customer record. Example:
    ``ce759201f786d590bf2134bff576c369``" (32 hex digits, no hyphens).

    The same ids everywhere (profiles, activities, measures, segment members), in key order
    for bulk key ranges: Python's string order equals the emulator's DuckDB order, and a key
    range filter (what bulk pulls send) returns exactly the ids between its bounds.
    """
    url = data_url(instance_id, "Customer")
    pages = follow_pages(api, url, {"$select": "CustomerId", "$top": "450"})
    ids = [r["CustomerId"] for p in pages for r in p["value"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", cid) for cid in ids)
    assert ids == sorted(ids)
    ordered = duckdb.sql(
        "SELECT id FROM (SELECT unnest($ids) AS id) ORDER BY id", params={"ids": ids[::-1]}
    ).fetchall()
    assert [r[0] for r in ordered] == ids
    low, high = ids[120], ids[333]
    ranged = follow_pages(
        api,
        url,
        {"$select": "CustomerId", "$filter": f"CustomerId ge '{low}' and CustomerId lt '{high}'"},
    )
    assert [r["CustomerId"] for p in ranged for r in p["value"]] == ids[120:333]
    cid = ids[0]
    for entity in ("UnifiedActivity", "Customer_Measure"):
        linked = rows(api, data_url(instance_id, entity), **{"$filter": f"CustomerId eq '{cid}'"})
        assert {r["CustomerId"] for r in linked} <= {cid}
    members = rows(
        api, url, **{"$filter": "IsMemberOfSegment('GoldAndPlatinumMembers')", "$top": "5"}
    )
    assert all(re.fullmatch(r"[0-9a-f]{32}", m["CustomerId"]) for m in members)


# --- 7. hierarchy reads; the README's "not imitated" list ----------------------------------------


def test_hierarchy_reads_are_served(api: httpx.Client, instance_id: str) -> None:
    """CONTRACT ``Get-all-hierarchies`` (200, ``HierarchyMetadata[]``) and ``Get-a-hierarchy``
    (200 or 404 ``ApiErrorResult``). The demo brand sells to people, not to accounts with
    parent accounts, so it has no hierarchies: an empty list and 404 for any id."""
    listed = api.get(f"/instances/{instance_id}/hierarchies")
    assert listed.status_code == 200
    assert_matches_contract(listed, "Get-all-hierarchies")
    assert listed.json() == []
    missing = api.get(f"/instances/{instance_id}/hierarchies/3f5b0c2e-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert_matches_contract(missing, "Get-a-hierarchy")
    assert missing.json()["errorCode"] == "HierarchyNotFound"
    assert api.get(f"/instances/{instance_id}/hierarchies/not-a-guid").status_code == 400


def test_the_readme_names_exactly_the_operations_that_are_not_imitated() -> None:
    """The README's "Not imitated" bullet lists every contract operation without a handler
    (each answers 501 naming itself), and nothing else."""
    load_route_modules()
    unhandled = {op.operation_id for op in operations() if op.operation_id not in HANDLERS}
    text = README.read_text(encoding="utf-8")
    bullet = text[text.index("- **Not imitated.**") :]
    bullet = bullet[: bullet.index("\n- ") if "\n- " in bullet else bullet.index("\n\n")]
    bullet = bullet[: bullet.index("\n\n")] if "\n\n" in bullet else bullet
    named = set(re.findall(r"`([A-Z][a-z]+(?:-[A-Za-z]+)+)`", bullet))
    assert named == unhandled
    assert {"Update-an-instance", "Create-a-hierarchy"} <= named
    assert not {"Get-all-hierarchies", "Get-a-hierarchy"} & named


# --- 8. the docs' segment membership form ---------------------------------------------------------


SEGMENT = "GoldAndPlatinumMembers"


def test_bare_is_member_of_segment_parameter_answers_as_documented(
    api: httpx.Client, instance_id: str
) -> None:
    """DOCS, Customer, "Segment membership for a customer":
    ``{serviceRoot}/data/Customer?$filter=CustomerId eq '{CID}'&IsMemberOfSegment('{SegmentName}')``
    "Returns the customer profile if they're a member of the given segment".

    The ``&`` makes ``IsMemberOfSegment(...)`` a query parameter of its own; the documented
    answer is the profile only for a member, so it is read as a further ``$filter`` condition:
    the member's row for a member, no row for anyone else (never the non-member's row). An
    unknown segment is a 400 ``ODataError`` as in ``$filter``.
    """
    url = data_url(instance_id, "Customer")
    member = rows(api, url, **{"$filter": f"IsMemberOfSegment('{SEGMENT}')", "$top": "1"})[0]
    outsider = rows(api, url, **{"$filter": f"not IsMemberOfSegment('{SEGMENT}')", "$top": "1"})[0]

    def documented(cid: str, segment: str = SEGMENT) -> httpx.Response:
        condition = quote(f"CustomerId eq '{cid}'")
        query = f"$filter={condition}&IsMemberOfSegment('{segment}')"
        return api.get(f"{url}?{query}")

    found = documented(member["CustomerId"])
    assert found.status_code == 200
    assert_matches_contract(found, OP)
    assert [r["CustomerId"] for r in found.json()["value"]] == [member["CustomerId"]]
    assert documented(outsider["CustomerId"]).json()["value"] == []
    unknown = documented(member["CustomerId"], "NoSuchSegment")
    assert unknown.status_code == 400
    assert "'NoSuchSegment' does not exist" in unknown.json()["message"]
    # The other documented form: a bare membership parameter alone, select=* without $.
    listed = api.get(f"{url}?select=*&IsMemberOfSegment('{SEGMENT}')&$top=10")
    assert listed.status_code == 200
    assert listed.json()["value"] == rows(
        api, url, **{"$filter": f"IsMemberOfSegment('{SEGMENT}')", "$top": "10"}
    )


# --- 9. $expand with $search ----------------------------------------------------------------------


def test_expand_with_search_is_refused_as_the_docs_say(api: httpx.Client, instance_id: str) -> None:
    """Choice: refused with a 400 ``ODataError`` (target ``$expand``).

    DOCS, Limitations: "The following queries aren't supported: ... ``$expand`` from a
    ``$search`` query. For example:
    ``Customer?$expand=UnifiedActivity$top=10&$skip=0&$search="corey"``".
    CSHARP ``SearchCustomerAndChooseCardsAsync`` sends
    ``expand: "UnifiedActivity,Customer_Measure"`` with ``search``, but it dates from
    2020-09-04 and was never changed, while the docs page is maintained (ms.date 03/20/2024)
    and states the limitation; the sample's own handler prints an ``ODataError`` it receives.
    The service's current word wins; a search without ``$expand``
    (as NODE sends it, ``select=*``) works, and the expansion then goes by ``CustomerId``.
    """
    url = data_url(instance_id, "Customer")
    refused = api.get(
        url, params={"$expand": "UnifiedActivity,Customer_Measure", "$search": '"anna"'}
    )
    assert refused.status_code == 400
    error = refused.json()
    assert error["target"] == "$expand"
    assert "$search" in error["message"]
    found = rows(api, url, **{"$select": "*", "$search": "anna", "$skip": "0", "$top": "100"})
    assert found
    cid = found[0]["CustomerId"]
    expanded = rows(api, url, **{"$expand": "UnifiedActivity", "$filter": f"CustomerId eq '{cid}'"})
    assert expanded[0]["CustomerId"] == cid
