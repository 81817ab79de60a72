"""Plan a bulk pull as key ranges: which rows each partition holds and how to ask for them.

A pull of ``rows`` rows (known from ``$count``) is cut into partitions of about equal size.
The boundary of each partition is the key found at its first row offset (one small request
``$select=<key>&$orderby=<key>&$skip=<offset>&$top=1`` per boundary); partition ``i`` then
holds the keys ``boundary[i] <= key < boundary[i + 1]`` and is read with that ``$filter``,
following ``@odata.nextLink`` (cheap keyset paging on the service). Each partition knows
how many rows it should hold, so a short one is noticed and fetched again.

A pull whose rows fit in one partition, and a pull of a table whose key the service cannot
filter on (ingested source tables), is read by row offset instead: each partition is
``$orderby=<key>&$skip=<offset>&$top=<rows>`` (:func:`offset_partitions`), which needs no
boundary probes, so a small pull takes one round trip after its first page.

Example
-------
>>> [(p.start, p.stop) for p in plan_offsets(rows=250, partition_rows=100, min_partitions=1)]
[(0, 100), (100, 200), (200, 250)]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from ci_toolkit.odata import Filter, ge, gt, lt, render

__all__ = [
    "OffsetRange",
    "Partition",
    "offset_partitions",
    "partition_filter",
    "partitions_from",
    "plan_offsets",
    "resume_filter",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OffsetRange:
    """Rows ``start`` (inclusive) to ``stop`` (exclusive) in key order.

    Examples
    --------
    >>> OffsetRange(0, 10, 0).rows
    10
    """

    start: int
    stop: int
    index: int

    @property
    def rows(self) -> int:
        """How many rows the range holds."""
        return self.stop - self.start


@dataclass(frozen=True)
class Partition:
    """One key range of a pull: ``low <= key < high`` (``None``: unbounded on that side).

    Attributes
    ----------
    index : int
        Position in key order (partitions are emitted in this order).
    low, high : Any
        The key bounds; ``None`` for the first partition's low and the last one's high.
    expected : int
        Rows the range held when it was planned.
    offset : int or None
        Set for a partition read by row offset (``$orderby=<key>&$skip=offset``,
        ``$top=expected``) instead of by key range; ``low`` and ``high`` are then ``None``.

    Examples
    --------
    >>> Partition(0, None, "m", 50).expected
    50
    >>> Partition(1, None, None, 100, offset=100).offset
    100
    """

    index: int
    low: Any
    high: Any
    expected: int
    offset: int | None = None


def plan_offsets(
    *, rows: int, partition_rows: int, min_partitions: int, start: int = 0, page_size: int = 100
) -> list[OffsetRange]:
    """Cut ``rows`` rows (from offset ``start``) into about equal, page-aligned ranges.

    Parameters
    ----------
    rows : int
        Rows to pull.
    partition_rows : int
        Target rows per range (more ranges when that leaves fewer than ``min_partitions``).
    min_partitions : int
        At least this many ranges while each still holds a whole page.
    start : int
        Offset of the first row (``$skip``).
    page_size : int
        Rows per service page; range sizes are multiples of it.

    Returns
    -------
    list[OffsetRange]
        Contiguous ranges covering ``[start, start + rows)``; empty when ``rows`` is 0.

    Examples
    --------
    >>> [r.rows for r in plan_offsets(rows=1000, partition_rows=5000, min_partitions=4)]
    [300, 300, 200, 200]
    """
    if rows <= 0:
        return []
    pages = math.ceil(rows / page_size)
    count = max(math.ceil(rows / max(partition_rows, 1)), min(min_partitions, pages), 1)
    count = min(count, pages)
    base, longer = divmod(pages, count)
    ranges: list[OffsetRange] = []
    offset = 0
    for index in range(count):
        stop = min(offset + (base + (index < longer)) * page_size, rows)
        ranges.append(OffsetRange(start + offset, start + stop, index))
        offset = stop
    return ranges


def partitions_from(ranges: list[OffsetRange], boundaries: dict[int, Any]) -> list[Partition]:
    """Key ranges from offset ranges and the key found at each boundary offset.

    Parameters
    ----------
    ranges : list[OffsetRange]
        From :func:`plan_offsets`.
    boundaries : dict[int, Any]
        Offset -> key at that offset. Missing for the pull's own start (``$skip`` 0) and
        end (the last row), which are unbounded; a later range whose start is missing lies
        beyond the data and is left out.

    Returns
    -------
    list[Partition]
        One per range, in key order. Ranges whose boundaries coincide are merged.

    Examples
    --------
    >>> rs = plan_offsets(rows=200, partition_rows=100, min_partitions=1)
    >>> [(p.low, p.high) for p in partitions_from(rs, {100: "k"})]
    [(None, 'k'), ('k', None)]
    """
    out: list[Partition] = []
    for r in ranges:
        if r.index > 0 and r.start not in boundaries:
            # No row at this offset any more (the data shrank since the count): nothing to
            # read; the pull's total check reports the difference.
            logger.info("no key at offset %d: skipping rows %d-%d", r.start, r.start, r.stop)
            continue
        low = boundaries.get(r.start)
        high = boundaries.get(r.stop)
        if out and low is not None and out[-1].low == low:
            prev = out.pop()
            out.append(Partition(prev.index, prev.low, high, prev.expected + r.rows))
            continue
        out.append(Partition(len(out), low, high, r.rows))
    return out


def offset_partitions(ranges: list[OffsetRange], *, first_index: int = 0) -> list[Partition]:
    """Partitions read by row offset, one per range (numbered from ``first_index``).

    Examples
    --------
    >>> rs = plan_offsets(rows=250, partition_rows=100, min_partitions=1, start=100)
    >>> [(p.index, p.offset, p.expected) for p in offset_partitions(rs, first_index=1)]
    [(1, 100, 100), (2, 200, 100), (3, 300, 50)]
    """
    return [
        Partition(first_index + i, None, None, r.rows, offset=r.start) for i, r in enumerate(ranges)
    ]


def partition_filter(user: Filter | str | None, key: str, partition: Partition) -> str | None:
    """The ``$filter`` of a partition: the user's filter and the key range.

    Examples
    --------
    >>> partition_filter("Country eq 'IE'", "Id", Partition(1, "a", "b", 5))
    "(Country eq 'IE') and Id ge 'a' and Id lt 'b'"
    """
    return resume_filter(user, key, partition, after=None)


def resume_filter(
    user: Filter | str | None, key: str, partition: Partition, *, after: Any
) -> str | None:
    """The ``$filter`` that reads what is left of a partition after the key ``after``.

    Examples
    --------
    >>> resume_filter(None, "Id", Partition(0, None, "m", 5), after="c")
    "Id gt 'c' and Id lt 'm'"
    """
    parts: list[str] = []
    text = render(user)
    if text:
        parts.append(f"({text})")
    if after is not None:
        parts.append(str(gt(key, after)))
    elif partition.low is not None:
        parts.append(str(ge(key, partition.low)))
    if partition.high is not None:
        parts.append(str(lt(key, partition.high)))
    return " and ".join(parts) or None
