"""JSON -> DataFrame converters: dtypes, missing values, expected columns, raw JSON."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from ci_toolkit import frames
from ci_toolkit.frames import Col, cdm_kind, convert, entity_frame, record_series, records_frame


def test_convert_datetime_is_utc_aware() -> None:
    s = convert(["2024-01-01T10:00:00Z", "2024-01-01T12:00:00+02:00", None, "garbage"], "datetime")
    assert str(s.dtype) == "datetime64[us, UTC]"
    assert s[0] == s[1] == pd.Timestamp("2024-01-01T10:00:00Z")
    assert s[2:].isna().all()


def test_convert_date_is_naive_midnight() -> None:
    s = convert(["1990-05-17", "1990-05-17T00:00:00Z", None], "date")
    assert str(s.dtype) == "datetime64[us]"
    assert s[0] == s[1] == pd.Timestamp("1990-05-17")
    assert pd.isna(s[2])


@pytest.mark.parametrize(
    ("kind", "values", "dtype", "expected"),
    [
        ("int", [1, "2", None, 2.5, "x"], "Int64", [1, 2, None, None, None]),
        ("float", [1, "2.5", None], "Float64", [1.0, 2.5, None]),
        ("bool", [True, "false", None, 0, "maybe"], "boolean", [True, False, None, False, None]),
        ("str", ["a", None, 3, {"k": 1}], "string", ["a", None, "3", '{"k": 1}']),
    ],
)
def test_convert_nullable_kinds(
    kind: frames.Kind, values: list[object], dtype: str, expected: list[object]
) -> None:
    s = convert(values, kind)
    assert str(s.dtype) == dtype
    assert [None if pd.isna(v) else v for v in s] == expected


def test_convert_timedelta() -> None:
    assert convert([3600, None], "timedelta")[0] == pd.Timedelta(hours=1)
    assert convert(["01:00:00", None], "timedelta")[0] == pd.Timedelta(hours=1)


def test_records_frame_flattens_and_types() -> None:
    records = [
        {
            "name": "a",
            "evaluationStatus": {"entityCount": 12, "evaluationDate": "2024-02-01T00:00:00Z"},
        },
        {"name": "b", "evaluationStatus": None},
    ]
    df = records_frame(
        records,
        [
            Col("name"),
            Col("size", "evaluationStatus.entityCount", "int"),
            ("lastEvaluation", "evaluationStatus.evaluationDate", "datetime"),
        ],
    )
    assert list(df.columns) == ["name", "size", "lastEvaluation"]
    assert str(df["size"].dtype) == "Int64"
    assert df["size"].tolist()[0] == 12
    assert pd.isna(df["size"][1])
    assert pd.api.types.is_datetime64_any_dtype(df["lastEvaluation"])
    assert df.attrs["raw"] == records


def test_records_frame_empty_keeps_columns_and_dtypes() -> None:
    df = records_frame([], [Col("name"), Col("n", kind="int"), Col("t", kind="datetime")])
    assert df.empty
    assert list(df.columns) == ["name", "n", "t"]
    assert [str(t) for t in df.dtypes] == ["string", "Int64", "datetime64[us, UTC]"]


def test_raw_is_shared_not_deep_copied() -> None:
    raw = [{"a": 1}]
    df = records_frame(raw, [Col("a", kind="int")])
    derived = df[df["a"] > 0].copy()
    assert derived.attrs["raw"] is df.attrs["raw"]
    assert copy.deepcopy(df).attrs["raw"] is df.attrs["raw"]
    assert isinstance(df.attrs["raw"], list)


def test_record_series() -> None:
    s = record_series(
        {"n": "2", "t": "2024-01-01T00:00:00Z", "b": True},
        [Col("n", kind="int"), Col("t", kind="datetime"), Col("b", kind="bool"), Col("missing")],
    )
    assert s["n"] == 2
    assert s["t"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert bool(s["b"]) is True
    assert s["missing"] is None
    assert s.attrs["raw"]["n"] == "2"


@pytest.mark.parametrize(
    ("data_type", "kind"),
    [
        ("string", "str"),
        ("int64", "int"),
        ("Int32", "int"),
        ("double", "float"),
        ("Decimal", "float"),
        ("boolean", "bool"),
        ("dateTime", "datetime"),
        ("DateTimeOffset", "datetime"),
        ("date", "date"),
        ("Edm.Guid", "str"),
        (None, "str"),
        ("somethingNew", "str"),
    ],
)
def test_cdm_kind(data_type: str | None, kind: str) -> None:
    assert cdm_kind(data_type) == kind


def test_entity_frame_types_from_metadata_and_keeps_extra_columns() -> None:
    types = {
        "CustomerId": "string",
        "BirthDate": "date",
        "Spend": "double",
        "Vip": "boolean",
        "Created": "dateTime",
        "Visits": "int64",
    }
    rows = [
        {
            "CustomerId": "c1",
            "BirthDate": "1990-01-01",
            "Spend": 10,
            "Vip": True,
            "Created": "2024-01-01T00:00:00Z",
            "Visits": 3,
            "UnifiedActivity": [{"a": 1}],
            "@odata.etag": "x",
        },
        {
            "CustomerId": "c2",
            "BirthDate": None,
            "Spend": None,
            "Vip": None,
            "Created": None,
            "Visits": None,
        },
    ]
    df = entity_frame(rows, types)
    assert list(df.columns) == [*types, "UnifiedActivity"]
    assert str(df["CustomerId"].dtype) == "string"
    assert str(df["BirthDate"].dtype) == "datetime64[us]"
    assert str(df["Spend"].dtype) == "Float64"
    assert str(df["Vip"].dtype) == "boolean"
    assert str(df["Created"].dtype) == "datetime64[us, UTC]"
    assert str(df["Visits"].dtype) == "Int64"
    assert df["UnifiedActivity"][0] == [{"a": 1}]


def test_entity_frame_empty_with_select() -> None:
    df = entity_frame([], {"CustomerId": "string", "Visits": "int64"}, columns=["Visits"])
    assert list(df.columns) == ["Visits"]
    assert str(df["Visits"].dtype) == "Int64"


def test_entity_frame_infers_without_metadata() -> None:
    df = entity_frame([{"a": 1, "b": 1.5, "c": True, "d": "x"}], {})
    assert [str(t) for t in df.dtypes] == ["Int64", "Float64", "boolean", "string"]


def test_int_keeps_precision_beyond_float() -> None:
    big = 2**62 + 1
    assert convert([big, None], "int")[0] == big
    assert convert([str(big), None], "int").dtype == "Int64"
