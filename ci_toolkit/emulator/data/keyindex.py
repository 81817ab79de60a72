"""Key-range pages without sorting: the sorted keys of a table stored in key order.

The emulator's tables are stored in key order (the demo's ``Customer`` and
``UnifiedActivity``, ``Customer_Measure`` and segment tables, all written ``ORDER BY`` their
key), so row ``rowid`` holds the ``rowid``-th smallest key; :meth:`KeyIndex.build` checks
it. A :class:`KeyIndex` keeps those keys (in Arrow, about the size of the key column) and
finds, by binary search, the rows a key-range ``$filter`` selects (``CustomerId ge 'a' and
CustomerId lt 'b'``, what bulk pulls send) and where a keyset ``$skiptoken`` continues. A
page is then the rows ``rowid >= start and rowid < stop``: no ``ORDER BY``, no scan of the
rows before it, and the ``$count`` is ``stop - start`` of the range.

Keys compare as DuckDB compares ``VARCHAR`` (byte-wise UTF-8, which is Python's code point
order). :func:`key_conditions` says whether a ``$filter`` is such a range.

Example
-------
>>> import pyarrow as pa
>>> index = KeyIndex(pa.array(["a", "c", "e"]))
>>> index.span([("ge", "b"), ("lt", "e")])
(1, 2)
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from odata_query import ast

from ci_toolkit.emulator.data.odata import quote_ident

__all__ = ["KeyIndex", "key_conditions"]

logger = logging.getLogger(__name__)

_OPS: dict[type, str] = {
    ast.Eq: "eq", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
}  # fmt: skip
_FLIPPED = {"eq": "eq", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_VERSIONS = itertools.count(1)


def key_conditions(tree: Any, key: str) -> list[tuple[str, str | None]] | None:
    """The ``$filter`` syntax tree as conditions on ``key`` alone, or ``None``.

    Parameters
    ----------
    tree
        An odata-query syntax tree (from ``parse_filter``).
    key
        The entity's key column (a ``VARCHAR`` without nulls).

    Returns
    -------
    list of (str, str or None) or None
        ``[(op, value), ...]`` with ``op`` one of ``eq lt le gt ge`` (``value`` a string),
        ``all`` (``key ne null``) or ``none`` (any other comparison with null: no row),
        all of which must hold; ``None`` when the filter is anything else (the query then
        runs as SQL).

    Examples
    --------
    >>> from ci_toolkit.emulator.data.odata import parse_filter
    >>> key_conditions(parse_filter("Id ge 'a' and 'k' gt Id"), "Id")
    [('ge', 'a'), ('lt', 'k')]
    >>> key_conditions(parse_filter("Id ge 'a' or Id lt 'k'"), "Id") is None
    True
    """
    if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And):
        first = key_conditions(tree.left, key)
        second = key_conditions(tree.right, key)
        return None if first is None or second is None else first + second
    if not isinstance(tree, ast.Compare):
        return None
    if isinstance(tree.comparator, ast.NotEq):
        op = "ne"
    elif type(tree.comparator) in _OPS:
        op = _OPS[type(tree.comparator)]
    else:
        return None
    left, right = tree.left, tree.right
    if _is_key(right, key) and not _is_key(left, key):
        left, right = right, left
        op = _FLIPPED.get(op, op)
    if not _is_key(left, key):
        return None
    if isinstance(right, ast.Null):
        # As the SQL translation: eq null -> IS NULL, ne null -> IS NOT NULL, others FALSE.
        return [("all", None)] if op == "ne" else [("none", None)]
    if op == "ne" or not isinstance(right, ast.String):
        return None
    value = right.py_val
    return [(op, value)] if isinstance(value, str) else None


def _is_key(node: Any, key: str) -> bool:
    return isinstance(node, ast.Identifier) and not node.namespace and node.name == key


class KeyIndex:
    """The keys of a table in row order, strictly increasing; positions by binary search.

    Parameters
    ----------
    keys
        The key of every row, row ``i`` first (``rowid`` order), strictly increasing,
        without nulls (:meth:`build` checks this).
    """

    def __init__(self, keys: pa.Array) -> None:
        self._keys = keys
        self._length = len(keys)
        #: Unique per index: what is derived from one index (rendered rows) is keyed by it.
        self.version = next(_VERSIONS)

    def __len__(self) -> int:
        return self._length

    @classmethod
    def build(cls, cursor: Any, relation: str, key: str, *, max_rows: int) -> KeyIndex | None:
        """The index of a table, or ``None`` when its rows are not stored in key order.

        Parameters
        ----------
        cursor
            A DuckDB cursor.
        relation
            The table (a quoted SQL name); views have no ``rowid`` and get ``None``.
        key
            The key column.
        max_rows
            Tables with more rows get ``None`` (the index holds every key in memory).
        """
        column = quote_ident(key)
        try:
            rows, low, high = cursor.execute(
                f"SELECT count(*), min(rowid), max(rowid) FROM {relation}"
            ).fetchall()[0]
            if rows == 0 or rows > max_rows or low != 0 or high != rows - 1:
                return None
            table = cursor.sql(f"SELECT {column} FROM {relation} ORDER BY rowid").to_arrow_table()
        except duckdb.Error as exc:
            logger.debug("no key index for %s: %s", relation, exc)
            return None
        keys = table.column(0).combine_chunks()
        if not pa.types.is_string(keys.type) and not pa.types.is_large_string(keys.type):
            return None
        if keys.null_count or len(keys) != rows:
            return None
        if len(keys) > 1 and not pc.all(pc.less(keys[:-1], keys[1:])).as_py():
            return None
        return cls(keys)

    def key(self, position: int) -> str:
        """The key of row ``position``."""
        value: str = self._keys[position].as_py()
        return value

    def keys(self, start: int, stop: int) -> list[str]:
        """The keys of rows ``start`` to ``stop - 1``."""
        values: list[str] = self._keys[start:stop].to_pylist()
        return values

    def bisect_left(self, value: str) -> int:
        """The first position whose key is ``>= value``."""
        low, high = 0, self._length
        while low < high:
            middle = (low + high) // 2
            if self.key(middle) < value:
                low = middle + 1
            else:
                high = middle
        return low

    def bisect_right(self, value: str) -> int:
        """The first position whose key is ``> value``."""
        low, high = 0, self._length
        while low < high:
            middle = (low + high) // 2
            if value < self.key(middle):
                high = middle
            else:
                low = middle + 1
        return low

    def span(self, conditions: Sequence[tuple[str, str | None]]) -> tuple[int, int]:
        """``(start, stop)``: the rows whose keys meet every condition (``start <= stop``).

        Parameters
        ----------
        conditions
            As returned by :func:`key_conditions`.
        """
        start, stop = 0, self._length
        for op, value in conditions:
            if op == "none":
                return 0, 0
            if op == "all" or value is None:
                continue
            if op in {"ge", "eq"}:
                start = max(start, self.bisect_left(value))
            if op == "gt":
                start = max(start, self.bisect_right(value))
            if op in {"le", "eq"}:
                stop = min(stop, self.bisect_right(value))
            if op == "lt":
                stop = min(stop, self.bisect_left(value))
        return start, max(start, stop)
