"""Reading one CSV partition into a typed pandas DataFrame (pyarrow's CSV parser).

Names, order and dtypes come from ``model.json`` (never inferred from the data: Dask and
pandas infer from the first rows or file only), the dialect from the partition's
``fileFormatSettings``. Only ``""`` is null (``NA`` or ``null`` stay text), quoted
newlines, doubled quotes and a UTF-8 byte order mark are handled. The dtypes are those of
:func:`ci_toolkit.frames.convert` for each attribute's kind, the same as ``ci.query``:
``string``, ``Int64``, ``Float64``, ``boolean``, ``datetime64[us, UTC]`` and naive
``datetime64[us]`` for dates.

Example
-------
>>> import io
>>> from ci_toolkit.lake.model import Attribute, CsvDialect
>>> df = read_partition(io.BytesIO(b'"a",1\\n'), [Attribute("s", "string"),
...     Attribute("n", "int64")], CsvDialect(), label="x.csv")
>>> df.dtypes.astype(str).tolist()
['string', 'Int64']
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ci_toolkit.frames import Kind, convert
from ci_toolkit.lake.errors import LakeError
from ci_toolkit.lake.model import Attribute, CsvDialect

__all__ = ["empty_frame", "read_partition"]

logger = logging.getLogger(__name__)

_ARROW_TYPES: dict[Kind, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}
_PANDAS_TYPES: dict[Kind, str] = {
    "str": "string",
    "int": "Int64",
    "float": "Float64",
    "bool": "boolean",
    "datetime": "datetime64[us, UTC]",
    "date": "datetime64[us]",
}
_MAPPER = {
    pa.int64(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
}


def _dtype(kind: Kind) -> str:
    return _PANDAS_TYPES.get(kind, "string")


def empty_frame(attributes: Sequence[Attribute]) -> pd.DataFrame:
    """No rows, the typed columns (a Dask ``meta``)."""
    return pd.DataFrame(
        {a.name: pd.Series(dtype=_dtype(a.kind)) for a in attributes},
        columns=[a.name for a in attributes],
    )


def _header(data: bytes, dialect: CsvDialect) -> list[str]:
    text = data[:1_048_576].decode(dialect.encoding, errors="replace").lstrip("\ufeff")
    reader = csv.reader(
        io.StringIO(text),
        delimiter=dialect.delimiter,
        quoting=csv.QUOTE_MINIMAL if dialect.quoting else csv.QUOTE_NONE,
    )
    return next(reader, [])


def _datetime(column: pa.ChunkedArray, kind: Kind, *, label: str = "", name: str = "") -> pd.Series:
    if kind == "datetime":
        try:  # Arrow parses ISO 8601 with Z or an offset fast; anything else goes to pandas
            parsed = pc.cast(column, pa.timestamp("us", tz="UTC"))
            series: pd.Series = parsed.to_pandas().astype("datetime64[us, UTC]")
            return series
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    text = column.to_pandas(types_mapper=_MAPPER.get)
    out = convert(text, kind)
    lost = out.isna() & text.notna()
    if lost.any():  # not ISO 8601: CI's en-US text ("1/2/2020 10:00:00 AM") or other
        parsed_any = pd.to_datetime(text, utc=True, format="mixed", errors="coerce")
        if kind == "date":
            parsed_any = parsed_any.dt.tz_localize(None).dt.normalize()
        out = parsed_any.astype(out.dtype)
        lost = out.isna() & text.notna()
        if lost.any():
            raise LakeError(
                f"partition {label}: column {name!r} holds {text[lost].iloc[0]!r}, which is "
                f"not a {kind} (ISO 8601 or en-US); model.json declares it so"
            )
    return out


def read_partition(
    source: BinaryIO | bytes,
    attributes: Sequence[Attribute],
    dialect: CsvDialect,
    *,
    label: str,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One partition file as a typed DataFrame with ``attributes``' names (or ``columns``).

    Raises
    ------
    LakeError
        The file's columns disagree with ``model.json`` (count, or header names).
    """
    data = source if isinstance(source, bytes) else source.read()
    names = [a.name for a in attributes]
    wanted = list(columns) if columns is not None else names
    if dialect.column_headers:
        header = _header(data, dialect)
        if header != names:
            raise LakeError(
                f"partition {label}: its header row {header} does not match the columns "
                f"model.json lists ({names}); the file does not belong to this model.json "
                "(re-run the export, or open the folder whose model.json describes it)"
            )
    kinds = {a.name: a.kind for a in attributes}
    try:  # ISO 8601 datetimes parse in Arrow's reader; anything else is re-read as text
        table = _parse(data, names, wanted, kinds, dialect, label, fast_datetimes=True)
    except _DatetimeText:
        table = _parse(data, names, wanted, kinds, dialect, label, fast_datetimes=False)
    frame: pd.DataFrame = table.to_pandas(types_mapper=_MAPPER.get)
    for name in wanted:
        kind = kinds[name]
        column = frame[name]
        if kind == "datetime":
            if str(column.dtype) != "datetime64[us, UTC]":
                frame[name] = _datetime(table.column(name), kind, label=label, name=name)
        elif kind == "date":
            frame[name] = _datetime(table.column(name), kind, label=label, name=name)
        elif kind not in _PANDAS_TYPES:
            frame[name] = convert(column, kind)
    return frame


class _DatetimeText(Exception):
    """A datetime column holds text Arrow's ISO 8601 parser does not read."""


def _parse(
    data: bytes,
    names: list[str],
    wanted: list[str],
    kinds: dict[str, Kind],
    dialect: CsvDialect,
    label: str,
    *,
    fast_datetimes: bool,
) -> pa.Table:
    column_types = {}
    for name in wanted:
        if kinds[name] == "datetime" and fast_datetimes:
            column_types[name] = pa.timestamp("us", tz="UTC")
        else:
            column_types[name] = _ARROW_TYPES.get(kinds[name], pa.string())
    encoding = dialect.encoding.lower().replace("_", "-")
    try:
        return pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(
                column_names=names,
                skip_rows=1 if dialect.column_headers else 0,
                encoding="utf8" if encoding in ("utf-8", "utf8", "utf-8-sig") else encoding,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char='"' if dialect.quoting else False,
                double_quote=True,
                newlines_in_values=True,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=column_types,
                include_columns=wanted,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                true_values=["true", "True", "TRUE", "1"],
                false_values=["false", "False", "FALSE", "0"],
            ),
        )
    except pa.ArrowInvalid as error:
        message = str(error)
        if "columns" in message and "Expected" in message:
            detail = message.split("CSV parse error:", 1)[-1].strip().split("\n")[0]
            raise LakeError(
                f"partition {label} does not have the {len(names)} columns model.json lists "
                f"({detail}); the file does not belong to this model.json or its dialect "
                "differs from fileFormatSettings"
            ) from None
        if "conversion error" in message.lower():
            if fast_datetimes and "timestamp" in message:
                raise _DatetimeText from None
            raise LakeError(
                f"partition {label} holds a value that is not of the type model.json "
                f"declares: {message.splitlines()[0]}"
            ) from None
        raise LakeError(f"partition {label} is not valid CSV: {message.splitlines()[0]}") from None
