"""Reads through Dataverse on the emulator over HTTPS: paging, typing, filters, errors, and the
same results as the v1 path (Customer360, segment members)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import httpx
import pandas as pd
import pytest

from ci_toolkit import exceptions as exc
from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.odata import F

PROFILES = "msdynci_customerprofile"


@pytest.fixture
def sent(both: CustomerInsights) -> Iterator[list[httpx.Request]]:
    """The Dataverse requests the test sends (recorded by an httpx event hook)."""
    requests: list[httpx.Request] = []
    hooks = both.dataverse.session.client.event_hooks
    hooks["request"].append(requests.append)
    yield requests
    hooks["request"].remove(requests.append)


def test_a_whole_table_in_pages_has_every_row_once(
    both: CustomerInsights, sent: list[httpx.Request]
) -> None:
    frame = both.dataverse.query(PROFILES, page_size=150, progress=False, parallel=False)
    v1 = both.query("Customer", select=["CustomerId"], progress=False)
    assert len(frame) == len(v1)
    assert frame["msdynci_customerprofileid"].is_unique
    assert set(frame["msdynci_customerid"]) == set(v1["CustomerId"])
    reads = [r for r in sent if r.url.path.endswith("msdynci_customerprofiles")]
    assert len(reads) == -(-len(v1) // 150)
    assert all(r.headers["Prefer"] == "odata.maxpagesize=150" for r in reads)
    assert all("$skip=" not in str(r.url) for r in reads)
    assert all("$skiptoken" in str(r.url) for r in reads[1:])
    assert frame.attrs["source"] == "dataverse"


def test_columns_are_typed_from_entity_definitions(both: CustomerInsights) -> None:
    frame = both.dataverse.query(PROFILES, top=5, progress=False)
    columns = both.dataverse.columns(PROFILES).set_index("column")
    for name in ("msdynci_birthdate", "msdynci_emailoptin", "versionnumber", "_ownerid_value"):
        assert str(frame[name].dtype) == columns.loc[name, "dtype"]
    assert str(frame["msdynci_birthdate"].dtype) == "datetime64[us, UTC]"
    assert str(frame["msdynci_emailoptin"].dtype) == "boolean"
    assert str(frame["versionnumber"].dtype) == "Int64"
    empty = both.dataverse.query(PROFILES, filter=F.eq("msdynci_customerid", "none"))
    assert len(empty) == 0
    assert list(empty.columns) == list(frame.columns)
    assert str(empty["msdynci_birthdate"].dtype) == "datetime64[us, UTC]"


def test_count_reports_the_services_cap(both: CustomerInsights) -> None:
    frame = both.dataverse.query(PROFILES, count=True, progress=False)
    odata = frame.attrs["odata"]
    assert odata["count"] <= len(frame)
    assert odata["count_capped"] is (odata["count"] < len(frame))


def test_filters_built_with_f_are_valid_on_dataverse(both: CustomerInsights) -> None:
    dv = both.dataverse
    one = dv.query(PROFILES, top=1, progress=False)
    key = uuid.UUID(str(one["msdynci_customerprofileid"][0]))
    by_key = dv.query(PROFILES, filter=F.eq("msdynci_customerprofileid", key), progress=False)
    assert by_key["msdynci_customerid"].tolist() == one["msdynci_customerid"].tolist()
    ids = dv.query(PROFILES, top=3, select=["msdynci_customerid"], progress=False)
    some = dv.query(PROFILES, filter=F.in_("msdynci_customerid", list(ids["msdynci_customerid"])))
    assert sorted(some["msdynci_customerid"]) == sorted(ids["msdynci_customerid"])
    cid = str(ids["msdynci_customerid"][0])
    recent = dv.query(
        "msdynci_unifiedactivity",
        filter=F.eq("msdynci_customerid", cid) & F.gt("msdynci_activitytime", date(2000, 1, 1)),
        orderby="msdynci_activitytime desc",
        progress=False,
    )
    assert recent["msdynci_activitytime"].is_monotonic_decreasing
    assert (recent["msdynci_activitytime"] > pd.Timestamp("2000-01-01", tz="UTC")).all()
    last = str(one["msdynci_lastname"][0])
    found = dv.query(PROFILES, filter=F.contains("msdynci_lastname", last[1:4]), top=20)
    assert found["msdynci_lastname"].str.contains(last[1:4], case=False).all()


def test_the_same_customer_on_both_paths(both: CustomerInsights) -> None:
    cid = str(both.query("Customer", top=1, progress=False)["CustomerId"][0])
    v1 = both.customer(cid)
    dv = both.customer(cid, source="dataverse")
    assert (v1.source, dv.source) == ("v1", "dataverse")
    assert list(dv.profile.index) == list(v1.profile.index)
    for field in v1.profile.index:
        a, b = v1.profile[field], dv.profile[field]
        assert (pd.isna(a) and pd.isna(b)) or a == b, field
    assert list(dv.measures.index) == list(v1.measures.index)
    for name in v1.measures.index:
        a, b = v1.measures[name], dv.measures[name]
        if isinstance(a, float):
            assert a == pytest.approx(b), name
        else:
            assert (pd.isna(a) and pd.isna(b)) or a == b, name
    common = ["ActivityId", "CustomerId", "ActivityType", "ActivityTime"]
    assert dv.activities[common].equals(v1.activities[common])
    assert dv.activities.attrs["source"] == "dataverse"


def test_the_same_segment_members_on_both_paths(both: CustomerInsights) -> None:
    segments = both.segments()
    name = str(segments.sort_values("size")["name"].iloc[-1])
    v1 = both.segment_members(name, select=["CustomerId", "FullName"], progress=False)
    dv = both.segment_members(name, select=["CustomerId", "FullName"], source="dataverse")
    assert dv.attrs["source"] == "dataverse"
    assert v1.attrs["source"] == "v1"
    assert list(dv.columns) == ["CustomerId", "FullName"]
    assert sorted(dv["CustomerId"]) == sorted(v1["CustomerId"])
    top = both.segment_members(name, top=3, orderby="FullName desc", source="dataverse")
    assert len(top) == 3
    assert top["FullName"].is_monotonic_decreasing
    cid = str(dv["CustomerId"][0])
    assert name in both.dataverse.customer_segments(cid)


def test_a_user_without_the_read_role_gets_the_role_named(
    both: CustomerInsights, emulator: Emulator, restore_roles: None
) -> None:
    emulator.dataverse.set_security_roles("admin", ["Basic User"])
    with pytest.raises(exc.PermissionDeniedError) as info:
        both.dataverse.query("msdynci_unifiedactivity", top=1, progress=False)
    err = info.value
    assert err.status == 403
    assert err.error_code == "0x80040220"
    assert "Customer Insights Data Read Access" in str(err)
    assert "ci.my_role()" not in str(err)


def test_unknown_and_v1_table_names(both: CustomerInsights) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        both.dataverse.query("msdynci_nosuchtable", progress=False)
    assert info.value.error_code is not None
    with pytest.raises(ValueError, match="msdynci_unifiedactivity"):
        both.dataverse.query("UnifiedActivity")
    with pytest.raises(ValueError, match="the v1 name 'LastName' is 'msdynci_lastname'"):
        both.dataverse.query(PROFILES, select=["LastName"])


def test_tables_lists_the_ci_tables_of_the_environment(both: CustomerInsights) -> None:
    tables = both.dataverse.tables().set_index("table")
    assert tables.loc["msdynci_customerprofile", "v1_entity"] == "Customer"
    assert tables.loc["msdynci_alternatekey", "entity_set"] == "msdynci_alternatekeys"
    keys = both.dataverse.query("msdynci_alternatekey", top=5, names="v1", progress=False)
    assert {"CustomerId", "DataSourceName", "TableName", "AlternateValue"} <= set(keys.columns)


def test_a_table_that_is_not_there_says_which_tables_are(both: CustomerInsights) -> None:
    with pytest.raises(exc.NotFoundError) as info:
        both.dataverse.query("msdynci_enrichment", progress=False)
    assert "exist only where they are configured" in str(info.value)
    assert "ci.dataverse.tables()" in str(info.value)
    assert info.value.status == 404


def test_service_protection_limits_are_a_throttled_error_with_the_code(
    emulator: Emulator,
) -> None:
    import ci_toolkit
    from ci_toolkit.http.retry import RetryPolicy
    from tests.dataverse.conftest import dv_args

    protection = emulator.dataverse.protection
    limits = protection.limits
    ci = ci_toolkit.connect(**dv_args(emulator, retry_policy=RetryPolicy(max_attempts=1)))
    try:
        ci.dataverse.columns(PROFILES)
        protection.configure(requests=2, window_seconds=60.0)
        for _ in range(2):
            ci.dataverse.query(PROFILES, top=1, progress=False)
        with pytest.raises(exc.ThrottledError) as info:
            ci.dataverse.query(PROFILES, top=1, progress=False)
        assert info.value.error_code == "0x80072322"
        assert info.value.retry_after is not None
        assert info.value.retry_after > 0
    finally:
        protection.configure(**vars(limits))
        ci.close()


def test_a_read_continues_from_a_next_link(both: CustomerInsights) -> None:
    pages = both.dataverse.iter_pages(PROFILES, page_size=300)
    first = next(pages)
    link = first.attrs["odata"]["next_link"]
    assert link is not None
    assert len(first) == 300
    rest = both.dataverse.query(PROFILES, next_link=link, progress=False)
    whole = both.dataverse.query(PROFILES, progress=False)
    assert len(first) + len(rest) == len(whole)
    assert set(first["msdynci_customerid"]).isdisjoint(rest["msdynci_customerid"])
