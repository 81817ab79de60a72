"""Paging edge cases the emulator cannot produce on demand, with ``httpx.MockTransport``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.exceptions import CustomerInsightsError
from ci_toolkit.http.session import ApiSession

BASE = "https://ci.example/v1/"
META = {
    "name": "Thing",
    "attributes": [
        {"name": "Id", "dataType": "string"},
        {"name": "When", "dataType": "dateTime"},
        {"name": "N", "dataType": "int64"},
    ],
}


def client_for(
    pages: Callable[[httpx.Request], dict[str, Any]],
) -> tuple[CustomerInsights, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/manage/entities/Thing"):
            return httpx.Response(200, json=META)
        return httpx.Response(200, json=pages(request))

    session = ApiSession(httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler)))
    return CustomerInsights(session, instance_id="i1"), seen


def rows(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"Id": str(i), "When": "2024-01-01T00:00:00Z", "N": i} for i in range(start, start + count)
    ]


def test_top_is_enforced_when_the_service_sends_more() -> None:
    def pages(request: httpx.Request) -> dict[str, Any]:
        skip = int(request.url.params.get("$skiptoken", "0"))
        return {
            "value": rows(skip, 100),
            "@odata.nextLink": f"{BASE}instances/i1/data/Thing?$skiptoken={skip + 100}",
        }

    ci, seen = client_for(pages)
    with pytest.warns(UserWarning, match="top=150"):
        df = ci.query("Thing", top=150, progress=False)
    assert len(df) == 150
    assert df["N"].tolist() == list(range(150))
    data_requests = [r for r in seen if "/data/" in r.url.path]
    assert len(data_requests) == 2
    assert data_requests[0].url.params["$top"] == "150"
    assert "$top" not in data_requests[1].url.params  # the nextLink carries the state


def test_next_link_to_another_host_is_refused() -> None:
    def pages(request: httpx.Request) -> dict[str, Any]:
        return {"value": rows(0, 1), "@odata.nextLink": "https://evil.example/v1/steal"}

    ci, _ = client_for(pages)
    with pytest.raises((ValueError, CustomerInsightsError), match=r"(?i)host|credentials"):
        ci.query("Thing", progress=False)


def test_empty_pages_and_typed_concat() -> None:
    def pages(request: httpx.Request) -> dict[str, Any]:
        token = request.url.params.get("$skiptoken")
        if token is None:
            return {
                "value": rows(0, 2),
                "@odata.nextLink": f"{BASE}instances/i1/data/Thing?$skiptoken=a",
            }
        if token == "a":
            return {"value": [], "@odata.nextLink": f"{BASE}instances/i1/data/Thing?$skiptoken=b"}
        return {"value": rows(2, 1)}

    ci, _ = client_for(pages)
    pages_ = list(ci.iter_pages("Thing"))
    assert [len(p) for p in pages_] == [2, 0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = ci.query("Thing", progress=False)
    assert df["N"].tolist() == [0, 1, 2]
    assert str(df["N"].dtype) == "Int64"
    assert str(df["When"].dtype) == "datetime64[us, UTC]"


def test_count_sizes_progress_and_lands_in_attrs() -> None:
    def pages(request: httpx.Request) -> dict[str, Any]:
        return {"@odata.count": 1, "value": rows(0, 1)}

    ci, seen = client_for(pages)
    df = ci.query("Thing", count=True, filter="N eq 0", select="Id,N", progress=False)
    assert df.attrs["odata"]["count"] == 1
    assert list(df.columns) == ["Id", "N"]
    params = next(r for r in seen if "/data/" in r.url.path).url.params
    assert params["$count"] == "true"
    assert params["$filter"] == "N eq 0"
    assert params["$select"] == "Id,N"
