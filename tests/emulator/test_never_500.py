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
from ci_toolkit.emulator.data.segments import COMPARISON_OPERATORS, MAX_CRITERIA_DEPTH
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
    "Customer_Measure.PurchaseCount",
    "UnifiedActivity.ActivityTime", "UnifiedActivity.Amount", "UnifiedActivity.ActivityType",
    "Country", "TotalSpend", "Amount", "Nope.Country", "Customer.", ".", "",
]  # fmt: skip
FIELDS = ["Amount", "ActivityId", "ActivityTime", "CustomerId", "Channel", "UnifiedActivity.Amount",
          "Customer.Country", "*", ""]  # fmt: skip
ENTITIES = ["Customer", "UnifiedActivity", "Customer_Measure", "HighValueCustomers",
            "PosSystem_Customers"]  # fmt: skip
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
                     "true", "9999-12-31T23:59:59Z", "0001-01-01", "999999999999 days",
                     "P99999999Y", "99999999999999999999999"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
names = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True),
    st.sampled_from(NAMES),
    st.text(max_size=40),
)


def _mostly(values: list[str], junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of ``values`` three times in four, else ``junk``."""
    good = st.sampled_from(values)
    return st.one_of(good, good, good, junk)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "attribute": _mostly(ATTRIBUTES, scalars),
            "comparisonOperator": _mostly([*sorted(COMPARISON_OPERATORS), "any"], scalars),
        },
        optional={
            "value": scalars,
            "listOfValues": st.lists(scalars, max_size=3) | scalars,
            "ignoreCase": scalars,
        },
    )


criteria = st.recursive(
    st.one_of(_leaf(), _leaf(), json_values),
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
_near_valid_segment = (
    st.fixed_dictionaries(
        {"name": names,
         "segmentQueryExpression": st.one_of(*[st.fixed_dictionaries({"rowsets": rowsets})] * 3,
                                             json_values)},
        optional={"state": _mostly(["active", "inactive"], scalars),
                  "friendlyName": scalars, "description": scalars},
    )
)  # fmt: skip
segment_bodies = st.one_of(*[_near_valid_segment] * 3, json_values)
_near_valid_measure = (
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
    )
)  # fmt: skip
measure_bodies = st.one_of(*[_near_valid_measure] * 3, json_values)

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


LITERALS = ["'x'", "'O''Brien'", "''", "1", "-1", "0", "1.5", "1e308", "1e309", "-0",
            "99999999999999999999999999", "null", "true", "false", "2020-01-01",
            "2020-01-01T00:00:00Z", "2020-13-45", "'2020-01-01'", "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z", "12:00:00", "duration'P1D'", "CustomerId"]  # fmt: skip
literals = st.one_of(
    st.sampled_from(LITERALS),
    st.sampled_from(LITERALS),
    st.text(max_size=12).map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
FILTER_COLUMNS = ["CustomerId", "Country", "BirthDate", "EmailOptIn", "TotalSpend", "Amount",
                  "ActivityTime", "FirstName", "LastPurchaseDate", "Nope"]  # fmt: skip
comparisons = st.one_of(
    st.tuples(
        st.sampled_from(FILTER_COLUMNS),
        st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "has"]),
        literals,
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["contains", "startswith", "endswith", "substringof"]),
        st.sampled_from(FILTER_COLUMNS),
        literals,
    ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    st.tuples(st.sampled_from(FILTER_COLUMNS), st.lists(literals, max_size=3)).map(
        lambda t: f"{t[0]} in ({', '.join(t[1])})"
    ),
    literals.map(lambda lit: f"IsMemberOfSegment({lit})"),
    st.sampled_from(["IsMemberOfSegment('HighValueCustomers')", "CustomerId ge 'a'"]),
)
#: Well-formed ``$filter`` expressions (they get past the parser, into translation and SQL).
filters = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
        inner.map(lambda f: f"not ({f})"),
        inner.map(lambda f: f"({f})"),
    ),
    max_leaves=4,
)
flags = st.one_of(st.sampled_from(["true", "false", "True"]), st.text(max_size=6))
numbers = st.one_of(
    st.integers(min_value=0, max_value=300).map(str),
    st.sampled_from(
        ["1000000000", "99999999999999999999", "-1", "", "1.5", "0x10", "١٢", "²", "9" * 5000]
    ),  # "²".isdigit() is true; int() refuses 5,000 digits
    st.integers(min_value=-5, max_value=10**25).map(str),
    st.text(max_size=8),
)
odata_options = st.fixed_dictionaries(
    {},
    optional={
        "$filter": st.one_of(filters, filters, _joined(FILTER_TOKENS, 8)),
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
@given(body=segment_bodies, name=names, days=numbers, flag=flags)
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
@given(body=measure_bodies, name=names, days=numbers, flag=flags)
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
@given(flag=flags, days=numbers, limit=numbers, name=_mostly(["TotalRevenue", "TotalSpend"], names))
def test_query_parameters_never_answer_500(
    client: tuple[httpx.Client, str], flag: str, days: str, limit: str, name: str
) -> None:
    api, root = client
    _send(api, "GET", f"{root}/manage/segments", includeHistoricStats=flag,
          historicStatsDays=days, numberOfSegments=limit)  # fmt: skip
    _send(api, "GET", f"{root}/manage/measures/{quote(name, safe='')}",
          includeHistoricStats=flag, historicStatsDays=days)  # fmt: skip
    _send(api, "GET", f"{root}/manage/measures", templateSummaryIncluded=flag)


@SETTINGS
@given(entity=_mostly(ENTITIES, st.text(max_size=20)), options=odata_options)
def test_data_route_never_answers_500(
    client: tuple[httpx.Client, str], entity: str, options: dict[str, str]
) -> None:
    api, root = client
    _send(api, "GET", f"{root}/data/{quote(entity, safe='')}", **options)


@pytest.mark.parametrize("number", ["²", "١٢", "9" * 5000])
def test_numbers_that_are_not_ascii_integers_are_a_400(
    client: tuple[httpx.Client, str], number: str
) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises, as does ``int`` of 5,000 digits; the
    emulator read such numbers with ``int`` after ``isdigit`` and answered 500."""
    api, root = client
    for url, params in [
        (f"{root}/manage/segments", {"historicStatsDays": number}),
        (f"{root}/manage/segments", {"numberOfSegments": number}),
        (f"{root}/manage/measures/TotalSpend", {"historicStatsDays": number}),
        (f"{root}/data/Customer", {"$top": number}),
        (f"{root}/data/Customer", {"$skip": number}),
    ]:
        response = api.get(url, params=params)
        assert response.status_code == 400, (url, params, response.text[:300])


def _nested_criteria(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"attribute": "Customer.Country", "comparisonOperator": "equals",
                            "value": "Ireland"}  # fmt: skip
    for _ in range(depth):
        node = {"logicalOperator": "and", "childCriterias": [node]}
    return node


def test_input_nested_beyond_reason_is_a_400(client: tuple[httpx.Client, str]) -> None:
    """Thousands of levels (in a body, in criteria, in a ``$filter``) are the request's fault:
    400 saying so, where Python's recursion limit made them 500s."""
    api, root = client
    deep_body = b"[" * 50_000 + b"]" * 50_000
    for url in (f"{root}/manage/segments", f"{root}/manage/measures"):
        response = api.post(url, content=deep_body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert "nested too deeply" in response.text
    body = {"name": "Deep", "segmentQueryExpression": {"rowsets": [{"criteria": _nested_criteria(
        MAX_CRITERIA_DEPTH + 1)}]}}  # fmt: skip
    response = api.post(f"{root}/manage/segments", json=body)
    assert response.status_code == 400
    assert f"more than {MAX_CRITERIA_DEPTH} groups deep" in response.json()["message"]
    body["segmentQueryExpression"]["rowsets"][0]["criteria"] = _nested_criteria(MAX_CRITERIA_DEPTH)
    response = api.post(f"{root}/manage/segments", json=body)
    assert response.status_code == 201, response.text
    assert api.delete(f"{root}/manage/segments/Deep").status_code == 200
    response = api.get(f"{root}/data/Customer", params={"$filter": "not " * 2000 + "EmailOptIn"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "RequestTooComplex"  # an ODataError
