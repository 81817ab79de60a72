"""Planning key ranges and accumulating page columns (no HTTP)."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from ci_toolkit import frames
from ci_toolkit.bulk.accumulator import (
    ColumnAccumulator,
    TypedRows,
    join_typed,
    page_columns,
    typed_frame,
)
from ci_toolkit.bulk.planner import (
    Partition,
    partition_filter,
    partitions_from,
    plan_offsets,
    resume_filter,
)


@pytest.mark.parametrize(
    ("rows", "partition_rows", "minimum", "start"),
    [(1, 5000, 20, 0), (99, 5000, 20, 0), (1000, 5000, 20, 0), (100_000, 5000, 20, 7),
     (12_345, 1000, 4, 300), (250, 100, 1, 0)],
)  # fmt: skip
def test_ranges_cover_every_row_once_and_are_page_aligned(
    rows: int, partition_rows: int, minimum: int, start: int
) -> None:
    ranges = plan_offsets(
        rows=rows, partition_rows=partition_rows, min_partitions=minimum, start=start
    )
    assert ranges[0].start == start
    assert ranges[-1].stop == start + rows
    for before, after in itertools.pairwise(ranges):
        assert before.stop == after.start
        assert before.rows % 100 == 0
    assert sum(r.rows for r in ranges) == rows
    assert [r.index for r in ranges] == list(range(len(ranges)))
    pages = -(-rows // 100)
    assert len(ranges) >= min(minimum, pages)
    assert len(ranges) <= pages


def test_no_rows_no_ranges() -> None:
    assert plan_offsets(rows=0, partition_rows=10, min_partitions=4) == []


def test_partitions_take_their_bounds_from_the_boundary_keys() -> None:
    ranges = plan_offsets(rows=300, partition_rows=100, min_partitions=1, start=50)
    parts = partitions_from(ranges, {50: "a", 150: "f", 250: "m", 350: "t"})
    assert [(p.low, p.high, p.expected) for p in parts] == [
        ("a", "f", 100),
        ("f", "m", 100),
        ("m", "t", 100),
    ]
    open_ended = partitions_from(ranges, {150: "f", 250: "m"})
    assert open_ended[0].low is None
    assert open_ended[-1].high is None


def test_coinciding_boundaries_merge_partitions() -> None:
    ranges = plan_offsets(rows=300, partition_rows=100, min_partitions=1)
    parts = partitions_from(ranges, {100: "k", 200: "k"})
    assert [(p.low, p.high, p.expected) for p in parts] == [(None, "k", 100), ("k", None, 200)]


def test_filters_quote_keys_and_keep_the_user_filter_apart() -> None:
    part = Partition(3, "O'a", "z", 10)
    assert partition_filter("A eq 1 or B eq 2", "Id", part) == (
        "(A eq 1 or B eq 2) and Id ge 'O''a' and Id lt 'z'"
    )
    assert partition_filter(None, "Id", Partition(0, None, None, 5)) is None
    assert resume_filter(None, "N", Partition(0, 10, 20, 10), after=15) == "N gt 15 and N lt 20"


def test_page_columns_keep_extra_properties_but_not_annotations() -> None:
    cols, count = page_columns(
        [{"Id": "1", "X": 1, "@odata.etag": "e"}, {"Id": "2", "Y": [1]}], ["Id", "Z"], extra=True
    )
    assert count == 2
    assert cols == {"Id": ["1", "2"], "Z": [None, None], "X": [1, None], "Y": [None, [1]]}
    selected, _ = page_columns([{"Id": "1", "X": 1}], ["Id"], extra=False)
    assert selected == {"Id": ["1"]}


def test_typed_frame_matches_entity_frame() -> None:
    types = {"Id": "String", "When": "DateTimeOffset", "N": "Int64", "F": "Double", "B": "Boolean"}
    rows = [
        {"Id": "b", "When": "2024-01-01T00:00:00Z", "N": 1, "F": 1.5, "B": True, "Extra": 3},
        {"Id": "a", "When": None, "N": None, "F": None, "B": None, "Extra": None},
    ]
    expected = frames.entity_frame(rows, types)
    cols, _ = page_columns(rows, list(types), extra=True)
    pd.testing.assert_frame_equal(typed_frame(cols, types), expected)


def test_accumulator_chunks_dedupes_and_orders_by_key() -> None:
    types = {"Id": "String", "N": "Int64"}
    acc = ColumnAccumulator(key="Id", types=types, columns=["Id", "N"], chunk_rows=3)
    acc.add(page_columns([{"Id": "c", "N": 3}, {"Id": "a", "N": 1}], ["Id", "N"], extra=True))
    acc.add(page_columns([{"Id": "b", "N": 2, "New": "x"}], ["Id", "N"], extra=True))
    acc.add(page_columns([{"Id": "a", "N": 99}], ["Id", "N"], extra=True))
    assert acc.rows == 4
    frame = acc.finish()
    assert frame["Id"].tolist() == ["a", "b", "c"]
    assert frame["N"].tolist() == [1, 2, 3]  # the first copy of a duplicate wins
    assert str(frame["N"].dtype) == "Int64"
    assert frame["New"].isna().sum() == 2
    empty = ColumnAccumulator(key="Id", types=types, columns=["Id", "N"]).finish()
    assert list(empty.columns) == ["Id", "N"]
    assert str(empty["N"].dtype) == "Int64"


def test_small_partitions_in_key_order_join_into_the_frame_each_would_give() -> None:
    """Partitions whose keys are strictly increasing stay Arrow-typed and join in one
    conversion; out of order, duplicated or too large, a partition is a DataFrame as before."""
    types = {"Id": "String", "N": "Int64", "T": "DateTimeOffset", "B": "Boolean"}
    columns = list(types)

    def part(ids: str, chunk_rows: int = 1000) -> ColumnAccumulator:
        acc = ColumnAccumulator(key="Id", types=types, columns=columns, chunk_rows=chunk_rows)
        rows = [{"Id": i, "N": ord(i), "T": "2024-01-01T10:00:00Z", "B": i < "m"} for i in ids]
        acc.add(page_columns(rows, columns, extra=True))
        return acc

    typed = [part("abc").finish_typed(), part("def", chunk_rows=2).finish_typed()]
    assert all(isinstance(t, TypedRows) for t in typed)
    joined = join_typed([*typed, part("").finish_typed()])  # an empty range joins too
    one_by_one = pd.concat([part("abc").finish(), part("def").finish()], ignore_index=True)
    pd.testing.assert_frame_equal(joined, one_by_one)
    assert join_typed([part("").finish_typed()]).dtypes.equals(part("").finish().dtypes)
    for unordered in ("acb", "abb"):  # sorted and de-duplicated, as finish() does
        frame = part(unordered).finish_typed()
        assert isinstance(frame, pd.DataFrame)
        assert frame["Id"].tolist() == sorted(set(unordered))
    assert isinstance(part("abc").finish_typed(max_rows=2), pd.DataFrame)


def test_accumulator_matches_entity_frame_across_arrow_and_fallback_chunks() -> None:
    # Chunks of 2 rows: some columns are typed by Arrow in one chunk and need the general
    # converter in another (text in an Int64 column, a date without a zone, an extra column
    # of ints in one chunk and floats in another): the result is what entity_frame gives.
    types = {"Id": "String", "N": "Int64", "T": "DateTimeOffset", "F": "Double", "B": "Boolean"}
    rows = [
        {"Id": "a", "N": 1, "T": "2024-01-01T10:00:00Z", "F": 1, "B": True, "X": 1},
        {"Id": "b", "N": None, "T": None, "F": 2.5, "B": None, "X": None},
        {"Id": "c", "N": "7", "T": "2024-01-02T10:00:00", "F": None, "B": "yes", "X": 2.5},
        {"Id": "d", "N": 4, "T": "2024-01-03T10:00:00+02:00", "F": 3.0, "B": False},
        {"Id": "e", "N": 5, "T": "2024-01-04T10:00:00Z", "F": 4.0, "B": True, "X": 3},
    ]
    acc = ColumnAccumulator(key="Id", types=types, columns=list(types), chunk_rows=2)
    for row in rows:
        acc.add([row])
    pd.testing.assert_frame_equal(acc.finish(), frames.entity_frame(rows, types))


def test_accumulator_joins_arrow_chunks_once_with_the_documented_dtypes() -> None:
    types = {"Id": "String", "T": "DateTimeOffset", "F": "Double", "N": "Int64", "B": "Boolean"}
    rows = [
        {
            "Id": f"{i:03d}",
            "T": f"2024-01-01T00:00:{i % 60:02d}Z",
            "F": i / 2,
            "N": i,
            "B": i % 2 == 0,
        }
        for i in range(10)
    ]
    acc = ColumnAccumulator(key="Id", types=types, columns=list(types), chunk_rows=3)
    for i in range(0, 10, 2):
        acc.add(rows[i : i + 2])
    frame = acc.finish()
    assert [str(t) for t in frame.dtypes] == [
        "string", "datetime64[us, UTC]", "Float64", "Int64", "boolean"
    ]  # fmt: skip
    pd.testing.assert_frame_equal(frame, frames.entity_frame(rows, types))


@pytest.mark.parametrize("chunk_rows", [1_000, 3])
def test_one_chunk_and_many_chunks_give_the_same_frame(chunk_rows: int) -> None:
    # One chunk (a page-sized partition) is made a frame by one Arrow call, several chunks
    # column by column: both give entity_frame's frame, nulls and dtypes included.
    types = {"Id": "String", "T": "DateTimeOffset", "F": "Double", "N": "Int64", "B": "Boolean"}
    rows = [
        {"Id": f"{i:03d}", "T": None if i == 3 else f"2024-01-01T00:00:{i:02d}Z",
         "F": None if i == 4 else i / 2, "N": None if i == 5 else i,
         "B": None if i == 6 else i % 2 == 0, "X": "extra" if i == 7 else None}
        for i in range(10)
    ]  # fmt: skip
    acc = ColumnAccumulator(key="Id", types=types, columns=list(types), chunk_rows=chunk_rows)
    acc.add(rows)
    frame = acc.finish()
    assert [str(t) for t in frame.dtypes] == [
        "string", "datetime64[us, UTC]", "Float64", "Int64", "boolean", "string"
    ]  # fmt: skip
    pd.testing.assert_frame_equal(frame, frames.entity_frame(rows, types))
