"""OData filter builders: literals, quoting, composition and precedence."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ci_toolkit import odata
from ci_toolkit.odata import F, Filter


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", "'O''Brien'"),
        ("''", "''''''"),
        ("", "''"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-1.5, "-1.5"),
        (Decimal("10.25"), "10.25"),
        (date(1990, 1, 1), "1990-01-01"),
        (datetime(2024, 5, 1, 12, 30, tzinfo=UTC), "2024-05-01T12:30:00Z"),
        (datetime(2024, 5, 1, 12, 30), "2024-05-01T12:30:00Z"),
        (
            datetime(2024, 5, 1, 14, 30, 0, 500, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-01T12:30:00.000500Z",
        ),
        (uuid.UUID(int=1), "'00000000-0000-0000-0000-000000000001'"),
    ],
)
def test_literal(value: object, expected: str) -> None:
    assert odata.literal(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN")])
def test_literal_refuses_non_finite(value: object) -> None:
    with pytest.raises(ValueError, match="no OData literal"):
        odata.literal(value)


def test_literal_refuses_containers() -> None:
    with pytest.raises(TypeError):
        odata.literal(["a"])


def test_literal_accepts_numpy_and_pandas_scalars() -> None:
    import numpy as np
    import pandas as pd

    assert odata.literal(np.int64(7)) == "7"
    assert odata.literal(pd.Timestamp("2024-01-02T03:04:05Z")) == "2024-01-02T03:04:05Z"


def test_comparisons() -> None:
    assert str(F.eq("LastName", "O'Brien")) == "LastName eq 'O''Brien'"
    assert str(F.ne("A", 1)) == "A ne 1"
    assert str(F.gt("A", 1)) == "A gt 1"
    assert str(F.ge("A", 1)) == "A ge 1"
    assert str(F.lt("A", 1)) == "A lt 1"
    assert str(F.le("A", 1)) == "A le 1"
    assert str(F.is_null("Email")) == "Email eq null"
    assert str(F.is_not_null("Email")) == "Email ne null"


def test_brief_example() -> None:
    expr = F.eq("LastName", "O'Brien") & F.gt("BirthDate", date(1990, 1, 1))
    assert str(expr) == "LastName eq 'O''Brien' and BirthDate gt 1990-01-01"


def test_in_and_functions() -> None:
    assert str(F.in_("CustomerId", ["a", "b'c"])) == "CustomerId in ('a', 'b''c')"
    assert str(F.isin("N", (1, 2))) == "N in (1, 2)"
    assert str(F.contains("Email", "o'")) == "contains(Email, 'o''')"
    assert str(F.startswith("A", "x")) == "startswith(A, 'x')"
    assert str(F.endswith("A", "x")) == "endswith(A, 'x')"
    assert str(F.is_member_of_segment("It's")) == "IsMemberOfSegment('It''s')"


def test_in_refuses_strings_and_empty() -> None:
    with pytest.raises(TypeError):
        F.in_("A", "abc")
    with pytest.raises(ValueError, match="at least one"):
        F.in_("A", [])


@pytest.mark.parametrize("name", ["", "A B", "A;drop", "A eq 1 or 1", "1abc", "a'b"])
def test_attribute_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="attribute name"):
        F.eq(name, 1)


def test_precedence_and_composition() -> None:
    a, b, c = F.eq("A", 1), F.eq("B", 2), F.eq("C", 3)
    assert str((a | b) & c) == "(A eq 1 or B eq 2) and C eq 3"
    assert str(a | (b & c)) == "A eq 1 or B eq 2 and C eq 3"
    assert str(a & b & c) == "A eq 1 and B eq 2 and C eq 3"
    assert str(~(a | b)) == "not (A eq 1 or B eq 2)"
    assert str(~a & b) == "not (A eq 1) and B eq 2"
    assert str(odata.and_(a)) == "A eq 1"
    assert str(odata.any_of(a, b)) == "A eq 1 or B eq 2"


def test_raw_strings_compose_safely() -> None:
    expr = "X gt 1 or Y lt 2" & F.eq("C", "z")
    assert str(expr) == "(X gt 1 or Y lt 2) and C eq 'z'"
    assert str(F.eq("C", "z") | "X gt 1") == "C eq 'z' or X gt 1"


def test_filter_has_no_truth_value() -> None:
    with pytest.raises(TypeError, match="combine filters"):
        bool(F.eq("A", 1))


def test_render_and_equality() -> None:
    assert odata.render(None) is None
    assert odata.render("A eq 1") == "A eq 1"
    assert odata.render(F.eq("A", 1)) == "A eq 1"
    assert F.eq("A", 1) == Filter("A eq 1")
    assert len({F.eq("A", 1), F.eq("A", 1)}) == 1
    with pytest.raises(TypeError):
        odata.render(5)  # type: ignore[arg-type]
