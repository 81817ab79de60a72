"""The Dataverse Web API over real HTTPS: tables, paging, errors, roles, limits, metadata.

Where Microsoft does not document a behaviour, the test says which choice the emulator
makes (the README's Dataverse section lists them too).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from ci_toolkit.emulator import Emulator
from ci_toolkit.emulator.dataverse import BASIC_USER_ROLE
from ci_toolkit.emulator.dataverse.guids import sort_key
from tests.emulator.dataverse.helpers import assert_error, dataverse_client, follow
from tests.support import api_client

PROFILES = "msdynci_customerprofiles"


def v1_customer_ids(emulator: Emulator) -> list[str]:
    """Every ``CustomerId`` as the v1 data endpoint pages them."""
    ids: list[str] = []
    with api_client(emulator) as api:
        url: str | None = f"instances/{emulator.settings.instance_id}/data/Customer"
        params: dict[str, str] | None = {"$select": "CustomerId"}
        while url:
            body = api.get(url, params=params).json()
            ids += [row["CustomerId"] for row in body["value"]]
            url, params = body.get("@odata.nextLink"), None
    return ids


# -- the same customers on both paths, paging ------------------------------------------------


def test_every_profile_once_by_skiptoken_and_the_same_customers_as_v1(
    emulator: Emulator, dv: httpx.Client
) -> None:
    rows, responses = follow(dv, PROFILES, page_size=128, **{"$select": "msdynci_customerid"})
    ids = [r["msdynci_customerid"] for r in rows]
    assert len(ids) == len(set(ids)) == emulator.config.profiles
    assert sorted(ids) == sorted(v1_customer_ids(emulator))
    assert [len(r.json()["value"]) for r in responses[:-1]] == [128] * (len(responses) - 1)
    for response in responses:
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=128"
        assert response.headers["OData-Version"] == "4.0"
        assert response.headers["content-type"].startswith("application/json")
    # nextLink: absolute, the query kept, a paging cookie as the skiptoken
    link = responses[0].json()["@odata.nextLink"]
    assert link.startswith(emulator.settings.dataverse_url + "/api/data/v9.2/" + PROFILES + "?")
    assert "$select=msdynci_customerid" in link
    assert "$skiptoken=%3Ccookie%20pagenumber%3D%222%22%20pagingcookie%3D" in link
    # rows: primary key always returned, etag annotation, selected column
    first = rows[0]
    assert list(first) == ["@odata.etag", "msdynci_customerprofileid", "msdynci_customerid"]
    assert first["@odata.etag"].startswith('W/"')


def test_page_size_is_500_at_most_and_by_default(dv: httpx.Client) -> None:
    # Not documented: what an odata.maxpagesize above the cap does. Choice: clamp to 500
    # and say so in Preference-Applied.
    big = dv.get(PROFILES, headers={"Prefer": "odata.maxpagesize=5000"})
    assert len(big.json()["value"]) == 500
    assert big.headers["Preference-Applied"] == "odata.maxpagesize=500"
    default = dv.get(PROFILES, params={"$select": "msdynci_customerid"})
    assert len(default.json()["value"]) == 500
    assert "Preference-Applied" not in default.headers
    assert "@odata.nextLink" in default.json()


def test_top_is_ignored_with_a_page_size_and_caps_rows_without(dv: httpx.Client) -> None:
    with_size = dv.get(
        PROFILES, params={"$top": "3"}, headers={"Prefer": "odata.maxpagesize=10"}
    ).json()
    assert len(with_size["value"]) == 10
    assert "@odata.nextLink" in with_size
    # Not documented for elastic tables: $top above the page size. Choice: pages of 500
    # until $top rows were returned (never silently fewer).
    rows, _ = follow(dv, PROFILES, **{"$top": "700", "$select": "msdynci_customerid"})
    assert len(rows) == 700
    assert len({r["msdynci_customerid"] for r in rows}) == 700


@pytest.mark.parametrize("option", ["$skip", "$search", "$format"])
def test_unsupported_options_are_refused_with_dataverses_error(
    dv: httpx.Client, option: str
) -> None:
    error = assert_error(dv.get(PROFILES, params={option: "10"}), 400, "0x0")
    assert error["message"] == f"The query parameter {option} is not supported"


def test_a_changed_skiptoken_is_refused(dv: httpx.Client) -> None:
    error = assert_error(dv.get(PROFILES, params={"$skiptoken": "42"}), 400, "0x0")
    assert "@odata.nextLink" in error["message"]


def test_count_is_capped_and_annotated(dv: httpx.Client) -> None:
    # Not documented for OData on elastic tables; FetchXML says 500 for them. Choice: 500.
    prefer = (
        'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,'
        'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded",odata.maxpagesize=5'
    )
    body = dv.get(PROFILES, params={"$count": "true"}, headers={"Prefer": prefer}).json()
    assert body["@odata.count"] == 500
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 500
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
    assert len(body["value"]) == 5
    small = dv.get(
        PROFILES,
        params={"$count": "true", "$filter": "msdynci_country eq 'ireland'"},
        headers={"Prefer": prefer},
    ).json()
    assert small["@odata.count"] == small["@Microsoft.Dynamics.CRM.totalrecordcount"] < 500
    assert small["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    assert dv.get(f"{PROFILES}/$count").text == "500"


def test_retrieve_total_record_count_gives_counts_beyond_the_cap(
    emulator: Emulator, dv: httpx.Client
) -> None:
    # The response shape is not in Microsoft's docs (third-party clients read it so).
    inline = dv.get(
        "RetrieveTotalRecordCount(EntityNames=['msdynci_customerprofile','msdynci_alternatekey'])"
    ).json()["EntityRecordCountCollection"]
    assert inline["Keys"] == ["msdynci_customerprofile", "msdynci_alternatekey"]
    assert inline["Values"][0] == emulator.config.profiles
    assert inline["Values"][1] > emulator.config.profiles
    alias = dv.get(
        "RetrieveTotalRecordCount(EntityNames=@p1)", params={"@p1": '["msdynci_customerprofile"]'}
    ).json()["EntityRecordCountCollection"]
    assert alias["Values"] == [emulator.config.profiles]
    assert_error(dv.get("RetrieveTotalRecordCount(EntityNames=['account'])"), 404, "0x80040217")
    assert_error(dv.get("RetrieveTotalRecordCount(x)"), 400, "0x0")


# -- filters, keys and order ------------------------------------------------------------------


def test_string_filters_are_case_insensitive_and_contains_uses_wildcards(
    dv: httpx.Client,
) -> None:
    upper = dv.get(PROFILES, params={"$filter": "msdynci_country eq 'IRELAND'"}).json()["value"]
    assert upper
    assert {r["msdynci_country"] for r in upper} == {"Ireland"}
    names = dv.get(
        PROFILES, params={"$filter": "contains(msdynci_fullname,'N_RA')", "$top": "50"}
    ).json()["value"]
    assert names  # "_" matches any one character: "Nora ..."
    assert all(re.search("n.ra", r["msdynci_fullname"].lower()) for r in names)


def test_segment_members_filter_with_and_without_the_docs_backslashes(
    emulator: Emulator, dv: httpx.Client
) -> None:
    store = emulator.state.instances[emulator.settings.instance_id].data
    relation = store.entity("LapsedShoppers").relation
    members = {
        r[0] for r in store.cursor().execute(f"SELECT CustomerId FROM {relation}").fetchall()
    }
    for text in ("'\\\"LapsedShoppers\\\"'", "'\"LapsedShoppers\"'"):
        rows, _ = follow(
            dv,
            "msdynci_segmentmemberships",
            **{"$filter": f"contains(msdynci_segments,{text})", "$select": "msdynci_customerid"},
        )
        assert {r["msdynci_customerid"] for r in rows} == members


def test_guid_keys_order_as_sql_server_and_key_ranges_partition_the_table(
    emulator: Emulator, dv: httpx.Client
) -> None:
    pk = "msdynci_customerprofileid"
    rows, _ = follow(dv, PROFILES, **{"$select": pk, "$orderby": f"{pk} asc"})
    keys = [r[pk] for r in rows]
    assert keys == sorted(keys, key=sort_key)
    assert keys != sorted(keys)  # SQL Server's order is not the string order
    # Parallel ranges planned from boundaries in server order (vary byte 10).
    bounds = [f"00000000-0000-0000-0000-{b}0000000000" for b in ("40", "80", "c0")]
    seen: list[str] = []
    edges: list[str | None] = [None, *bounds, None]
    for low, high in itertools.pairwise(edges):
        parts = ([f"{pk} ge {low}"] if low else []) + ([f"{pk} lt {high}"] if high else [])
        part, _ = follow(
            dv, PROFILES, page_size=300, **{"$select": pk, "$filter": " and ".join(parts)}
        )
        if low:
            assert all(sort_key(r[pk]) >= sort_key(low) for r in part)
        seen += [r[pk] for r in part]
    assert sorted(seen) == sorted(keys)
    assert len(seen) == len(set(seen)) == emulator.config.profiles


def test_last_key_of_a_page_continues_a_key_range(dv: httpx.Client) -> None:
    pk = "msdynci_customerprofileid"
    first = dv.get(PROFILES, params={"$select": pk}, headers={"Prefer": "odata.maxpagesize=50"})
    page = [r[pk] for r in first.json()["value"]]
    after = dv.get(
        PROFILES,
        params={"$select": pk, "$filter": f"{pk} gt {page[-1]}"},
        headers={"Prefer": "odata.maxpagesize=50"},
    ).json()["value"]
    second = dv.get(first.json()["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=50"})
    assert [r[pk] for r in after] == [r[pk] for r in second.json()["value"]]


def test_ordered_paging_returns_every_row_once(emulator: Emulator, dv: httpx.Client) -> None:
    rows, responses = follow(
        dv,
        PROFILES,
        page_size=128,
        **{"$select": "msdynci_country,msdynci_customerid", "$orderby": "msdynci_country desc"},
    )
    assert len(responses) > 1
    assert len({r["msdynci_customerid"] for r in rows}) == len(rows) == emulator.config.profiles
    countries = [r["msdynci_country"] for r in rows]
    assert countries == sorted(countries, reverse=True)


def test_lookups_filter_by_unquoted_guid(dv: httpx.Client) -> None:
    profile = dv.get(PROFILES, params={"$top": "1"}).json()["value"][0]
    key = profile["msdynci_customerprofileid"]
    rows = dv.get(
        "msdynci_alternatekeys",
        params={"$filter": f"_msdynci_lookupfield_customer_value eq {key}"},
    ).json()["value"]
    assert rows
    assert {r["msdynci_customerid"] for r in rows} == {profile["msdynci_customerid"]}


def test_customer_ids_order_as_strings(dv: httpx.Client) -> None:
    rows, _ = follow(
        dv, PROFILES, **{"$select": "msdynci_customerid", "$orderby": "msdynci_customerid"}
    )
    ids = [r["msdynci_customerid"] for r in rows]
    assert ids == sorted(ids)
    desc = dv.get(
        PROFILES, params={"$select": "msdynci_customerid", "$orderby": "msdynci_customerid desc"}
    ).json()["value"]
    assert desc[0]["msdynci_customerid"] == ids[-1]


def test_lexicographic_guid_order_can_be_chosen(
    emulator: Emulator, dv: httpx.Client, restore_dataverse: None
) -> None:
    emulator.dataverse.guid_order = "lexicographic"
    pk = "msdynci_customerprofileid"
    rows, _ = follow(dv, PROFILES, page_size=400, **{"$select": pk})
    keys = [r[pk] for r in rows]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys)) == emulator.config.profiles


def test_guids_compare_unquoted_and_strings_quoted(dv: httpx.Client) -> None:
    pk = "msdynci_customerprofileid"
    row = dv.get(PROFILES, params={"$top": "1"}).json()["value"][0]
    by_key = dv.get(PROFILES, params={"$filter": f"{pk} eq {row[pk]}"}).json()["value"]
    assert [r["msdynci_customerid"] for r in by_key] == [row["msdynci_customerid"]]
    quoted = dv.get(PROFILES, params={"$filter": f"{pk} eq '{row[pk]}'"})
    assert (
        "operand types 'Edm.Guid' and 'Edm.String'" in assert_error(quoted, 400, "0x0")["message"]
    )
    cid = row["msdynci_customerid"]
    by_id = dv.get(PROFILES, params={"$filter": f"msdynci_customerid eq '{cid}'"}).json()["value"]
    assert [r[pk] for r in by_id] == [row[pk]]
    one = dv.get(f"{PROFILES}({row[pk]})", params={"$select": "msdynci_customerid"}).json()
    assert one["msdynci_customerid"] == cid
    assert one["@odata.context"].endswith(
        "$metadata#msdynci_customerprofiles(msdynci_customerid)/$entity"
    )
    missing = dv.get(f"{PROFILES}(00000000-0000-0000-0000-000000000001)")
    assert_error(missing, 404, "0x80040217")


def test_unknown_names_get_dataverses_errors(dv: httpx.Client) -> None:
    error = assert_error(dv.get("Msdynci_customerprofiles"), 404, "0x8006088a")
    assert error["message"] == "Resource not found for the segment 'Msdynci_customerprofiles'."
    error = assert_error(dv.get(PROFILES, params={"$select": "msdynci_FullName"}), 400, "0x0")
    assert error["message"] == (
        "Could not find a property named 'msdynci_FullName' on type "
        "'Microsoft.Dynamics.CRM.msdynci_customerprofile'."
    )
    assert_error(dv.get(PROFILES, params={"$filter": "msdynci_nope eq 1"}), 400, "0x0")
    assert_error(dv.get(PROFILES, params={"$filter": "msdynci_country in ('x')"}), 400, "0x0")
    assert_error(dv.get(PROFILES, params={"$filter": "msdynci_country eq"}), 400, "0x0")


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("msdynci_unifiedactivities", {"msdynci_activitytime", "msdynci_activitytype"}),
        ("msdynci_customermeasures", {"msdynci_measures", "msdynci_identifier"}),
        ("msdynci_segmentmemberships", {"msdynci_segments", "msdynci_segmentprovider"}),
        ("msdynci_alternatekeys", {"msdynci_alternatevalue", "msdynci_keyring"}),
    ],
)
def test_every_ci_table_is_served_with_its_documented_columns(
    dv: httpx.Client, table: str, columns: set[str]
) -> None:
    rows = dv.get(table, headers={"Prefer": "odata.maxpagesize=3"}).json()["value"]
    assert len(rows) == 3
    expected = columns | {"msdynci_customerid", "_msdynci_lookupfield_customer_value"}
    assert expected <= set(rows[0])


def test_activity_filters_as_the_ci_samples_write_them(dv: httpx.Client) -> None:
    cid = dv.get("msdynci_unifiedactivities", params={"$top": "1"}).json()["value"][0][
        "msdynci_customerid"
    ]
    rows = dv.get(
        "msdynci_unifiedactivities",
        params={
            "$filter": f"msdynci_customerid eq '{cid}' and msdynci_activitytime gt "
            "2000-01-01T00:00:00Z",
            "$orderby": "msdynci_activitytime asc",
        },
    ).json()["value"]
    times = [r["msdynci_activitytime"] for r in rows]
    assert times
    assert times == sorted(times)
    assert all(t.endswith("Z") for t in times)
    assert {r["msdynci_customerid"] for r in rows} == {cid}


# -- identity, roles, writes ------------------------------------------------------------------


def test_tokens_for_another_audience_are_refused_with_a_challenge(emulator: Emulator) -> None:
    s = emulator.settings
    url = s.dataverse_url + "/api/data/v9.2/WhoAmI"
    with httpx.Client(verify=s.ssl_context()) as client:
        bare = client.get(url)
        assert bare.status_code == 401
        challenge = bare.headers["WWW-Authenticate"]
        assert challenge.startswith(f"Bearer authorization_uri={s.authority}/oauth2/authorize")
        assert f"resource_id={s.dataverse_url}/" in challenge
        ci_token = emulator.mint_token("viewer")  # audience: the Customer Insights API
        refused = client.get(url, headers={"Authorization": f"Bearer {ci_token}"})
        assert refused.status_code == 401
        assert "audience" in refused.json()["error"]["message"]
    dv_token = emulator.mint_token("viewer", audience=s.dataverse_url)
    with httpx.Client(verify=s.ssl_context()) as client:
        v1 = client.get(
            s.base_url + "/instances",
            headers={
                "Authorization": f"Bearer {dv_token}",
                "Ocp-Apim-Subscription-Key": s.subscription_key,
            },
        )
    assert v1.status_code == 401  # and the org's token is no good for the v1 API


def test_whoami(emulator: Emulator, dv: httpx.Client) -> None:
    body = dv.get("WhoAmI").json()
    assert set(body) == {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"}
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
    viewer = emulator.state.directory.user_for_role("viewer")
    assert body["UserId"] == emulator.dataverse.system_user_id(viewer)
    assert dv.get("WhoAmI()").json() == body
    older = dv.get(emulator.settings.dataverse_url + "/api/data/v9.0/WhoAmI").json()
    assert older["UserId"] == body["UserId"]
    assert "/api/data/v9.0/$metadata#" in older["@odata.context"]
    assert_error(dv.post("WhoAmI", json={}), 404, "")


def test_a_user_without_the_read_roles_gets_the_privilege_error(
    emulator: Emulator, restore_dataverse: None
) -> None:
    emulator.dataverse.set_security_roles("viewer", [BASIC_USER_ROLE])
    with dataverse_client(emulator) as dv:
        error = assert_error(dv.get(PROFILES), 403, "0x80040220")
        assert "is missing prvReadmsdynci_customerprofile privilege" in error["message"]
        assert dv.get("WhoAmI").status_code == 200  # Basic User still signs in
    with dataverse_client(emulator, role="contributor") as other:
        assert other.get(PROFILES, params={"$top": "1"}).status_code == 200


def test_the_read_roles_follow_the_customer_insights_role_assignment(
    emulator: Emulator, restore_dataverse: None
) -> None:
    instance = emulator.state.instances[emulator.settings.instance_id]
    viewer = emulator.state.directory.user_for_role("viewer").object_id
    role = instance.role_assignments.pop(viewer)
    try:
        with dataverse_client(emulator) as dv:
            assert_error(dv.get("msdynci_alternatekeys"), 403, "0x80040220")
    finally:
        instance.role_assignments[viewer] = role


@pytest.mark.parametrize(
    ("method", "path", "privilege"),
    [
        ("POST", PROFILES, "prvCreate"),
        ("PATCH", f"{PROFILES}(00000000-0000-0000-0000-000000000001)", "prvWrite"),
        ("DELETE", f"{PROFILES}(00000000-0000-0000-0000-000000000001)", "prvDelete"),
    ],
)
def test_writes_to_ci_tables_are_refused(
    emulator: Emulator, method: str, path: str, privilege: str
) -> None:
    # Microsoft: use GET only on these tables. Choice: the privilege error, even for the
    # admin (Customer Insights' roles grant read access only).
    with dataverse_client(emulator, role="admin") as dv:
        response = dv.request(method, path, json={"msdynci_fullname": "x"})
    error = assert_error(response, 403, "0x80040220")
    assert f"is missing {privilege}msdynci_customerprofile privilege" in error["message"]


# -- service protection -----------------------------------------------------------------------


def test_request_limit_gives_429_with_retry_after(
    emulator: Emulator, restore_dataverse: None
) -> None:
    emulator.dataverse.protection.configure(requests=3, window_seconds=30)
    with dataverse_client(emulator, role="contributor") as dv:
        assert [dv.get("WhoAmI").status_code for _ in range(3)] == [200, 200, 200]
        throttled = dv.get("WhoAmI")
        error = assert_error(throttled, 429, "0x80072322")
        assert error["message"] == (
            "Number of requests exceeded the limit of 3 over time window of 30 seconds."
        )
        assert 1 <= int(throttled.headers["Retry-After"]) <= 30
    with dataverse_client(emulator, role="admin") as other:  # per user
        assert other.get("WhoAmI").status_code == 200


def test_execution_time_limit_gives_its_own_code(
    emulator: Emulator, restore_dataverse: None
) -> None:
    emulator.dataverse.protection.configure(execution_ms=0.001, window_seconds=10)
    with dataverse_client(emulator, role="contributor") as dv:
        assert dv.get(PROFILES, params={"$top": "1"}).status_code == 200
        throttled = dv.get("WhoAmI")
    error = assert_error(throttled, 429, "0x80072321")
    assert "milliseconds over time window of 10 seconds" in error["message"]
    assert int(throttled.headers["Retry-After"]) >= 1


def test_concurrency_limit_gives_its_own_code(emulator: Emulator, restore_dataverse: None) -> None:
    emulator.dataverse.protection.configure(concurrent=1)
    emulator.set_faults(latency_ms=400.0)
    results: list[httpx.Response] = []

    def call() -> None:
        with dataverse_client(emulator, role="contributor") as dv:
            results.append(dv.get("WhoAmI"))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses[0] == 200
    assert 429 in statuses
    throttled = next(r for r in results if r.status_code == 429)
    assert_error(throttled, 429, "0x80072326")
    assert throttled.headers["Retry-After"] == "1"


def test_injected_throttling_has_dataverses_shape(
    emulator: Emulator, dv: httpx.Client, restore_dataverse: None
) -> None:
    emulator.set_faults(fault_rate=1.0, kinds=("throttle",))
    try:
        response = dv.get(PROFILES)
    finally:
        emulator.set_faults(fault_rate=0.0, kinds=("throttle", "unavailable", "drop", "slow"))
    assert_error(response, 429, "0x80072322")
    assert response.headers["Retry-After"].isdigit()


# -- metadata ---------------------------------------------------------------------------------

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def test_metadata_is_csdl_matching_the_rows(dv: httpx.Client) -> None:
    response = dv.get("$metadata")
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None
    assert schema.get("Namespace") == "Microsoft.Dynamics.CRM"
    types = {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}
    profile = types["msdynci_customerprofile"]
    key = profile.find(f"{EDM}Key/{EDM}PropertyRef")
    assert key is not None
    assert key.get("Name") == "msdynci_customerprofileid"
    props = {p.get("Name"): p.get("Type") for p in profile.findall(f"{EDM}Property")}
    assert props["msdynci_customerprofileid"] == "Edm.Guid"
    assert props["msdynci_customerid"] == "Edm.String"
    assert props["msdynci_birthdate"] == "Edm.DateTimeOffset"
    assert props["_ownerid_value"] == "Edm.Guid"
    row = dv.get(PROFILES, params={"$top": "1"}).json()["value"][0]
    assert set(row) - {"@odata.etag"} == set(props)
    sets = {s.get("Name") for s in schema.findall(f"{EDM}EntityContainer/{EDM}EntitySet")}
    assert sets == {
        "msdynci_customerprofiles", "msdynci_unifiedactivities", "msdynci_customermeasures",
        "msdynci_segmentmemberships", "msdynci_alternatekeys",
    }  # fmt: skip
    service = dv.get("").json()
    assert {v["name"] for v in service["value"]} >= sets


def test_entity_definitions_and_attributes(dv: httpx.Client) -> None:
    found = dv.get(
        "EntityDefinitions",
        params={
            "$select": "LogicalName,EntitySetName,PrimaryIdAttribute",
            "$filter": "LogicalName eq 'msdynci_alternatekey'",
        },
    ).json()["value"]
    assert found == [
        {
            "MetadataId": found[0]["MetadataId"],
            "LogicalName": "msdynci_alternatekey",
            "EntitySetName": "msdynci_alternatekeys",
            "PrimaryIdAttribute": "msdynci_alternatekeyid",
        }
    ]
    table = dv.get("EntityDefinitions(LogicalName='msdynci_customerprofile')").json()
    assert table["TableType"] == "Elastic"
    assert table["OwnershipType"] == "UserOwned"
    by_id = dv.get(f"EntityDefinitions({table['MetadataId']})", params={"$select": "LogicalName"})
    assert by_id.json()["LogicalName"] == "msdynci_customerprofile"
    attributes = dv.get(
        "EntityDefinitions(LogicalName='msdynci_customerprofile')/Attributes",
        params={"$select": "LogicalName,AttributeType,AttributeTypeName,MaxLength"},
    ).json()["value"]
    by_name: dict[str, Any] = {a["LogicalName"]: a for a in attributes}
    assert by_name["msdynci_customerid"]["AttributeType"] == "String"
    assert by_name["msdynci_customerid"]["MaxLength"] == 4000
    assert by_name["msdynci_customerprofileid"]["AttributeTypeName"] == {
        "Value": "UniqueidentifierType"
    }
    assert by_name["ownerid"]["AttributeType"] == "Owner"
    guids = dv.get(
        f"EntityDefinitions({table['MetadataId']})/Attributes",
        params={
            "$select": "LogicalName",
            "$filter": "AttributeType eq "
            "Microsoft.Dynamics.CRM.AttributeTypeCode'Uniqueidentifier'",
        },
    ).json()["value"]
    assert [a["LogicalName"] for a in guids] == ["msdynci_customerprofileid"]
    assert_error(dv.get("EntityDefinitions(LogicalName='account')"), 404, "0x80040217")
