"""Row accumulation: pages are kept only until a chunk is full, then typed in one go.

Each page's rows join the partition's current chunk; every ``chunk_rows`` rows the chunk
is typed by Arrow (``pyarrow.Table.from_pylist`` and casts in C++: ``string``, ``Int64``,
``Float64``, ``boolean``, UTC datetimes, as :mod:`ci_toolkit.frames` types them) and the
dicts are dropped, so no list of dicts larger than a chunk ever exists. A column Arrow
cannot type as the metadata says (mixed values, dates without a zone, nested objects)
goes through :func:`ci_toolkit.frames.convert` instead. The chunks stay Arrow arrays until
:meth:`ColumnAccumulator.finish`, which makes each column a pandas object once and returns
the partition's rows once each, in key order.

Example
-------
>>> acc = ColumnAccumulator(key="Id", types={"Id": "String"}, columns=["Id"])
>>> acc.add(page_columns([{"Id": "b"}, {"Id": "a"}], ["Id"], extra=False))
>>> acc.add(page_columns([{"Id": "a"}], ["Id"], extra=False))
>>> acc.finish()["Id"].tolist()
['a', 'b']
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ci_toolkit.frames import Kind, cdm_kind, convert, infer_kind

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ColumnAccumulator",
    "PageColumns",
    "PageRows",
    "TypedRows",
    "concat_frames",
    "join_typed",
    "page_columns",
    "rows_frame",
    "typed_frame",
]

logger = logging.getLogger(__name__)

PageColumns = tuple[dict[str, list[Any]], int]
"""A page as columns: name -> values, and the number of rows."""
PageRows = list[dict[str, Any]] | PageColumns
"""What :meth:`ColumnAccumulator.add` takes."""


def _as_rows(page: PageRows) -> list[dict[str, Any]]:
    if isinstance(page, list):
        return page
    values, count = page
    names = list(values)
    return [{name: values[name][i] for name in names} for i in range(count)]


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
    names = column_names(rows, columns, extra=extra)
    return {name: [row.get(name) for row in rows] for name in names}, len(rows)


def column_names(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, extra: bool
) -> list[str]:
    """``columns`` (each once), then with ``extra`` any other name the rows carry.

    Names starting with ``@`` (OData annotations) are never columns.

    Examples
    --------
    >>> column_names([{"b": 1, "@odata.etag": "x"}], ["a", "a"], extra=True)
    ['a', 'b']
    """
    names = list(dict.fromkeys(columns))
    if extra and not set().union(*rows).issubset(names):  # the union is taken in C
        seen = set(names)
        for row in rows:
            for name in row:
                if name not in seen and not name.startswith("@"):
                    seen.add(name)
                    names.append(name)
    return names


def _text(values: list[Any]) -> pd.Series | None:
    """A ``string`` Series straight from Arrow when every value is text or missing.

    Arrow checks the types in C (``None`` when something else is there, and the general
    converter takes over), about twice as fast as checking each value in Python first.
    """
    import pandas as pd
    import pyarrow as pa

    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return pd.Series(pd.arrays.ArrowStringArray(array), dtype="string")


def _utc(values: list[Any]) -> pd.Series | None:
    """UTC datetimes parsed by Arrow when every value is ISO 8601 text with a zone.

    ``None`` (the general converter takes over) for anything else, e.g. text without a
    zone, which :func:`ci_toolkit.frames.convert` reads as UTC.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        parsed = pc.cast(pa.array(values, type=pa.string()), pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return pd.Series(parsed.to_pandas(), dtype="datetime64[us, UTC]")


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
        kind = cdm_kind(types[name]) if name in types else infer_kind(values)
        fast = _text(values) if kind == "str" else _utc(values) if kind == "datetime" else None
        data[name] = fast if fast is not None else convert(values, kind)
    return pd.DataFrame(data, columns=list(columns)).reset_index(drop=True)


_ARROW_SOURCES: dict[str, tuple[str, ...]] = {
    "str": ("string", "large_string", "null"),
    "int": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "null"),
    "float": ("int8", "int16", "int32", "int64", "double", "float", "null"),
    "bool": ("bool", "null"),
    "datetime": ("string", "large_string", "null"),
}
"""Per kind, the Arrow types a column may have to be cast by Arrow (else: frames.convert)."""


def _arrow_kind(type_name: str) -> Kind | None:
    return {"string": "str", "large_string": "str", "null": "str", "int64": "int",
            "double": "float", "bool": "bool"}.get(type_name)  # type: ignore[return-value]  # fmt: skip


def _arrow_cast(column: Any, kind: Kind) -> Any:
    """``column`` (a ``pyarrow.ChunkedArray``) cast to ``kind``'s Arrow type, else ``None``.

    ``None`` also when the column's Arrow type is not one ``kind`` may be cast from (the
    general converter takes over, as for mixed values).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if str(column.type) not in _ARROW_SOURCES.get(kind, ()):
        return None
    target = {
        "str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
        "datetime": pa.timestamp("us", tz="UTC"),
    }[kind]  # fmt: skip
    try:
        return pc.cast(column, target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _arrow_to_series(column: Any, kind: Kind) -> pd.Series:
    """A column cast by :func:`_arrow_cast` (one or many chunks) as its pandas dtype."""
    import pandas as pd
    import pyarrow as pa

    if kind == "str":
        return pd.Series(pd.arrays.ArrowStringArray(column), dtype="string")
    if kind == "datetime":
        return pd.Series(column.to_pandas(), dtype="datetime64[us, UTC]")
    mapper = {
        pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype(), pa.bool_(): pd.BooleanDtype()
    }  # fmt: skip
    return pd.Series(column.to_pandas(types_mapper=mapper.get))


class _Chunk:
    """One chunk's typed columns: Arrow arrays where Arrow typed them, else Series.

    Kept as Arrow until the partition is finished, so the columns of all chunks become
    pandas objects once (a pandas Series and DataFrame per chunk cost more than the
    Arrow conversion itself on narrow rows).
    """

    __slots__ = ("arrow", "names", "other", "rows")

    def __init__(self, rows: int, names: list[str]) -> None:
        self.rows = rows
        self.names = names
        self.arrow: dict[str, tuple[Kind, Any]] = {}
        self.other: dict[str, pd.Series] = {}

    def frame(self) -> pd.DataFrame:
        """This chunk alone as a typed DataFrame."""
        import pandas as pd

        data: dict[str, pd.Series] = {}
        for name in self.names:
            if name in self.other:
                data[name] = self.other[name]
            else:
                kind, column = self.arrow[name]
                data[name] = _arrow_to_series(column, kind)
        return pd.DataFrame(data, columns=self.names).reset_index(drop=True)


def _typed_chunk(
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    types: Mapping[str, str],
    *,
    extra: bool,
) -> _Chunk:
    import pyarrow as pa

    order = column_names(rows, columns, extra=extra)
    table: Any = None
    if rows:
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            table = None  # mixed types in a column: typed column by column below
    present = set(table.column_names) if table is not None else set()
    chunk = _Chunk(len(rows), order)
    for name in order:
        # from_pylist takes its columns from the first row: others go the slow way
        if name in present or not rows:
            column = table.column(name) if name in present else pa.chunked_array([], pa.null())
            kind = cdm_kind(types[name]) if name in types else _arrow_kind(str(column.type))
            cast = _arrow_cast(column, kind) if kind is not None else None
            if kind is not None and cast is not None:
                chunk.arrow[name] = (kind, cast)
                continue
        values = [row.get(name) for row in rows]
        kind = cdm_kind(types[name]) if name in types else infer_kind(values)
        chunk.other[name] = convert(values, kind)
    return chunk


def rows_frame(
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    types: Mapping[str, str],
    *,
    extra: bool,
) -> pd.DataFrame:
    """Typed DataFrame of entity rows, converted by Arrow where it can.

    Parameters
    ----------
    rows : list[dict[str, Any]]
        The rows (one chunk).
    columns : Sequence[str]
        Expected columns, always present.
    types : Mapping[str, str]
        Attribute name -> ``dataType`` (entity metadata); other columns are inferred.
    extra : bool
        Keep properties beyond ``columns`` (not ``@odata`` annotations).

    Returns
    -------
    pandas.DataFrame
        The same columns and dtypes as :func:`ci_toolkit.frames.entity_frame` gives.

    Examples
    --------
    >>> df = rows_frame([{"Id": "a", "N": 1}], ["Id"], {"Id": "String"}, extra=True)
    >>> [str(t) for t in df.dtypes]
    ['string', 'Int64']
    """
    return _typed_chunk(rows, columns, types, extra=extra).frame()


def _chunks_frame(chunks: list[_Chunk]) -> pd.DataFrame:
    """The chunks as one DataFrame, each column made a pandas object once.

    A column Arrow typed alike in every chunk is joined in Arrow and converted once; when
    any column is not (a chunk lacks it, a chunk needed the general converter, or an
    inferred type differs between chunks) the chunks are framed one by one and
    concatenated, exactly as before.
    """
    import pandas as pd
    import pyarrow as pa

    order = list(dict.fromkeys(name for chunk in chunks for name in chunk.names))
    columns: list[tuple[Kind, Any]] = []
    for name in order:
        pieces = [chunk.arrow.get(name) for chunk in chunks]
        typed = [piece for piece in pieces if piece is not None]
        if len(typed) < len(pieces) or len({kind for kind, _ in typed}) != 1:
            return concat_frames([chunk.frame() for chunk in chunks])
        kind, first = typed[0]
        parts = [part for _, column in typed for part in column.chunks]
        columns.append((kind, pa.chunked_array(parts, type=first.type)))
    if all(column.num_chunks <= 1 for _, column in columns):
        # A frame of one chunk (a partition of a page or a few): one Arrow call makes
        # every column, half the time of a pandas Series per column on 100 rows. (On
        # chunked columns it is slower: their string columns are joined, not wrapped.)
        table = pa.table([column for _, column in columns], names=order)
        frame: pd.DataFrame = table.to_pandas(types_mapper=_pandas_dtypes().get)
        return frame
    data = {name: _arrow_to_series(column, kind)
            for name, (kind, column) in zip(order, columns, strict=True)}  # fmt: skip
    return pd.DataFrame(data, columns=order).reset_index(drop=True)


@functools.cache
def _pandas_dtypes() -> dict[Any, Any]:
    """Arrow type -> the pandas dtype :func:`_arrow_to_series` gives a column of it."""
    import pandas as pd
    import pyarrow as pa

    text = pd.Series(pd.arrays.ArrowStringArray(pa.array(["a"])), dtype="string").dtype
    return {pa.string(): text, pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype(),
            pa.bool_(): pd.BooleanDtype()}  # fmt: skip


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


def _strictly_increasing(keys: pd.Series) -> bool:
    """True when the keys are unique and in order (one vectorised pass in Arrow)."""
    import pyarrow as pa

    try:
        array = pa.array(keys)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # pragma: no cover - exotic key types
        return False
    return _arrow_strictly_increasing(array)


def _arrow_strictly_increasing(array: Any) -> bool:
    import pyarrow.compute as pc

    if array.null_count or len(array) < 2:
        return not array.null_count
    return bool(pc.all(pc.less(array.slice(0, len(array) - 1), array.slice(1))).as_py())


class TypedRows:
    """A finished partition's rows, typed in Arrow, not yet a DataFrame.

    Only rows whose keys are already strictly increasing (nothing to drop or sort) stay
    so, and only in small partitions: the rows of consecutive ones then become one
    DataFrame in one conversion (:func:`join_typed`) instead of one per partition, which
    on a pull of page-sized partitions cost more CPU than typing the rows.

    Examples
    --------
    >>> len(TypedRows([], 0))
    0
    """

    __slots__ = ("chunks", "rows")

    def __init__(self, chunks: list[_Chunk], rows: int) -> None:
        self.chunks = chunks
        self.rows = rows

    def __len__(self) -> int:
        return self.rows


def join_typed(parts: Sequence[TypedRows]) -> pd.DataFrame:
    """The rows of consecutive partitions (in key order) as one typed DataFrame.

    Examples
    --------
    >>> acc = ColumnAccumulator(key="Id", types={"Id": "Int64"}, columns=["Id"])
    >>> acc.add([{"Id": 1}, {"Id": 2}])
    >>> more = ColumnAccumulator(key="Id", types={"Id": "Int64"}, columns=["Id"])
    >>> more.add([{"Id": 3}])
    >>> join_typed([acc.finish_typed(), more.finish_typed()])["Id"].tolist()
    [1, 2, 3]
    """
    filled = [part for part in parts if part.rows] or list(parts[:1])
    return _chunks_frame([chunk for part in filled for chunk in part.chunks])


class ColumnAccumulator:
    """The rows of one partition so far, typed by Arrow every ``chunk_rows`` rows.

    Parameters
    ----------
    key : str
        The key column (rows are de-duplicated and ordered by it).
    types : Mapping[str, str]
        Attribute name -> ``dataType`` (entity metadata).
    columns : Sequence[str]
        The expected columns (present also when there are no rows).
    chunk_rows : int
        Convert the pending rows to a typed chunk at this many rows.
    extra : bool
        Keep properties beyond ``columns`` (not after a ``$select``).

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
        extra: bool = True,
    ) -> None:
        self.key = key
        self.types = types
        self.columns = list(columns)
        self.chunk_rows = chunk_rows
        self.extra = extra
        self._chunks: list[_Chunk] = []
        self._pending: list[dict[str, Any]] = []
        self.rows = 0
        self.pages = 0

    def add(self, page: PageRows) -> None:
        """Add one page: its rows, or ``(columns, rows)`` from :func:`page_columns`."""
        rows = _as_rows(page)
        self._pending.extend(rows)
        self.rows += len(rows)
        self.pages += 1
        if len(self._pending) >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending or not self._chunks:
            self._chunks.append(
                _typed_chunk(self._pending, self.columns, self.types, extra=self.extra)
            )
        self._pending = []

    def finish_typed(self, max_rows: int | None = None) -> TypedRows | pd.DataFrame:
        """As :meth:`finish`, but rows already strictly increasing by key, at most
        ``max_rows`` of them, stay Arrow-typed (:class:`TypedRows`) to join with others."""
        if max_rows is not None and self.rows > max_rows:
            return self.finish()
        self._flush()
        found = [chunk.arrow.get(self.key) for chunk in self._chunks]
        columns = [typed[1] for typed in found if typed is not None]
        if len(columns) < len(found) or len({column.type for column in columns}) > 1:
            return self.finish()  # the key needed the general converter, or types differ
        import pyarrow as pa

        if columns and not _arrow_strictly_increasing(
            pa.chunked_array([part for column in columns for part in column.chunks],
                             type=columns[0].type).combine_chunks()
        ):  # fmt: skip
            return self.finish()
        chunks, self._chunks = self._chunks, []
        return TypedRows(chunks, sum(chunk.rows for chunk in chunks))

    def finish(self) -> pd.DataFrame:
        """All rows once each, ordered by key (the accumulator is empty afterwards)."""
        self._flush()
        frame = _chunks_frame(self._chunks)
        self._chunks = []
        if self.key in frame.columns and len(frame) and not _strictly_increasing(frame[self.key]):
            duplicated = frame[self.key].duplicated(keep="first")
            if duplicated.any():
                logger.debug("dropping %d duplicate rows", int(duplicated.sum()))
                frame = frame.loc[~duplicated.to_numpy()].reset_index(drop=True)
            if not frame[self.key].is_monotonic_increasing:
                frame = frame.sort_values(self.key, kind="stable").reset_index(drop=True)
        return frame
