"""query() and iter_pages(): typing from metadata, paging, filters, options and errors."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.exceptions import NotFoundError, QueryError
from ci_toolkit.odata import F

DATETIME = pd.api.types.is_datetime64_any_dtype


def test_query_typed_from_metadata(ci: CustomerInsights) -> None:
    df = ci.query("Customer", top=20, progress=False)
    attributes = ci.attributes("Customer")
    assert list(df.columns) == attributes["name"].tolist()
    assert len(df) == 20
    assert str(df["CustomerId"].dtype) == "string"
    assert str(df["EmailOptIn"].dtype) == "boolean"
    assert DATETIME(df["CreatedOn"])
    assert str(df["CreatedOn"].dt.tz) == "UTC"
    activity = ci.query("UnifiedActivity", top=5, progress=False)
    assert str(activity["Amount"].dtype) == "Float64"
    assert DATETIME(activity["ActivityTime"])


def test_query_values_match_raw_json(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    body = raw.get(
        f"instances/{iid}/data/UnifiedActivity", params={"$top": 30, "$orderby": "ActivityId"}
    ).json()["value"]
    df = ci.query("UnifiedActivity", top=30, orderby="ActivityId", progress=False)
    assert df["ActivityId"].tolist() == [r["ActivityId"] for r in body]
    for row, record in zip(df.itertuples(index=False), body, strict=True):
        assert row.ActivityTime == pd.Timestamp(record["ActivityTime"])
        if record.get("Amount") is None:
            assert pd.isna(row.Amount)
        else:
            assert row.Amount == pytest.approx(record["Amount"])


def test_query_follows_every_page(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.query("Customer", count=True, progress=False)
    assert len(df) == 1000
    assert df["CustomerId"].is_unique
    assert df.attrs["odata"]["count"] == 1000
    assert df.index.equals(pd.RangeIndex(1000))


def test_iter_pages_streams_typed_pages(ci: CustomerInsights) -> None:
    pages = list(ci.iter_pages("Customer", select=["CustomerId", "BirthDate"]))
    assert len(pages) == 10
    assert all(len(p) <= 100 for p in pages)
    assert all(list(p.columns) == ["CustomerId", "BirthDate"] for p in pages)
    assert all(DATETIME(p["BirthDate"]) for p in pages)
    assert sum(len(p) for p in pages) == 1000


def test_top_stops_there_and_warns_when_more_match(ci: CustomerInsights) -> None:
    with pytest.warns(UserWarning, match="top=150"):
        df = ci.query("Customer", top=150, count=True, progress=False)
    assert len(df) == 150
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(ci.query("Customer", top=150, progress=False)) == 150


def test_skip_and_orderby(ci: CustomerInsights) -> None:
    ordered = ci.query("Customer", select=["CustomerId"], orderby="CustomerId", progress=False)
    assert ordered["CustomerId"].is_monotonic_increasing
    skipped = ci.query(
        "Customer", select=["CustomerId"], orderby=["CustomerId"], skip=990, progress=False
    )
    assert skipped["CustomerId"].tolist() == ordered["CustomerId"].tolist()[990:]
    desc = ci.query("Customer", select=["CustomerId"], orderby="CustomerId desc", top=3)
    assert desc["CustomerId"].tolist() == ordered["CustomerId"].tolist()[::-1][:3]


def test_obrien_round_trips_through_filter(ci: CustomerInsights) -> None:
    everyone = ci.query("Customer", select=["LastName", "BirthDate"], progress=False)
    expected = everyone[
        (everyone["LastName"] == "O'Brien")
        & (everyone["BirthDate"] > pd.Timestamp("1990-01-01", tz="UTC"))
    ]
    assert len(expected) > 0
    where = F.eq("LastName", "O'Brien") & F.gt("BirthDate", date(1990, 1, 1))
    df = ci.query("Customer", filter=where, select=["LastName", "BirthDate"], progress=False)
    assert len(df) == len(expected)
    assert (df["LastName"] == "O'Brien").all()
    as_text = ci.query("Customer", filter=str(where), select=["LastName"], progress=False)
    assert len(as_text) == len(df)


def test_in_and_datetime_filters(ci: CustomerInsights) -> None:
    df = ci.query(
        "Customer",
        filter=F.in_("Country", ["Ireland", "Spain"]),
        select=["Country"],
        progress=False,
    )
    assert set(df["Country"]) == {"Ireland", "Spain"}
    since = datetime(2026, 1, 1, tzinfo=UTC)
    recent = ci.query(
        "UnifiedActivity",
        filter=F.gt("ActivityTime", since) & ~F.eq("ActivityType", "WebVisit"),
        select=["ActivityTime", "ActivityType"],
        progress=False,
    )
    assert (recent["ActivityTime"] > pd.Timestamp(since)).all()
    assert "WebVisit" not in set(recent["ActivityType"])


def test_empty_result_keeps_columns_and_dtypes(ci: CustomerInsights) -> None:
    df = ci.query("Customer", filter=F.eq("LastName", "No such name"), progress=False)
    assert df.empty
    assert list(df.columns) == ci.attributes("Customer")["name"].tolist()
    assert DATETIME(df["BirthDate"])
    assert str(df["EmailOptIn"].dtype) == "boolean"
    selected = ci.query(
        "Customer", filter=F.eq("LastName", "No such name"), select=["CustomerId", "CreatedOn"]
    )
    assert list(selected.columns) == ["CustomerId", "CreatedOn"]
    assert DATETIME(selected["CreatedOn"])


def test_search_and_expand(ci: CustomerInsights) -> None:
    found = ci.query("Customer", search="Dublin", select=["City"], top=20, progress=False)
    assert len(found) > 0
    one = ci.query("Customer", top=1, progress=False)["CustomerId"][0]
    expanded = ci.query(
        "Customer",
        filter=F.eq("CustomerId", one),
        expand=["UnifiedActivity", "Customer_Measure"],
        progress=False,
    )
    assert len(expanded) == 1
    activities = expanded["UnifiedActivity"][0]
    assert isinstance(activities, list)
    assert all(a["CustomerId"] == one for a in activities)


def test_progress_bar_only_for_multi_page_pulls(
    ci: CustomerInsights, capsys: pytest.CaptureFixture[str]
) -> None:
    ci.query("Customer", select=["CustomerId"], count=True, progress=True)
    assert "rows" in capsys.readouterr().err
    ci.query("Customer", select=["CustomerId"], top=10, progress=True)
    ci.query("Customer", select=["CustomerId"], progress=False)
    assert "rows" not in capsys.readouterr().err


def test_bad_filter_is_a_query_error(ci: CustomerInsights) -> None:
    with pytest.raises(QueryError):
        ci.query("Customer", filter="LastName eq", progress=False)
    with pytest.raises(QueryError):
        ci.query("Customer", filter=F.eq("NoSuchColumn", 1), progress=False)
    with pytest.raises(QueryError):
        ci.query("Customer", search="x", expand="UnifiedActivity", progress=False)


def test_unknown_entity_is_not_found(ci: CustomerInsights) -> None:
    with pytest.raises(NotFoundError):
        ci.query("NoSuchEntity", progress=False)


def test_bad_arguments_fail_before_any_request(ci: CustomerInsights) -> None:
    with pytest.raises(ValueError, match="select"):
        ci.query("Customer", select=["Name; drop"])
    with pytest.raises(ValueError, match="orderby"):
        ci.query("Customer", orderby="Name sideways")
    with pytest.raises(ValueError, match="top"):
        ci.query("Customer", top=-1)
    with pytest.raises(TypeError):
        ci.query("Customer", filter=42)  # type: ignore[arg-type]


def test_metadata_fetched_once_per_entity(ci: CustomerInsights) -> None:
    ci.clear_cache()
    ci.query("Customer", top=1, progress=False)
    cached = ci._entity_cache[(ci.instance_id, "Customer")]
    ci.query("Customer", top=1, progress=False)
    assert ci._entity_cache[(ci.instance_id, "Customer")] is cached
