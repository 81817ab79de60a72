"""No input makes the emulator answer 500: odd names, bodies and OData options, by Hypothesis.

Each test draws requests (half near-valid, so they reach deep into definition checking and
SQL, half junk) and sends them over HTTPS to an emulator of its own; every answer must be
below 500. Runs are derandomised (the same examples each run, so CI is stable) and bounded;
set ``CI_NEVER_500_EXAMPLES`` to search longer with fresh examples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.emulator.data.measures import AGGREGATES
from ci_toolkit.emulator.data.segments import COMPARISON_OPERATORS
from tests.support import api_client

#: ``CI_NEVER_500_EXAMPLES=2000`` searches longer, with fresh random examples each run.
_LONGER = os.environ.get("CI_NEVER_500_EXAMPLES")
SETTINGS = settings(
    max_examples=int(_LONGER or 60),
    deadline=None,
    derandomize=_LONGER is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ATTRIBUTES = [
    "Customer.Country", "Customer.BirthDate", "Customer.EmailOptIn", "Customer.LoyaltyTier",
    "Customer.CustomerId", "Customer_Measure.TotalSpend", "Customer_Measure.LastPurchaseDate",
    "UnifiedActivity.ActivityTime", "UnifiedActivity.Amount", "UnifiedActivity.ActivityType",
    "Country", "TotalSpend", "Amount", "Nope.Country", "Customer.", ".", "",
]  # fmt: skip
FIELDS = ["Amount", "ActivityId", "ActivityTime", "CustomerId", "Channel", "UnifiedActivity.Amount",
          "Customer.Country", "*", ""]  # fmt: skip
ENTITIES = ["Customer", "UnifiedActivity", "Customer_Measure", "HighValueCustomers",
            "PosSystem_Customers", "highvaluecustomers", "customer"]  # fmt: skip
NAMES = ["HighValueCustomers", "highvaluecustomers", "Customer", "CUSTOMER", "CustomerId",
         "customerid", "TotalSpend", "totalspend", "A" * 300, "a", " ", "..", "x/y", "%00",
         "Ünïcödé", "name with space", "1abc", "_x", "YoungAdults"]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["2020-01-01", "2020-13-45", "30 days", "P3D", "P0D", "1e400", "-1", "",
                     "true", "9999-12-31T23:59:59Z", "0001-01-01"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
names = st.one_of(
    st.sampled_from(NAMES), st.text(max_size=40), st.from_regex(r"[A-Za-z]\w{0,12}", fullmatch=True)
)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "attribute": st.sampled_from(ATTRIBUTES) | scalars,
            "comparisonOperator": st.sampled_from([*sorted(COMPARISON_OPERATORS), "any", "x"]),
        },
        optional={
            "value": scalars,
            "listOfValues": st.lists(scalars, max_size=3) | scalars,
            "ignoreCase": scalars,
        },
    )


criteria = st.recursive(
    _leaf() | json_values,
    lambda inner: st.fixed_dictionaries(
        {"logicalOperator": st.sampled_from(["and", "or", "xor"]) | scalars,
         "childCriterias": st.lists(inner, max_size=3) | scalars}
    ),
    max_leaves=6,
)  # fmt: skip
rowsets = st.lists(
    st.fixed_dictionaries(
        {"criteria": criteria},
        optional={"rowsetOperation": st.sampled_from(["union", "intersect", "except", "none",
                                                      "exclude", "x"]) | scalars},
    ) | json_values,
    max_size=3,
)  # fmt: skip
segment_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"name": names,
         "segmentQueryExpression": st.fixed_dictionaries({"rowsets": rowsets}) | json_values},
        optional={"state": st.sampled_from(["active", "inactive"]) | scalars,
                  "friendlyName": scalars, "description": scalars},
    ),
)  # fmt: skip
measure_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "name": names,
            "definition": st.fixed_dictionaries(
                {"aggregates": st.lists(
                    st.fixed_dictionaries(
                        {"operation": st.sampled_from([*AGGREGATES, "median"]) | scalars},
                        optional={"field": st.sampled_from(FIELDS) | scalars,
                                  "alias": scalars},
                    ) | json_values,
                    max_size=2,
                ) | scalars},
                optional={
                    "isProfile": st.booleans() | scalars,
                    "linkedEntities": st.lists(
                        st.fixed_dictionaries({"kind": st.just("base"),
                                               "entity": st.sampled_from(ENTITIES) | scalars}),
                        max_size=2,
                    ) | scalars,
                    "filteringCriteria": criteria,
                    "type": st.sampled_from(["structured", "manual"]),
                },
            ) | json_values,
        },
        optional={"displayName": scalars},
    ),
)  # fmt: skip

FILTER_TOKENS = [
    "CustomerId", "Country", "BirthDate", "EmailOptIn", "TotalSpend", "Amount", "ActivityTime",
    "eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "in", "(", ")", ",", "'x'",
    "'O''Brien'", "'", "1", "-1", "1.5", "1e308", "99999999999999999999999999", "null", "true",
    "2020-01-01", "2020-01-01T00:00:00Z", "contains(Country,'I')", "startswith(", "endswith(",
    "IsMemberOfSegment('HighValueCustomers')", "IsMemberOfSegment('nope')",
    "IsMemberOfSegment(Country)", "('a','b')", "$it", "any(", "/", "CustomerId ge 'a'",
    "CustomerId lt 'b'", "tolower(Country)", "year(BirthDate)", "add", "mod", "-", "*",
]  # fmt: skip
COLUMN_TOKENS = ["CustomerId", "Country", "FirstName", "Nope", "", " ", "*", ",", "asc", "desc",
                 "CustomerId desc", "Amount asc", "BirthDate", "Customer/Country"]  # fmt: skip


def _joined(tokens: list[str], max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(tokens), max_size=max_size).map(" ".join) | st.text(max_size=40)


numbers = st.integers(min_value=-5, max_value=10**25).map(str) | st.text(max_size=8)
odata_options = st.fixed_dictionaries(
    {},
    optional={
        "$filter": _joined(FILTER_TOKENS, 8),
        "$select": st.lists(st.sampled_from(COLUMN_TOKENS), max_size=4).map(",".join)
        | st.text(max_size=20),
        "$orderby": st.lists(st.sampled_from(COLUMN_TOKENS), max_size=3).map(",".join)
        | st.text(max_size=20),
        "$top": numbers,
        "$skip": numbers,
        "$count": st.sampled_from(["true", "false", "TRUE", "1", ""]) | st.text(max_size=5),
        "$search": st.text(max_size=20),
        "$expand": st.sampled_from(["UnifiedActivity", "Customer_Measure", "X",
                                    "UnifiedActivity($top=1)"]) | st.text(max_size=10),
        "$skiptoken": st.text(max_size=30),
        "$apply": st.text(max_size=5),
    },
)  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[tuple[httpx.Client, str]]:
    """An admin's client on an emulator of this module's own (its segments are changed)."""
    with Emulator(EmulatorConfig(profiles=200, seed=11)) as emu, api_client(emu) as api:
        yield api, f"/instances/{emu.settings.instance_id}"


def _check(response: httpx.Response) -> None:
    request = response.request
    assert response.status_code < 500, (
        f"{request.method} {request.url} {request.content[:500]!r} -> "
        f"{response.status_code} {response.text[:500]}"
    )


def _send(api: httpx.Client, method: str, url: str, body: Any = None, **params: Any) -> int:
    content = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if content is not None else {}
    response = api.request(method, url, content=content, headers=headers, params=params or None)
    _check(response)
    return response.status_code


@SETTINGS
@given(body=segment_bodies, name=names, days=numbers, flag=st.text(max_size=6))
def test_segment_routes_never_answer_500(
    client: tuple[httpx.Client, str], body: Any, name: str, days: str, flag: str
) -> None:
    api, root = client
    url = f"{root}/manage/segments"
    created = _send(api, "POST", url, body)
    one = f"{url}/{quote(name, safe='')}"
    _send(api, "PUT", one, body)
    _send(api, "PUT", f"{one}/deactivate")
    _send(api, "PUT", f"{one}/activate")
    _send(api, "GET", url, includeHistoricStats=flag, historicStatsDays=days,
          numberOfSegments=days)  # fmt: skip
    _send(api, "GET", f"{root}/manage/entities")
    _send(api, "GET", f"{root}/manage/entities/{quote(name, safe='')}")
    _send(api, "GET", f"{root}/data/{quote(name, safe='')}", **{"$top": "2"})
    if created < 300 and isinstance(body, dict) and isinstance(body.get("name"), str):
        _send(api, "DELETE", f"{url}/{quote(body['name'], safe='')}")
    if name != "HighValueCustomers":  # the filters above refer to it
        _send(api, "DELETE", one)


@SETTINGS
@given(body=measure_bodies, name=names, days=numbers, flag=st.text(max_size=6))
def test_measure_routes_never_answer_500(
    client: tuple[httpx.Client, str], body: Any, name: str, days: str, flag: str
) -> None:
    api, root = client
    url = f"{root}/manage/measures"
    created = _send(api, "POST", url, body)
    one = f"{url}/{quote(name, safe='')}"
    _send(api, "PUT", one, body)
    _send(api, "GET", one, includeHistoricStats=flag, historicStatsDays=days)
    _send(api, "GET", url)
    _send(api, "GET", f"{root}/data/Customer_Measure", **{"$top": "1"})
    if created < 300 and isinstance(body, dict) and isinstance(body.get("name"), str):
        _send(api, "DELETE", f"{url}/{quote(body['name'], safe='')}")
    if name != "TotalSpend":  # HighValueCustomers refers to it
        _send(api, "DELETE", one)


@SETTINGS
@given(entity=st.sampled_from(ENTITIES) | st.text(max_size=20), options=odata_options)
def test_data_route_never_answers_500(
    client: tuple[httpx.Client, str], entity: str, options: dict[str, str]
) -> None:
    api, root = client
    _send(api, "GET", f"{root}/data/{quote(entity, safe='')}", **options)
