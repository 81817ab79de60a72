"""Unit tests of the OData -> DuckDB translation, checked against pandas on the same rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pytest

from ci_toolkit.emulator.data.odata import (
    ODataQueryError,
    SkipToken,
    build_page_query,
    parse_filter,
    parse_orderby,
    parse_search,
    parse_select,
    translate_filter,
)

ROWS = pd.DataFrame(
    {
        "Id": [f"id-{i:03d}" for i in range(60)],
        "Name": [["Ann O'Brien", "Bob", "Cara", "Dan", None][i % 5] for i in range(60)],
        "Age": [18 + (i * 7) % 50 for i in range(60)],
        "Score": [round(i * 1.5, 1) for i in range(60)],
        "Member": [i % 3 == 0 for i in range(60)],
        "Seen": [datetime(2024, 1, 1 + i % 28, i % 24) for i in range(60)],
    }
)


@pytest.fixture(scope="module")
def db() -> Any:
    con = duckdb.connect(":memory:")
    con.register("rows_df", ROWS)
    con.execute("CREATE TABLE People AS SELECT * FROM rows_df")
    yield con
    con.close()


@pytest.fixture(scope="module")
def columns(db: Any) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in db.execute("DESCRIBE People").fetchall()}


def ids(db: Any, columns: dict[str, str], text: str, segment: Any = None) -> list[str]:
    sql, params = translate_filter(text, columns, entity="People", segment_relation=segment)
    rows = db.execute(f"SELECT Id FROM People WHERE {sql} ORDER BY Id", params).fetchall()
    return [r[0] for r in rows]


def expect(mask: pd.Series) -> list[str]:
    return sorted(ROWS.loc[mask.fillna(False).astype(bool), "Id"])


@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("Age eq 25", ROWS.Age == 25),
        ("Age ne 25", ROWS.Age != 25),
        ("Age gt 40 and Age le 50", (ROWS.Age > 40) & (ROWS.Age <= 50)),
        ("Age lt 20 or Score ge 80", (ROWS.Age < 20) | (ROWS.Score >= 80)),
        ("not (Age lt 30)", ~(ROWS.Age < 30)),
        ("Name eq 'Ann O''Brien'", ROWS.Name == "Ann O'Brien"),
        ("Name in ('Bob', 'Cara')", ROWS.Name.isin(["Bob", "Cara"])),
        ("Name in ('Dan')", ROWS.Name == "Dan"),
        ("contains(Name, 'a')", ROWS.Name.str.contains("a", regex=False)),
        ("startswith(Name, 'C')", ROWS.Name.str.startswith("C")),
        ("endswith(Name, 'n')", ROWS.Name.str.endswith("n")),
        ("not contains(Name, 'a')", ~ROWS.Name.str.contains("a", regex=False).fillna(False)),
        ("Name eq null", ROWS.Name.isna()),
        ("Name ne null and Member", ROWS.Name.notna() & ROWS.Member),
        ("Member eq false", ~ROWS.Member),
        ("Seen gt 2024-01-20T00:00:00Z", ROWS.Seen > datetime(2024, 1, 20)),
        ("Seen lt 2024-01-05", ROWS.Seen < datetime(2024, 1, 5)),
        ("year(Seen) eq 2024 and day(Seen) eq 3", ROWS.Seen.dt.day == 3),
        ("tolower(Name) eq 'bob'", ROWS.Name.str.lower() == "bob"),
        ("Age add 2 gt 60", ROWS.Age + 2 > 60),
        ("length(Name) eq 4", ROWS.Name.str.len() == 4),
        ("Score gt 10.5 and Score lt 20", (ROWS.Score > 10.5) & (ROWS.Score < 20)),
    ],
)
def test_filter_matches_pandas(db: Any, columns: dict[str, str], text: str, mask: Any) -> None:
    assert ids(db, columns, text) == expect(mask)


def test_values_travel_as_parameters(columns: dict[str, str]) -> None:
    sql, params = translate_filter(
        "Name eq 'x''); DROP TABLE People; --'", columns, entity="People"
    )
    assert "DROP" not in sql
    assert params == ["x'); DROP TABLE People; --"]


def test_is_member_of_segment_uses_the_resolved_relation(db: Any, columns: dict[str, str]) -> None:
    cols = {**columns, "CustomerId": "VARCHAR"}
    db.execute("CREATE OR REPLACE TABLE seg AS SELECT 'id-001' AS CustomerId")
    sql, params = translate_filter(
        "IsMemberOfSegment('Vip')",
        cols,
        entity="People",
        segment_relation=lambda name: "seg" if name == "Vip" else None,
    )
    assert "seg" in sql
    assert params == []
    with pytest.raises(ODataQueryError, match="segment 'Nope' does not exist"):
        translate_filter(
            "IsMemberOfSegment('Nope')", cols, entity="People", segment_relation=lambda _: None
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Age eq", "Syntax error"),
        ("Age eq 'ten'", "incompatible types"),
        ("Height gt 3", "Could not find a property named 'Height'"),
        ("frobnicate(Name)", "unknown function"),
        ("Age", "must evaluate to a boolean"),
        ("Name eq 'a' and Age", "must be boolean"),
        ("Friends/any(f: f eq 'x')", "not supported"),
        ("Owner/Name eq 'x'", "Navigation properties"),
        ("Name eq 'open", "Syntax error"),
        ("", "empty"),
    ],
)
def test_bad_filters_explain_themselves(columns: dict[str, str], text: str, message: str) -> None:
    with pytest.raises(ODataQueryError, match=message):
        translate_filter(text, columns, entity="People")


def test_parse_filter_keeps_custom_function_case() -> None:
    tree = parse_filter("IsMemberOfSegment('A')")
    assert tree.func.name == "IsMemberOfSegment"


def test_select_orderby_search(columns: dict[str, str]) -> None:
    assert parse_select("Name, Age", columns, entity="People") == ["Name", "Age"]
    assert parse_select("*", columns, entity="People") is None
    assert parse_orderby("Age desc, Name", columns, entity="People") == [
        ("Age", True),
        ("Name", False),
    ]
    assert parse_search('"ann brien"') == ["ann", "brien"]
    with pytest.raises(ODataQueryError, match="property named 'Nope'"):
        parse_select("Nope", columns, entity="People")
    with pytest.raises(ODataQueryError, match="sort direction"):
        parse_orderby("Age sideways", columns, entity="People")


def pages(db: Any, columns: dict[str, str], **kwargs: Any) -> list[list[str]]:
    """Follow skip tokens like a client following nextLinks."""
    token = None
    out: list[list[str]] = []
    while True:
        plan = build_page_query(
            "People", columns, entity="People", key="Id", token=token, page_size=7, **kwargs
        )
        rows = db.execute(plan.sql, plan.params).fetchall()
        names = [d[0] for d in db.description]
        page = [r[names.index("Id")] for r in rows[: plan.page_size]]
        out.append(page)
        more = len(rows) > plan.page_size
        remaining = kwargs.get("top") if token is None else token.remaining
        left = None if remaining is None else remaining - plan.page_size
        if not more or (left is not None and left <= 0):
            return out
        if plan.keyset:
            token = SkipToken(query=1, after=page[-1], remaining=left)
        else:
            start = kwargs.get("skip") or 0 if token is None else token.offset
            token = SkipToken(query=1, offset=start + plan.page_size, remaining=left)


def test_keyset_paging_visits_every_row_once(db: Any, columns: dict[str, str]) -> None:
    where = translate_filter("Age gt 30", columns, entity="People")
    got = [i for page in pages(db, columns, where=where) for i in page]
    assert got == expect(ROWS.Age > 30)
    assert len(got) > 7


def test_offset_paging_with_orderby_top_and_skip(db: Any, columns: dict[str, str]) -> None:
    got = [
        i for page in pages(db, columns, orderby=[("Score", True)], top=20, skip=3) for i in page
    ]
    ordered = ROWS.sort_values(["Score", "Id"], ascending=[False, True]).Id.tolist()
    assert got == ordered[3:23]


def test_search_matches_any_searchable_column(db: Any, columns: dict[str, str]) -> None:
    plan = build_page_query(
        "People", columns, entity="People", key="Id", search_terms=["o'brien"],
        search_columns=["Name"], page_size=100,
    )  # fmt: skip
    rows = db.execute(plan.sql, plan.params).fetchall()
    assert len(rows) == int((ROWS.Name == "Ann O'Brien").sum())


def test_skip_token_round_trip_and_tampering() -> None:
    token = SkipToken(query=42, offset=0, after="id-9", remaining=5)
    assert SkipToken.decode(token.encode(), query=42) == token
    with pytest.raises(ODataQueryError, match="different query"):
        SkipToken.decode(token.encode(), query=43)
    with pytest.raises(ODataQueryError, match="not valid"):
        SkipToken.decode("!!not-a-token!!", query=42)
