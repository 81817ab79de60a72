"""JSON to pandas: one converter per type, column specs for management objects, entity rows.

Conventions every DataFrame of the toolkit follows:

- datetimes are tz-aware UTC (``datetime64[us, UTC]``), dates are naive ``datetime64``;
- numbers use the nullable ``Int64`` / ``Float64`` dtypes, booleans ``boolean``, text
  ``string``; lists and nested objects that have no column of their own stay as Python
  objects (``object`` dtype);
- the expected columns exist even when there are no rows;
- the JSON as the service sent it stays reachable in ``df.attrs["raw"]`` (management
  reads; a holder that pandas does not deep-copy on every operation). Data reads
  (``query``) keep the OData envelope (context, count) in ``df.attrs["odata"]`` instead,
  because their rows *are* the JSON objects, only typed.

Examples
--------
>>> df = records_frame([{"name": "a", "n": "3"}], [Col("name"), Col("n", kind="int")])
>>> str(df["n"].dtype)
'Int64'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

__all__ = [
    "Col",
    "ColSpec",
    "Kind",
    "RawDict",
    "RawList",
    "attach_raw",
    "cdm_kind",
    "convert",
    "entity_frame",
    "get_path",
    "infer_kind",
    "record_series",
    "records_frame",
]

logger = logging.getLogger(__name__)

Kind = Literal["str", "int", "float", "bool", "datetime", "date", "timedelta", "object"]


class RawList(list[Any]):
    """A list that pandas shares instead of deep-copying when it propagates ``attrs``."""

    def __deepcopy__(self, memo: dict[int, Any]) -> RawList:
        return self


class RawDict(dict[str, Any]):
    """A dict that pandas shares instead of deep-copying when it propagates ``attrs``."""

    def __deepcopy__(self, memo: dict[int, Any]) -> RawDict:
        return self


def _raw_holder(raw: Any) -> Any:
    if isinstance(raw, RawList | RawDict):
        return raw
    if isinstance(raw, list):
        return RawList(raw)
    if isinstance(raw, dict):
        return RawDict(raw)
    return raw


def attach_raw(obj: pd.DataFrame | pd.Series, raw: Any) -> None:
    """Keep the service's JSON in ``obj.attrs["raw"]`` (shared, never deep-copied).

    Examples
    --------
    >>> df = pd.DataFrame()
    >>> attach_raw(df, [{"a": 1}])
    >>> df.attrs["raw"][0]["a"]
    1
    """
    obj.attrs["raw"] = _raw_holder(raw)


@dataclass(frozen=True)
class Col:
    """One output column: its name, where it comes from in the JSON and its type.

    Parameters
    ----------
    name : str
        The column name.
    path : str or None
        Dotted path in the JSON object (``"evaluationStatus.entityCount"``); defaults
        to ``name``.
    kind : Kind
        The converter to apply.

    Examples
    --------
    >>> Col("size", "evaluationStatus.entityCount", "int").source
    'evaluationStatus.entityCount'
    """

    name: str
    path: str | None = None
    kind: Kind = "str"

    @property
    def source(self) -> str:
        """The dotted JSON path the column is read from."""
        return self.path or self.name


def get_path(obj: Any, path: str) -> Any:
    """Read a dotted path from nested dicts; ``None`` when any step is missing.

    Examples
    --------
    >>> get_path({"a": {"b": 2}}, "a.b")
    2
    >>> get_path({"a": None}, "a.b") is None
    True
    """
    current = obj
    for key in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _to_bool(value: Any) -> Any:
    if value is None or value is pd.NA:
        return pd.NA
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return pd.NA if value != value else bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return pd.NA


def _to_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def convert(values: Sequence[Any] | pd.Series, kind: Kind) -> pd.Series:
    """Convert raw JSON values to a typed Series (unparseable values become missing).

    Parameters
    ----------
    values : Sequence[Any] or pandas.Series
        The values of one column as they came in the JSON.
    kind : Kind
        ``str`` → ``string``, ``int`` → ``Int64``, ``float`` → ``Float64``,
        ``bool`` → ``boolean``, ``datetime`` → ``datetime64[us, UTC]``, ``date`` →
        naive ``datetime64``, ``timedelta`` (seconds or ISO text) → ``timedelta64``,
        ``object`` → as is.

    Returns
    -------
    pandas.Series
        A new Series with a fresh ``RangeIndex`` (or the input's index).

    Examples
    --------
    >>> convert(["2024-01-01T10:00:00Z", None], "datetime").dtype
    datetime64[us, UTC]
    >>> convert([True, None], "bool").tolist()
    [True, <NA>]
    """
    if not isinstance(values, pd.Series):
        items = list(values)
        fast = _fast_path(items, kind)
        if fast is not None:
            return fast
    series = values if isinstance(values, pd.Series) else pd.Series(items, dtype=object)
    if series.dtype != object:
        series = series.astype(object)
    series = series.where(series.notna(), None)
    if kind == "str":
        return series.map(_to_text, na_action="ignore").astype("string")
    if kind == "int":
        numbers = pd.to_numeric(series, errors="coerce")
        if numbers.dtype.kind == "f":
            numbers = numbers.where(numbers.isna() | (numbers % 1 == 0))
        return numbers.astype("Int64")
    if kind == "float":
        return pd.to_numeric(series, errors="coerce").astype("Float64")
    if kind == "bool":
        return series.map(_to_bool).astype("boolean")
    if kind == "datetime":
        return pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601").astype(
            "datetime64[us, UTC]"
        )
    if kind == "date":
        parsed = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
        return parsed.dt.tz_localize(None).dt.normalize().astype("datetime64[us]")
    if kind == "timedelta":
        numeric = pd.to_numeric(series, errors="coerce")
        if numeric.notna().sum() == series.notna().sum():
            return pd.to_timedelta(numeric, unit="s")
        return pd.to_timedelta(series, errors="coerce")
    return series


def _fast_path(items: list[Any], kind: Kind) -> pd.Series | None:
    """Direct construction when every value already has the right Python type."""
    if kind == "str" and all(v is None or isinstance(v, str) for v in items):
        return pd.Series(items, dtype="string")
    if kind == "int" and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in items
    ):
        return pd.Series(pd.array(items, dtype="Int64"))
    if kind == "bool" and all(v is None or isinstance(v, bool) for v in items):
        return pd.Series(pd.array(items, dtype="boolean"))
    return None


ColSpec = Col | tuple[str, str, Kind]


def _col(spec: ColSpec) -> Col:
    return spec if isinstance(spec, Col) else Col(*spec)


def records_frame(
    records: Iterable[Mapping[str, Any]],
    columns: Sequence[ColSpec],
    *,
    raw: Any = None,
) -> pd.DataFrame:
    """Build a typed DataFrame from JSON objects following column specs.

    Parameters
    ----------
    records : Iterable[Mapping[str, Any]]
        JSON objects (one per row).
    columns : Sequence[Col or tuple[str, str, Kind]]
        The columns, in order (``Col`` or ``(name, path, kind)``); nested values are read
        with dotted paths.
    raw : Any, optional
        JSON to keep in ``df.attrs["raw"]`` (defaults to the records).

    Returns
    -------
    pandas.DataFrame
        Exactly the given columns, typed, also when there are no records.

    Examples
    --------
    >>> df = records_frame([], [Col("name"), Col("when", kind="datetime")])
    >>> list(df.columns), str(df["when"].dtype)
    (['name', 'when'], 'datetime64[us, UTC]')
    """
    rows = list(records)
    cols = [_col(c) for c in columns]
    data = {
        col.name: convert([get_path(row, col.source) for row in rows], col.kind) for col in cols
    }
    frame = pd.DataFrame(data, columns=[c.name for c in cols])
    if not rows:
        frame = frame.reset_index(drop=True)
    attach_raw(frame, rows if raw is None else raw)
    return frame


def record_series(
    record: Mapping[str, Any], columns: Sequence[ColSpec], *, raw: Any = None
) -> pd.Series:
    """One JSON object as a Series of converted values (index = column names).

    Examples
    --------
    >>> s = record_series({"n": "2"}, [Col("n", kind="int")])
    >>> int(s["n"])
    2
    """
    frame = records_frame([record], columns)
    series = frame.astype(object).iloc[0]
    series.name = None
    series = series.where(frame.iloc[0].notna().to_numpy(), None)
    attach_raw(series, record if raw is None else raw)
    return series


_CDM_KINDS: dict[str, Kind] = {
    "string": "str",
    "char": "str",
    "guid": "str",
    "uuid": "str",
    "text": "str",
    "datetime": "datetime",
    "datetimeoffset": "datetime",
    "timestamp": "datetime",
    "date": "date",
    "time": "str",
    "boolean": "bool",
    "bool": "bool",
    "int16": "int",
    "int32": "int",
    "int64": "int",
    "integer": "int",
    "biginteger": "int",
    "long": "int",
    "byte": "int",
    "smallinteger": "int",
    "tinyinteger": "int",
    "double": "float",
    "decimal": "float",
    "float": "float",
    "single": "float",
    "number": "float",
    "currency": "float",
}


def cdm_kind(data_type: str | None) -> Kind:
    """The converter for an attribute's ``dataType`` (CDM / EDM names, any case).

    Unknown types map to ``str``; ``Edm.`` prefixes are ignored.

    Examples
    --------
    >>> cdm_kind("DateTimeOffset"), cdm_kind("Edm.Int64"), cdm_kind("Json")
    ('datetime', 'int', 'str')
    """
    if not data_type:
        return "str"
    key = data_type.strip().lower()
    if key.startswith("edm."):
        key = key[4:]
    return _CDM_KINDS.get(key, "str")


def entity_frame(
    records: Sequence[Mapping[str, Any]],
    types: Mapping[str, str],
    *,
    columns: Sequence[str] | None = None,
    extra: bool = True,
) -> pd.DataFrame:
    """Rows of an entity, each column typed from the entity's attribute ``dataType``.

    Parameters
    ----------
    records : Sequence[Mapping[str, Any]]
        The ``value`` array of an OData page.
    types : Mapping[str, str]
        Attribute name → ``dataType`` from the entity metadata.
    columns : Sequence[str] or None
        Expected columns (e.g. the ``$select`` list); defaults to the metadata's
        attributes. Columns present in the rows but not expected are kept after them
        (expanded navigation properties stay lists of dicts).
    extra : bool
        Keep columns that are in the rows but not expected (``False`` after a ``$select``).

    Returns
    -------
    pandas.DataFrame
        Typed columns, the expected ones present even when there are no rows.

    Examples
    --------
    >>> df = entity_frame([{"Id": "1", "Born": "1990-01-01"}], {"Id": "String", "Born": "Date"})
    >>> str(df["Born"].dtype)
    'datetime64[us]'
    """
    expected = list(columns) if columns is not None else list(types)
    seen = set(expected)
    others: list[str] = []
    for row in records if extra else ():
        for key in row:
            if key not in seen and not key.startswith("@"):
                seen.add(key)
                others.append(key)
    names = expected + others
    data: dict[str, pd.Series] = {}
    for name in names:
        values = [row.get(name) for row in records]
        kind = cdm_kind(types[name]) if name in types else infer_kind(values)
        data[name] = convert(values, kind)
    return pd.DataFrame(data, columns=names).reset_index(drop=True)


def infer_kind(values: Sequence[Any]) -> Kind:
    """The kind of a column the metadata does not type, from its values.

    Example
    -------
    >>> infer_kind([1, None, 2]), infer_kind([1, 2.5]), infer_kind([{"a": 1}]), infer_kind([])
    ('int', 'float', 'object', 'str')
    """
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
