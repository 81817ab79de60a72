"""Column accumulation: pages become columns as they arrive, typed once per chunk.

A worker turns each page's rows into plain column lists (:func:`page_columns`: one list per
attribute; the page's list of dicts is dropped right away). A
:class:`ColumnAccumulator` per partition extends those lists and, every ``chunk_rows``
rows, converts them into a typed DataFrame (:func:`typed_frame`, with the dtypes of
:mod:`ci_toolkit.frames`); converting thousands of rows at once costs a fraction of
converting page by page. :meth:`ColumnAccumulator.finish` returns the partition's rows once
each, in key order.

Example
-------
>>> acc = ColumnAccumulator(key="Id", types={"Id": "String"}, columns=["Id"])
>>> acc.add(page_columns([{"Id": "b"}, {"Id": "a"}], ["Id"], extra=False))
>>> acc.add(page_columns([{"Id": "a"}], ["Id"], extra=False))
>>> acc.finish()["Id"].tolist()
['a', 'b']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ci_toolkit.frames import Kind, cdm_kind, convert

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnAccumulator", "PageColumns", "concat_frames", "page_columns", "typed_frame"]

logger = logging.getLogger(__name__)

PageColumns = tuple[dict[str, list[Any]], int]
"""A page as columns: name -> values, and the number of rows."""


def page_columns(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, extra: bool
) -> PageColumns:
    """One page's rows as column lists (expected columns first, then any others).

    Parameters
    ----------
    rows : Sequence[Mapping[str, Any]]
        The page's ``value`` array.
    columns : Sequence[str]
        The expected columns (always present, ``None`` where a row lacks the value).
    extra : bool
        Keep further properties found in the rows (not ``@odata`` annotations).

    Returns
    -------
    PageColumns
        ``(columns, rows)``.

    Examples
    --------
    >>> page_columns([{"a": 1, "b": 2}], ["a"], extra=True)
    ({'a': [1], 'b': [2]}, 1)
    """
    names = list(columns)
    if extra:
        seen = set(names)
        for row in rows:
            for name in row:
                if name not in seen and not name.startswith("@"):
                    seen.add(name)
                    names.append(name)
    return {name: [row.get(name) for row in rows] for name in names}, len(rows)


def _infer_kind(values: Sequence[Any]) -> Kind:
    present = [v for v in values if v is not None]
    if not present:
        return "str"
    if any(isinstance(v, dict | list) for v in present):
        return "object"
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    return "str"


def typed_frame(columns: Mapping[str, list[Any]], types: Mapping[str, str]) -> pd.DataFrame:
    """A DataFrame from column lists, typed like :func:`ci_toolkit.frames.entity_frame`.

    Parameters
    ----------
    columns : Mapping[str, list[Any]]
        Name -> values (all the same length), in column order.
    types : Mapping[str, str]
        Attribute name -> ``dataType`` from the entity metadata; other columns are inferred.

    Returns
    -------
    pandas.DataFrame
        Typed columns with a fresh ``RangeIndex``.

    Examples
    --------
    >>> str(typed_frame({"n": [1, None]}, {"n": "int64"})["n"].dtype)
    'Int64'
    """
    import pandas as pd

    data: dict[str, pd.Series] = {}
    for name, values in columns.items():
        kind = cdm_kind(types[name]) if name in types else _infer_kind(values)
        data[name] = convert(values, kind)
    return pd.DataFrame(data, columns=list(columns)).reset_index(drop=True)


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate typed frames (keeping the columns and dtypes of an all-empty list).

    Examples
    --------
    >>> import pandas as pd
    >>> len(concat_frames([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})]))
    2
    """
    import pandas as pd

    non_empty = [f for f in frames if len(f)] or frames[:1]
    if not non_empty:
        return pd.DataFrame()
    if len(non_empty) == 1:
        return non_empty[0].reset_index(drop=True)
    return pd.concat(non_empty, ignore_index=True)


class ColumnAccumulator:
    """The rows of one partition so far: column lists, typed every ``chunk_rows`` rows.

    Parameters
    ----------
    key : str
        The key column (rows are de-duplicated and ordered by it).
    types : Mapping[str, str]
        Attribute name -> ``dataType`` (entity metadata).
    columns : Sequence[str]
        The expected columns (present also when there are no rows).
    chunk_rows : int
        Convert the pending column lists to a typed chunk at this many rows.

    Examples
    --------
    >>> ColumnAccumulator(key="Id", types={}, columns=["Id"]).rows
    0
    """

    def __init__(
        self,
        *,
        key: str,
        types: Mapping[str, str],
        columns: Sequence[str],
        chunk_rows: int = 1_000,
    ) -> None:
        self.key = key
        self.types = types
        self.columns = list(columns)
        self.chunk_rows = chunk_rows
        self._chunks: list[pd.DataFrame] = []
        self._pending: dict[str, list[Any]] = {name: [] for name in self.columns}
        self._pending_rows = 0
        self.rows = 0
        self.pages = 0

    def add(self, page: PageColumns) -> None:
        """Add one page's columns (from :func:`page_columns`)."""
        values, count = page
        for name in values.keys() - self._pending.keys():
            self._pending[name] = [None] * self._pending_rows
        for name, column in self._pending.items():
            column.extend(values.get(name) or [None] * count)
        self._pending_rows += count
        self.rows += count
        self.pages += 1
        if self._pending_rows >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending_rows or not self._chunks:
            self._chunks.append(typed_frame(self._pending, self.types))
        self._pending = {name: [] for name in self.columns}
        self._pending_rows = 0

    def finish(self) -> pd.DataFrame:
        """All rows once each, ordered by key (the accumulator is empty afterwards)."""
        self._flush()
        frame = concat_frames(self._chunks)
        self._chunks = []
        if self.key in frame.columns and len(frame):
            duplicated = frame[self.key].duplicated(keep="first")
            if duplicated.any():
                logger.debug("dropping %d duplicate rows", int(duplicated.sum()))
                frame = frame.loc[~duplicated.to_numpy()].reset_index(drop=True)
            if not frame[self.key].is_monotonic_increasing:
                frame = frame.sort_values(self.key, kind="stable").reset_index(drop=True)
        return frame
