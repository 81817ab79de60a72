"""Unit tests of the OData -> DuckDB translation, checked against pandas on the same rows."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from ci_toolkit.emulator.data.jsonrows import SQL_ESCAPE, RowRenderer, sql_row_json
from ci_toolkit.emulator.data.keyindex import KeyIndex, key_conditions
from ci_toolkit.emulator.data.odata import (
    ODataQueryError,
    SkipToken,
    build_page_query,
    parse_filter,
    parse_orderby,
    parse_search,
    parse_select,
    to_json_value,
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


# ----------------------------------------------------------------------------------------------
# JSON rendering of rows (orjson) against the reference (to_json_value + json.dumps)
# ----------------------------------------------------------------------------------------------

TRICKY = [
    ("plain", "a", 1, 1.5, True, datetime(2024, 5, 1, 12, 30), date(2024, 5, 1)),
    ("nulls", None, None, None, None, None, None),
    ("O'Brien \"q\" \\ é ß 日本 😀 \u2028 \x7f", "tab\tnl\ncr\r\x00\x01\x1f", -(2**63),
     -0.0, False, datetime(2024, 5, 1, 12, 30, 0, 1), date(1, 1, 1)),
    ("micro", "", 2**63 - 1, 0.1 + 0.2, None, datetime(99, 12, 31, 23, 59, 59, 999999),
     date(9999, 12, 31)),
    ("floats", "x", 0, 123.45, True, datetime(2024, 2, 29), date(2024, 2, 29)),
    ("big", "x", 0, 1e16, True, datetime(2024, 2, 29), date(2024, 2, 29)),
    ("small", "x", 0, 1.5e-5, True, datetime(2024, 2, 29), date(2024, 2, 29)),
    ("nan", "x", 0, float("nan"), True, datetime(2024, 2, 29), date(2024, 2, 29)),
    ("inf", "x", 0, float("-inf"), True, datetime(2024, 2, 29), date(2024, 2, 29)),
]  # fmt: skip
TRICKY_COLUMNS = ["Id", "Text", "Number", "Amount", "Flag", "At", "Day"]
TRICKY_TYPES = ["VARCHAR", "VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP", "DATE"]


def reference(columns: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    """What the data endpoint sent before RowRenderer: to_json_value, then json.dumps."""
    dicts = [{c: to_json_value(v) for c, v in zip(columns, r, strict=False)} for r in rows]
    return json.dumps(dicts, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("row", TRICKY, ids=[r[0] for r in TRICKY])
def test_rendered_rows_equal_the_reference(row: tuple[Any, ...]) -> None:
    renderer = RowRenderer(TRICKY_COLUMNS, TRICKY_TYPES)
    assert renderer.fast
    assert renderer.render([row]) == reference(TRICKY_COLUMNS, [row])
    assert renderer.render([row, TRICKY[0]]) == reference(TRICKY_COLUMNS, [row, TRICKY[0]])


def test_rendered_rows_as_duckdb_returns_them() -> None:
    con = duckdb.connect(":memory:")
    try:
        con.execute(
            "CREATE TABLE t (Id VARCHAR, Text VARCHAR, Number BIGINT, Amount DOUBLE, Flag BOOLEAN,"
            ' "At" TIMESTAMP, "Day" DATE, Small INTEGER, Ratio FLOAT, Zoned TIMESTAMPTZ)'
        )
        con.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, 7, 0.1, '2024-05-01 12:00:00+02')",
            [list(r) for r in TRICKY],
        )
        result = con.execute("SELECT * FROM t ORDER BY Id")
        columns = [d[0] for d in result.description]
        rows = result.fetchall()
        kinds = [str(r[1]) for r in con.execute("DESCRIBE t").fetchall()]
    finally:
        con.close()
    for width in (len(columns) - 1, len(columns)):  # without and with the TIMESTAMPTZ column
        renderer = RowRenderer(columns[:width], kinds[:width])
        assert renderer.fast == (width < len(columns))
        assert renderer.render(rows) == reference(columns[:width], rows)
    # a key fetched for paging but not selected (the last value) is left out
    assert RowRenderer(["Id"], ["VARCHAR"]).render([("a", "key")]) == b'[{"Id":"a"}]'
    assert RowRenderer(["At"], ["TIMESTAMP"]).render([(datetime(2024, 1, 2, 3, 4, 5),)]) == (
        b'[{"At":"2024-01-02T03:04:05Z"}]'
    )
    assert RowRenderer(["A"], ["DOUBLE"]).render([(1e16,), (2.5,)]) == b'[{"A":1e+16},{"A":2.5}]'


def test_duckdb_writes_the_rows_renderer_writes_or_marks_them() -> None:
    """sql_row_json's text is RowRenderer's, except an upper-case escape the store checks for."""
    columns = [c for c in TRICKY_COLUMNS if c != "Amount"]  # floats are not in SQL_TYPES
    kinds = [t for c, t in zip(TRICKY_COLUMNS, TRICKY_TYPES, strict=True) if c != "Amount"]
    con = duckdb.connect(":memory:")
    try:
        con.execute('CREATE TABLE t (Id VARCHAR, Text VARCHAR, Number BIGINT, Flag BOOLEAN, '
                    '"At" TIMESTAMP, "Day" DATE)')  # fmt: skip
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
                        [[v for c, v in zip(TRICKY_COLUMNS, r, strict=True) if c != "Amount"]
                         for r in TRICKY])  # fmt: skip
        expression = sql_row_json(columns, kinds)
        assert expression is not None
        written = [r[0] for r in con.execute(f"SELECT {expression} FROM t ORDER BY Id").fetchall()]
        names = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f"SELECT {names} FROM t ORDER BY Id").fetchall()
    finally:
        con.close()
    expected = RowRenderer(columns, kinds).render_each(rows)
    marked = [i for i, text in enumerate(written) if SQL_ESCAPE in text]
    assert [rows[i][0] for i in marked] == [TRICKY[2][0]]  # the row with control characters
    assert written[marked[0]] != expected[marked[0]]
    assert written[marked[0]].lower() == expected[marked[0]].lower()
    assert [w for i, w in enumerate(written) if i not in marked] == [
        e for i, e in enumerate(expected) if i not in marked
    ]
    assert sql_row_json(columns, [*kinds[:-1], "TIMESTAMPTZ"]) is None
    assert sql_row_json(["A"], ["DOUBLE"]) is None
    assert sql_row_json([], []) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Id ge 'a' and Id lt 'b'", [("ge", "a"), ("lt", "b")]),
        ("'k' gt Id and 'c' le Id", [("lt", "k"), ("ge", "c")]),
        ("Id eq 'x''y'", [("eq", "x'y")]),
        ("Id gt 'a' and (Id le 'b' and Id ne null)", [("gt", "a"), ("le", "b"), ("all", None)]),
        ("Id eq null", [("none", None)]),
        ("Id lt null", [("none", None)]),
        ("Id ne 'a'", None),
        ("Id ge 'a' or Id lt 'b'", None),
        ("not (Id ge 'a')", None),
        ("Name ge 'a'", None),
        ("Id ge 'a' and Age gt 3", None),
        ("Id in ('a', 'b')", None),
        ("Id ge 5", None),
        ("startswith(Id, 'a')", None),
    ],
)
def test_key_conditions(text: str, expected: list[tuple[str, str | None]] | None) -> None:
    assert key_conditions(parse_filter(text), "Id") == expected


def test_key_index_spans_match_sql(db: Any, columns: dict[str, str]) -> None:
    keys = [r[0] for r in db.execute("SELECT Id FROM People ORDER BY Id").fetchall()]
    index = KeyIndex(pa.array(keys))
    for text in [
        "Id ge 'id-010' and Id lt 'id-020'",
        "Id gt 'id-010' and Id le 'id-020'",
        "Id gt 'id-0105' and Id lt 'id-02'",
        "Id eq 'id-033'",
        "Id eq 'nope'",
        "Id ge 'id-050' and Id lt 'id-040'",
        "Id lt 'id-000'",
        "Id ge ''",
        "Id gt 'zzz'",
        "Id ne null",
        "Id eq null",
    ]:
        conditions = key_conditions(parse_filter(text), "Id")
        assert conditions is not None
        start, stop = index.span(conditions)
        assert keys[start:stop] == ids(db, columns, text), text
    assert index.bisect_left("id-010") == 10
    assert index.bisect_right("id-010") == 11
    assert index.keys(3, 5) == ["id-003", "id-004"]


def test_key_index_only_for_tables_stored_in_key_order() -> None:
    con = duckdb.connect(":memory:")
    try:
        con.execute("CREATE TABLE ordered AS SELECT 'k' || lpad(range::VARCHAR, 3, '0') AS k "
                    "FROM range(50) ORDER BY k")  # fmt: skip
        con.execute("CREATE TABLE shuffled AS SELECT * FROM ordered ORDER BY k DESC")
        con.execute("CREATE TABLE dupes AS SELECT 'a' AS k FROM range(3)")
        con.execute("CREATE TABLE nulls AS SELECT NULL::VARCHAR AS k UNION ALL SELECT 'a'")
        con.execute("CREATE TABLE numbers AS SELECT range AS k FROM range(3)")
        con.execute("CREATE VIEW v AS SELECT * FROM ordered")
        built = KeyIndex.build(con, "ordered", "k", max_rows=1000)
        assert built is not None
        assert len(built) == 50
        assert built.key(7) == "k007"
        for relation in ("shuffled", "dupes", "nulls", "numbers", "v", "missing"):
            assert KeyIndex.build(con, relation, "k", max_rows=1000) is None, relation
        assert KeyIndex.build(con, "ordered", "k", max_rows=49) is None
    finally:
        con.close()
