"""``ci.dataverse`` reads against a mock Web API: paging, typing, counts, errors.

The emulator tests (``test_emulator.py``) cover the same reads over HTTPS with real MSAL;
these pin the request shapes and the edge cases a real service may send.
"""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from ci_toolkit import exceptions as exc
from ci_toolkit.odata import F
from tests.dataverse.mock_service import MockDataverse, mock_dataverse


@pytest.fixture
def service() -> MockDataverse:
    return MockDataverse(rows=7)


def test_pages_follow_next_link_unchanged_with_the_page_size_header(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    frame = dv.query("msdynci_customerprofile", page_size=3, progress=False, parallel=False)
    assert frame["msdynci_customerid"].tolist() == [f"c{n:04d}" for n in range(7)]
    reads = [r for r in service.requests if r.url.path.endswith("msdynci_customerprofiles")]
    assert len(reads) == 3
    assert all(r.headers["Prefer"] == "odata.maxpagesize=3" for r in reads)
    assert all("$skip=" not in str(r.url) for r in reads)
    assert all(r.headers["OData-Version"] == "4.0" for r in reads)
    assert "Ocp-Apim-Subscription-Key" not in reads[0].headers
    assert frame.attrs["source"] == "dataverse"


def test_columns_are_typed_from_metadata_also_when_empty(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    frame = dv.query("msdynci_customerprofile", progress=False)
    assert str(frame["msdynci_birthdate"].dtype) == "datetime64[us, UTC]"
    assert str(frame["msdynci_score"].dtype) == "Int64"
    assert str(frame["msdynci_spend"].dtype) == "Float64"
    assert str(frame["msdynci_optin"].dtype) == "boolean"
    assert str(frame["versionnumber"].dtype) == "Int64"
    assert "_ownerid_value" in frame.columns
    assert "owneridname" not in frame.columns
    service.rows = []
    empty = dv.query("msdynci_customerprofile", progress=False)
    assert len(empty) == 0
    assert str(empty["msdynci_score"].dtype) == "Int64"


def test_v1_names_drop_bookkeeping_columns(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    frame = dv.query("msdynci_customerprofile", names="v1", progress=False)
    assert {"CustomerId", "FirstName", "score"} <= set(frame.columns)  # common names get case
    assert not {"versionnumber", "msdynci_customerprofileid"} & set(frame.columns)
    dv.v1_attributes = lambda entity: ["CustomerId", "FirstName", "Score"]
    dv._meta.clear()
    assert "Score" in dv.query("msdynci_customerprofile", names="v1", progress=False)


def test_top_is_sent_without_the_page_size_header(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    frame = dv.query("msdynci_customerprofile", top=2, progress=False)
    assert len(frame) == 2
    read = next(r for r in service.requests if r.url.path.endswith("profiles"))
    assert "Prefer" not in read.headers
    assert read.url.params["$top"] == "2"


def test_count_at_the_cap_is_flagged(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    service.count_cap = 5
    frame = dv.query("msdynci_customerprofile", count=True, progress=False)
    assert frame.attrs["odata"]["count"] == 5
    assert frame.attrs["odata"]["count_capped"] is True
    assert len(frame) == 7
    read = next(r for r in service.requests if r.url.path.endswith("profiles"))
    assert "totalrecordcount" in read.headers["Prefer"]


def test_a_repeating_next_link_stops_the_read(service: MockDataverse) -> None:
    service.repeat_link = True
    dv = mock_dataverse(service)
    frame = dv.query("msdynci_customerprofile", page_size=500, progress=False, parallel=False)
    assert len(frame) == 14  # the first page twice, then the loop guard stops


def test_select_and_filter_reach_the_service_rendered_for_dataverse(
    service: MockDataverse,
) -> None:
    dv = mock_dataverse(service)
    key = "00000000-0000-0000-0000-000000000003"
    import uuid

    dv.query(
        "msdynci_customerprofile",
        select=["msdynci_customerid"],
        filter=F.eq("msdynci_customerprofileid", uuid.UUID(key)),
        orderby="msdynci_customerid desc",
        progress=False,
    )
    read = next(r for r in service.requests if r.url.path.endswith("profiles"))
    assert read.url.params["$filter"] == f"msdynci_customerprofileid eq {key}"
    assert read.url.params["$select"] == "msdynci_customerid"
    assert read.url.params["$orderby"] == "msdynci_customerid desc"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"select": ["LastName"]}, "lower-case logical names"),
        ({"orderby": "msdynci_customerid DESC"}, "orderby"),
        ({"page_size": 501}, "page_size"),
        ({"top": -1}, "top"),
        ({"names": "V1"}, "names"),
    ],
)
def test_bad_options_are_refused_before_any_read(
    service: MockDataverse, kwargs: dict[str, object], match: str
) -> None:
    dv = mock_dataverse(service)
    with pytest.raises(ValueError, match=match):
        dv.query("msdynci_customerprofile", progress=False, **kwargs)  # type: ignore[arg-type]
    assert not [r for r in service.requests if r.url.path.endswith("profiles")]


def test_table_names_are_checked(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    with pytest.raises(ValueError, match=r"msdynci_customerprofile"):
        dv.query("Customer")
    with pytest.raises(ValueError, match="lower-case"):
        dv.query("MSDYNCI_CustomerProfile")
    assert dv.query("msdynci_customerprofiles", top=1, progress=False).shape[0] == 1


def test_privilege_error_names_the_missing_role(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    service.error = (
        403,
        {
            "error": {
                "code": "0x80040220",
                "message": "Principal user is missing prvReadmsdynci_customerprofile privilege.",
            }
        },
    )
    with pytest.raises(exc.PermissionDeniedError) as info:
        dv.query("msdynci_customerprofile")
    err = info.value
    assert err.error_code == "0x80040220"
    assert err.status == 403
    assert "Customer Insights Data Read Access" in str(err)
    assert "ci.my_role()" not in str(err)  # the v1 hint does not apply


def test_unknown_property_is_a_query_error_with_the_code(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    dv.tables()
    dv._metadata("msdynci_customerprofile")
    service.error = (
        400,
        {
            "error": {
                "code": "0x0",
                "message": "Could not find a property named 'msdynci_x'.",
            }
        },
    )
    with pytest.raises(exc.QueryError) as info:
        dv.query("msdynci_customerprofile", select=["msdynci_x"])
    assert info.value.error_code == "0x0"


def test_throttling_is_a_throttled_error_with_retry_after(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    dv._metadata("msdynci_customerprofile")

    def throttled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            headers={"Retry-After": "7"},
            json={
                "error": {
                    "code": "0x80072322",
                    "message": "Number of requests exceeded the limit.",
                }
            },
        )

    dv.session.client._transport = httpx.MockTransport(throttled)
    with pytest.raises(exc.ThrottledError) as info:
        dv.query("msdynci_customerprofile")
    assert info.value.retry_after == 7.0
    assert info.value.error_code == "0x80072322"


def test_not_dataverse_and_no_ci_tables_are_one_line_errors(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    service.service_document = lambda: httpx.Response(404, text="<html>Not found</html>")
    with pytest.raises(exc.ConfigurationError, match="is not a Dataverse environment") as info:
        dv.tables()
    assert "CI_DATAVERSE_URL" in str(info.value)
    assert "\n" not in str(info.value)
    dv = mock_dataverse(service)
    service.service_document = lambda: httpx.Response(
        200, json={"value": [{"name": "accounts", "kind": "EntitySet", "url": "accounts"}]}
    )
    with pytest.raises(exc.NotFoundError, match="no Customer Insights tables") as info2:
        dv.tables()
    assert "\n" not in str(info2.value)


def test_unknown_table_is_not_found_with_the_code(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    service.error = (
        404,
        {
            "error": {
                "code": "0x8006088a",
                "message": "Resource not found for the segment 'msdynci_nothere'.",
            }
        },
    )
    with pytest.raises(exc.NotFoundError, match=r"ci\.dataverse\.tables") as info:
        dv.query("msdynci_nothere")
    assert info.value.error_code == "0x8006088a"


def test_segment_members_confirm_the_contains_match(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    assert dv.segment_member_ids("Seg_1") == ["c0001"]  # SegX1 matched the wildcard only
    read = next(r for r in service.requests if "segmentmemberships" in r.url.path)
    assert read.url.params["$filter"] == "contains(msdynci_segments,'\"Seg_1\"')"
    members = dv.segment_members("Gold")
    assert members["CustomerId"].tolist() == ["c0001", "c0003"]
    assert members.attrs["source"] == "dataverse"
    assert dv.customer_segments("c0001") == ["Gold", "Seg_1"]
    dv.segment_pattern = '\\"{name}\\"'
    dv.segment_member_ids("Gold")
    read = [r for r in service.requests if "segmentmemberships" in r.url.path][-1]
    assert read.url.params["$filter"] == "contains(msdynci_segments,'\\\"Gold\\\"')"


def test_tables_and_columns_describe_the_environment(service: MockDataverse) -> None:
    dv = mock_dataverse(service)
    tables = dv.tables()
    assert tables["table"].tolist() == ["msdynci_customerprofile", "msdynci_segmentmembership"]
    assert tables.set_index("table").loc["msdynci_customerprofile", "v1_entity"] == "Customer"
    columns = dv.columns("msdynci_customerprofile").set_index("column")
    assert columns.loc["msdynci_birthdate", "dtype"] == "datetime64[us, UTC]"
    assert columns.loc["msdynci_customerid", "v1_name"] == "CustomerId"
    assert isinstance(dv.whoami()["UserId"], str)
    assert isinstance(tables, pd.DataFrame)
