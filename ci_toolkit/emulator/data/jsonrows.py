"""Rows of a DuckDB result as the JSON text of an OData ``value`` array, rendered by orjson.

The reference is what the data endpoint always sent: every cell through
:func:`~ci_toolkit.emulator.data.odata.to_json_value`, then ``json.dumps`` as Starlette's
``JSONResponse`` writes it (compact separators, ``ensure_ascii=False``). orjson writes the
same bytes for the column types in :data:`EXACT_TYPES` (strings with the same escapes, naive
timestamps as ``...Z`` with microseconds only when there are any, dates, booleans, 64-bit
integers, NaN as ``null``) in a fraction of the time. The one difference is floats that
Python writes with an exponent (``1e+16``, ``1e-05``; orjson: ``1e16``, ``0.00001``); a
page holding such a float, or a column of any other type, is rendered the reference way.

DuckDB can write the same objects itself (:func:`sql_row_json`): its query runs without
Python's interpreter lock, so a server thread rendering a block of rows that way leaves the
event loop free to answer other requests. It writes the same bytes for the types in
:data:`SQL_TYPES` except one escape: a control character other than ``\\b \\f \\n \\r
\\t`` gets upper-case hex (``\\u001F``, Python: ``\\u001f``), so a text holding
:data:`SQL_ESCAPE` is rendered by :class:`RowRenderer` instead.

Example
-------
>>> from datetime import datetime
>>> renderer = RowRenderer(["Id", "At"], ["VARCHAR", "TIMESTAMP"])
>>> renderer.render([("a", datetime(2024, 5, 1, 12, 30))])
b'[{"Id":"a","At":"2024-05-01T12:30:00Z"}]'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson

from ci_toolkit.emulator.data.odata import quote_ident, to_json_value

__all__ = [
    "EXACT_TYPES",
    "FLOAT_TYPES",
    "SQL_ESCAPE",
    "SQL_TYPES",
    "RowRenderer",
    "reference_json",
    "sql_row_json",
]

#: DuckDB column types whose Python values orjson writes exactly like the reference.
EXACT_TYPES = frozenset(
    {"VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
     "UINTEGER", "TIMESTAMP", "DATE"}
)  # fmt: skip
#: Float column types: exact unless a value needs an exponent (checked per page).
FLOAT_TYPES = frozenset({"DOUBLE", "FLOAT", "REAL"})
_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
#: Column types DuckDB's ``to_json`` writes like orjson (timestamps through ``strftime``).
SQL_TYPES = EXACT_TYPES
#: In a row DuckDB wrote, a ``\\u00XX`` escape, which may differ from orjson's in case.
SQL_ESCAPE = b"\\u00"


def reference_json(value: Any) -> bytes:
    """``value`` as Starlette's ``JSONResponse`` writes it (``json.dumps``, compact, UTF-8).

    Examples
    --------
    >>> reference_json({"a": "é", "b": [1.5, None]})
    b'{"a":"\\xc3\\xa9","b":[1.5,null]}'
    """
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def sql_row_json(columns: Sequence[str], types: Sequence[str]) -> str | None:
    """A DuckDB expression for each row's JSON object text, as :meth:`RowRenderer.render_each`.

    ``encode(to_json(struct_pack(...)))``: a ``BLOB`` per row, the bytes orjson writes for the
    same values, except texts DuckDB escapes as :data:`SQL_ESCAPE` (check for it). ``None``
    when there are no columns or a type is not in :data:`SQL_TYPES`.

    Examples
    --------
    >>> sql_row_json(["Id", "At"], ["VARCHAR", "TIMESTAMP"])[:39]
    'encode(to_json(struct_pack("Id" := "Id"'
    >>> sql_row_json(["Amount"], ["DOUBLE"]) is None
    True
    """
    kinds = [t.upper() for t in types]
    if not columns or any(kind not in SQL_TYPES for kind in kinds):
        return None
    fields = []
    for name, kind in zip(columns, kinds, strict=True):
        column = quote_ident(name)
        value = column
        if kind == "TIMESTAMP":  # ISO 8601 with Z, microseconds only when there are any
            value = (
                f"CASE WHEN microsecond({column}) % 1000000 = 0 "
                f"THEN strftime({column}, '%Y-%m-%dT%H:%M:%SZ') "
                f"ELSE strftime({column}, '%Y-%m-%dT%H:%M:%S.%fZ') END"
            )
        fields.append(f"{column} := {value}")
    return f"encode(to_json(struct_pack({', '.join(fields)}))::VARCHAR)"


def _needs_exponent(value: Any) -> bool:
    """True for a float that Python's ``repr`` writes with an exponent (or inf)."""
    if not isinstance(value, float):
        return False
    size = abs(value)
    return size >= 1e16 or (0.0 < size < 1e-4)


class RowRenderer:
    """Renders result rows of known column types as a JSON array of objects.

    Parameters
    ----------
    columns
        Property names, in order; a row may carry more values than names (a key fetched
        for paging but not selected): the extra values at the end are left out.
    types
        The DuckDB type of each column (``VARCHAR``, ``TIMESTAMP``...).
    """

    def __init__(self, columns: Sequence[str], types: Sequence[str]) -> None:
        self.columns = list(columns)
        upper = [t.upper() for t in types]
        self.fast = all(t in EXACT_TYPES or t in FLOAT_TYPES for t in upper)
        self._floats = [i for i, t in enumerate(upper) if t in FLOAT_TYPES]

    def render(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """The JSON array text of ``rows`` (tuples in column order), byte-equal to the reference.

        Parameters
        ----------
        rows
            Result rows; values as DuckDB returns them (``str``, ``int``, ``float``,
            ``bool``, ``datetime``, ``date``, ``None``...).

        Returns
        -------
        bytes
            ``[{"Name":value,...},...]``.
        """
        columns = self.columns
        if self.fast and not any(_needs_exponent(r[i]) for i in self._floats for r in rows):
            dicts = [dict(zip(columns, r, strict=False)) for r in rows]
            return orjson.dumps(dicts, option=_OPTIONS)
        return reference_json(
            [{c: to_json_value(v) for c, v in zip(columns, r, strict=False)} for r in rows]
        )

    def render_each(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        """Each row's JSON object text: ``b"[" + b",".join(...) + b"]"`` equals :meth:`render`.

        Parameters
        ----------
        rows
            Result rows, as for :meth:`render`.

        Returns
        -------
        list of bytes
            ``{"Name":value,...}`` per row.
        """
        columns, floats = self.columns, self._floats
        if self.fast and not floats:
            dumps, options = orjson.dumps, _OPTIONS
            return [dumps(dict(zip(columns, r, strict=False)), option=options) for r in rows]
        out: list[bytes] = []
        for r in rows:
            if self.fast and not any(_needs_exponent(r[i]) for i in floats):
                out.append(orjson.dumps(dict(zip(columns, r, strict=False)), option=_OPTIONS))
            else:
                out.append(
                    reference_json({c: to_json_value(v) for c, v in zip(columns, r, strict=False)})
                )
        return out
