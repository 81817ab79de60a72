"""Unit tests of segment definitions -> SQL on small hand-made tables, checked against pandas."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
import pytest

from ci_toolkit.emulator.data.segments import SegmentDefinitionError, segment_sql

NOW = datetime(2025, 6, 30, 12, 0)

CUSTOMERS = pd.DataFrame(
    {
        "CustomerId": [f"c{i:02d}" for i in range(30)],
        "City": [["Dublin", "Cork", "Paris", None][i % 4] for i in range(30)],
        "BirthDate": [datetime(1960 + i, 1 + i % 12, 1) for i in range(30)],
        "EmailOptIn": [i % 2 == 0 for i in range(30)],
    }
)
MEASURES = pd.DataFrame(
    {"CustomerId": CUSTOMERS.CustomerId, "TotalSpend": [float(i * 37 % 500) for i in range(30)]}
)
ACTIVITIES = pd.DataFrame(
    {
        "ActivityId": [f"a{i:03d}" for i in range(120)],
        "CustomerId": [f"c{(i * 7) % 30:02d}" for i in range(120)],
        "ActivityType": [["Purchase", "WebVisit", "EmailOpen"][i % 3] for i in range(120)],
        "ActivityTime": [NOW - timedelta(days=(i * 5) % 200) for i in range(120)],
    }
)


@pytest.fixture(scope="module")
def db() -> Any:
    con = duckdb.connect(":memory:")
    for name, frame in (
        ("Customer", CUSTOMERS),
        ("Customer_Measure", MEASURES),
        ("UnifiedActivity", ACTIVITIES),
    ):
        con.register("frame", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        con.unregister("frame")
    yield con
    con.close()


@pytest.fixture(scope="module")
def schemas(db: Any) -> dict[str, dict[str, str]]:
    return {
        name: {str(r[0]): str(r[1]) for r in db.execute(f"DESCRIBE {name}").fetchall()}
        for name in ("Customer", "Customer_Measure", "UnifiedActivity")
    }


def leaf(attribute: str, op: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"attribute": attribute, "comparisonOperator": op, "value": value, **extra}


def members(db: Any, schemas: dict[str, dict[str, str]], *rowsets: Any) -> set[str]:
    query = {"rowsets": [{"rowsetOperation": op, "criteria": c} for op, c in rowsets]}
    sql, params = segment_sql(query, schemas, now=NOW)
    return {r[0] for r in db.execute(sql, params).fetchall()}


def ids(frame: pd.DataFrame) -> set[str]:
    return set(frame.CustomerId)


def active(kind: str, days: int) -> set[str]:
    recent = ACTIVITIES[
        (ACTIVITIES.ActivityType == kind) & (ACTIVITIES.ActivityTime >= NOW - timedelta(days=days))
    ]
    return set(recent.CustomerId)


def test_simple_conditions(db: Any, schemas: dict[str, dict[str, str]]) -> None:
    c, m = CUSTOMERS, MEASURES
    assert members(db, schemas, ("none", leaf("City", "equals", "Dublin"))) == ids(
        c[c.City == "Dublin"]
    )
    lower = leaf("Customer.City", "equals", "dublin", ignoreCase=True)
    assert members(db, schemas, ("none", lower)) == ids(c[c.City == "Dublin"])
    assert members(db, schemas, ("none", leaf("City", "isNull"))) == ids(c[c.City.isna()])
    assert members(
        db, schemas, ("none", leaf("Customer_Measure.TotalSpend", "greaterThan", "250"))
    ) == ids(m[m.TotalSpend > 250])
    between = leaf("TotalSpend", "isBetween", listOfValues=["100", "200"])
    assert members(db, schemas, ("none", between)) == ids(
        m[(m.TotalSpend >= 100) & (m.TotalSpend <= 200)]
    )
    cities = leaf("City", "isIn", listOfValues=["Cork", "Paris"])
    assert members(db, schemas, ("none", cities)) == ids(c[c.City.isin(["Cork", "Paris"])])
    assert members(db, schemas, ("none", leaf("BirthDate", "yearOf", "1975"))) == ids(
        c[c.BirthDate.dt.year == 1975]
    )
    assert members(db, schemas, ("none", leaf("EmailOptIn", "equals", "true"))) == ids(
        c[c.EmailOptIn]
    )


def test_activity_conditions_in_one_group_hold_for_the_same_activity(
    db: Any, schemas: dict[str, dict[str, str]]
) -> None:
    group = {
        "logicalOperator": "and",
        "childCriterias": [
            leaf("UnifiedActivity.ActivityType", "equals", "Purchase"),
            leaf("UnifiedActivity.ActivityTime", "isWithinLast", "30 days"),
            leaf("Customer.EmailOptIn", "equals", "true"),
        ],
    }
    expected = active("Purchase", 30) & ids(CUSTOMERS[CUSTOMERS.EmailOptIn])
    assert members(db, schemas, ("none", group)) == expected
    either = {
        "logicalOperator": "or",
        "childCriterias": [
            leaf("UnifiedActivity.ActivityType", "equals", "WebVisit"),
            leaf("City", "equals", "Paris"),
        ],
    }
    web = set(ACTIVITIES[ACTIVITIES.ActivityType == "WebVisit"].CustomerId)
    assert members(db, schemas, ("none", either)) == web | ids(CUSTOMERS[CUSTOMERS.City == "Paris"])


def test_rowsets_combine_in_order(db: Any, schemas: dict[str, dict[str, str]]) -> None:
    dublin = ids(CUSTOMERS[CUSTOMERS.City == "Dublin"])
    cork = ids(CUSTOMERS[CUSTOMERS.City == "Cork"])
    rich = ids(MEASURES[MEASURES.TotalSpend > 200])
    assert members(
        db, schemas, ("none", leaf("City", "equals", "Dublin")),
        ("union", leaf("City", "equals", "Cork")),
        ("except", leaf("TotalSpend", "greaterThan", "200")),
    ) == (dublin | cork) - rich  # fmt: skip
    assert members(
        db, schemas, ("none", leaf("City", "equals", "Dublin")),
        ("intersect", leaf("TotalSpend", "greaterThan", "200")),
    ) == dublin & rich  # fmt: skip


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (leaf("Customer.Shoe", "equals", "1"), "no attribute 'Shoe'"),
        (leaf("Orders.Total", "equals", "1"), "Unknown entity 'Orders'"),
        (leaf("City", "approximately", "x"), "Unknown comparison operator"),
        (leaf("City", "childOf", "x"), "not supported"),
        (leaf("TotalSpend", "greaterThan", "lots"), "not a number"),
        (leaf("UnifiedActivity.ActivityTime", "isWithinLast", "a while"), "not a period"),
        (leaf("City", "isIn"), "listOfValues"),
        (leaf("City", "isWithinLast", "3 days"), "needs a date attribute"),
        ({"logicalOperator": "xor", "childCriterias": [leaf("City", "isNull")]}, "xor"),
    ],
)
def test_invalid_definitions(
    schemas: dict[str, dict[str, str]], criteria: dict[str, Any], message: str
) -> None:
    with pytest.raises(SegmentDefinitionError, match=message):
        segment_sql({"rowsets": [{"criteria": criteria}]}, schemas, now=NOW)


def test_manual_and_empty_queries_are_rejected(schemas: dict[str, dict[str, str]]) -> None:
    with pytest.raises(SegmentDefinitionError, match="Manual"):
        segment_sql({"type": "manual", "segmentationQuerySql": "SELECT 1"}, schemas, now=NOW)
    with pytest.raises(SegmentDefinitionError, match="non-empty list"):
        segment_sql({"rowsets": []}, schemas, now=NOW)


@pytest.mark.parametrize(
    ("attribute", "op", "value", "error"),
    [
        ("Customer.BirthDate", "dayOf", "1e400", "is not a whole number"),
        ("Customer.BirthDate", "yearOf", "-1e999", "is not a whole number"),
        ("UnifiedActivity.ActivityTime", "isWithinLast", "999999999999 days", None),
        ("UnifiedActivity.ActivityTime", "isWithinLast", "P99999999Y", None),
    ],
)
def test_values_beyond_every_range_are_definition_errors_or_everything(
    db: Any,
    schemas: dict[str, dict[str, str]],
    attribute: str,
    op: str,
    value: str,
    error: str | None,
) -> None:
    """Numbers beyond float and periods beyond the calendar raised OverflowError (a 500): a
    number is refused as not a whole number; a period longer than the calendar reaches back
    to its start, so it holds every row up to now."""
    if error is not None:
        with pytest.raises(SegmentDefinitionError, match=error):
            members(db, schemas, ("none", leaf(attribute, op, value)))
        return
    assert members(db, schemas, ("none", leaf(attribute, op, value))) == set(ACTIVITIES.CustomerId)
