"""CDM folders as Customer Insights writes them to Azure Blob Storage / ADLS Gen2 exports.

One run of a data-out export writes, under the container (a local folder or any fsspec URL),
the path template of the Blob export page::

    CustomerInsights_<instanceId>/<ExportDestinationName>/model.json
    CustomerInsights_<instanceId>/<ExportDestinationName>/<Table>/<YYYY>/<MM>/<DD>/<HHMM>/<Table>_<n>.csv

``n`` starts at 1; a table with more than ``partition_rows`` rows is split into several
files in the same folder. ``model.json`` (CDM, version ``1.0``) lists one ``LocalEntity``
per table with its attributes in CSV column order, CDM ``dataType`` values, and its
partitions with full ``https://<account>.blob.core.windows.net/<container>/...`` locations,
``refreshTime`` and explicit ``fileFormatSettings``. The CSVs are written first and
``model.json`` last, in one put, so a reader sees either the previous run or this one.
Each run writes a new ``<HHMM>`` folder; older folders stay (a second run in the same
minute writes to the same paths and replaces that folder, as blobs of the same name would).

What is not documented (the CSV dialect) is a :class:`CsvDialect` switch; the default is
the CDM default: no header row, ``,``, UTF-8, every value quoted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_CONTAINER",
    "PARTITION_ROWS",
    "CsvDialect",
    "ExportTable",
    "LakeTarget",
    "cdm_data_type",
    "write_cdm_export",
]

logger = logging.getLogger(__name__)

#: The storage account named in partition locations (Azure's development account).
DEFAULT_ACCOUNT = "devstoreaccount1"
#: The container of the demo connection (container names are lower case).
DEFAULT_CONTAINER = "customerinsights"
#: Rows per CSV partition before a table is split into several files.
PARTITION_ROWS = 250_000
_BOM = b"\xef\xbb\xbf"


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class CsvDialect:
    """How the CSV partitions are written (CI does not document its dialect).

    Parameters
    ----------
    column_headers
        Write a header row (``columnHeaders``; CDM default false).
    delimiter
        Field delimiter.
    quote_always
        Quote every value (``CsvStyle.QuoteAlways`` as writers read it) or only where needed.
    bom
        Start each file with a UTF-8 byte order mark.

    Examples
    --------
    >>> CsvDialect().file_format_settings()["columnHeaders"]
    False
    """

    column_headers: bool = False
    delimiter: str = ","
    quote_always: bool = True
    bom: bool = False

    def file_format_settings(self) -> dict[str, Any]:
        """The partition's ``fileFormatSettings`` (every key explicit)."""
        return {
            "$type": "CsvFormatSettings",
            "columnHeaders": self.column_headers,
            "delimiter": self.delimiter,
            "quoteStyle": "QuoteStyle.Csv",
            "csvStyle": "CsvStyle.QuoteAlways",
            "encoding": "UTF-8",
        }


@dataclass(frozen=True)
class LakeTarget:
    """Where data-out exports write: a container, as a local folder or an fsspec URL.

    Parameters
    ----------
    root
        The container: a local folder, or an fsspec URL such as ``abfs://customerinsights``.
    storage_options
        Passed to fsspec for URL roots (e.g. ``{"connection_string": ...}`` for adlfs).
    account
        Storage account named in the partitions' ``https://`` locations.
    container
        Container named in the locations.
    partition_rows
        Rows per CSV file before a table is split.
    dialect
        The CSV dialect.

    Examples
    --------
    >>> LakeTarget(root="/tmp/lake").location("a/b.csv")
    'https://devstoreaccount1.blob.core.windows.net/customerinsights/a/b.csv'
    """

    root: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    account: str = DEFAULT_ACCOUNT
    container: str = DEFAULT_CONTAINER
    partition_rows: int = PARTITION_ROWS
    dialect: CsvDialect = CsvDialect()

    @classmethod
    def under(
        cls,
        output: Path | str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        partition_rows: int = PARTITION_ROWS,
    ) -> LakeTarget:
        """The demo container under the emulator's output folder or URL.

        A local folder gets a ``customerinsights`` sub-folder (the container); a URL is the
        container itself.
        """
        options = dict(storage_options or {})
        account = DEFAULT_ACCOUNT
        for part in str(options.get("connection_string", "")).split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "accountname" and value:
                account = value.strip()
        if _is_url(str(output)):
            url = str(output).rstrip("/")
            container = url.split("://", 1)[1].split("/", 1)[0] or DEFAULT_CONTAINER
            return cls(
                root=url,
                storage_options=options,
                account=account,
                container=container,
                partition_rows=partition_rows,
            )
        return cls(
            root=str(Path(output) / DEFAULT_CONTAINER),
            storage_options=options,
            account=account,
            partition_rows=partition_rows,
        )

    def location(self, relative: str) -> str:
        """The full ``https://`` URI of a blob, as ``model.json`` names it."""
        return f"https://{self.account}.blob.core.windows.net/{self.container}/{relative}"


@dataclass(frozen=True)
class ExportTable:
    """One table of a run: its rows and each column's CDM ``dataType``."""

    name: str
    rows: pa.Table
    data_types: Mapping[str, str]


def _is_url(text: str) -> bool:
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isascii() and head.replace("+", "").isalnum() and len(head) > 1


def cdm_data_type(arrow_type: pa.DataType) -> str:
    """The CDM ``dataType`` for an Arrow column type.

    Examples
    --------
    >>> cdm_data_type(pa.int32()), cdm_data_type(pa.timestamp("us"))
    ('int64', 'dateTime')
    """
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_timestamp(arrow_type):
        return "dateTime"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_nested(arrow_type):
        return "json"
    return "string"


class _Storage(Protocol):
    def write(self, relative: str, data: bytes) -> None: ...
    def remove_folder(self, relative: str) -> None: ...


class _LocalStorage:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".partial")
        staging.write_bytes(data)
        os.replace(staging, path)

    def remove_folder(self, relative: str) -> None:
        shutil.rmtree(self.root / relative, ignore_errors=True)


class _FsspecStorage:
    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        try:
            import fsspec
        except ImportError as error:  # pragma: no cover - depends on the install
            raise RuntimeError(
                f"writing exports to {root} needs fsspec: pip install 'ci-toolkit[lake]'"
            ) from error
        self.fs, self.base = fsspec.core.url_to_fs(root, **dict(options))
        self.base = self.base.rstrip("/")
        container = self.base.split("/", 1)[0]
        if container and not self.fs.exists(container):  # on adlfs: create the container
            self.fs.mkdir(container)

    def write(self, relative: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.base}/{relative}", data)

    def remove_folder(self, relative: str) -> None:
        path = f"{self.base}/{relative}"
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)


def _storage(target: LakeTarget) -> _Storage:
    if _is_url(target.root) and not target.root.startswith("file://"):
        return _FsspecStorage(target.root, target.storage_options)
    return _LocalStorage(target.root.removeprefix("file://"))


def _text_columns(table: pa.Table) -> pa.Table:
    """Datetimes as ISO 8601 UTC with ``Z`` (the CDM's format), nested values as JSON."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_timestamp(kind):
            utc = column if kind.tz is None else pc.cast(column, pa.timestamp(kind.unit))
            column = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
        elif pa.types.is_date(kind):
            column = pc.strftime(column, format="%Y-%m-%d")
        elif pa.types.is_nested(kind):
            column = pa.array(
                [None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string()
            )
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _csv_bytes(rows: pa.Table, dialect: CsvDialect) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa_csv.WriteOptions(
        include_header=dialect.column_headers,
        delimiter=dialect.delimiter,
        quoting_style="all_valid" if dialect.quote_always else "needed",
    )
    pa_csv.write_csv(rows, sink, write_options=options)
    data: bytes = sink.getvalue().to_pybytes()
    return _BOM + data if dialect.bom else data


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_cdm_export(
    tables: list[ExportTable],
    *,
    target: LakeTarget,
    instance_id: str,
    destination: str,
    moment: datetime,
    cancelled: threading.Event | None = None,
) -> str:
    """Write one export run as a CDM folder; return the relative path of ``model.json``.

    Parameters
    ----------
    tables
        The tables the export sends, in ``model.json`` order.
    target
        The container and how to write to it.
    instance_id
        The environment id (``CustomerInsights_<instanceId>``).
    destination
        ``%ExportDestinationName%``, the export's folder name.
    moment
        When the run started (the ``YYYY/MM/DD/HHMM`` folders, in UTC).
    cancelled
        Set while writing: the CSVs of this run are removed and ``model.json`` stays as it was.

    Raises
    ------
    RuntimeError
        ``"cancelled"`` when ``cancelled`` was set before ``model.json`` was written.

    Examples
    --------
    >>> import tempfile
    >>> rows = pa.table({"CustomerId": ["c1"], "Age": [41]})
    >>> t = ExportTable("Customer", rows, {"CustomerId": "string", "Age": "int64"})
    >>> root = tempfile.mkdtemp()
    >>> when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    >>> write_cdm_export([t], target=LakeTarget(root=root), instance_id="i1",
    ...                  destination="Lake", moment=when)
    'CustomerInsights_i1/Lake/model.json'
    """
    storage = _storage(target)
    moment = moment.astimezone(UTC)
    base = f"CustomerInsights_{instance_id}/{destination}"
    stamp = moment.strftime("%Y/%m/%d/%H%M")
    refreshed = _iso(moment)
    entities: list[dict[str, Any]] = []
    folders: list[str] = []
    try:
        for table in tables:
            folder = f"{base}/{table.name}/{stamp}"
            storage.remove_folder(folder)  # a second run in the same minute: same blob names
            folders.append(folder)
            text = _text_columns(table.rows)
            size = max(1, target.partition_rows)
            count = max(1, -(-text.num_rows // size))
            partitions = []
            for index in range(count):
                if cancelled is not None and cancelled.is_set():
                    raise _Cancelled
                name = f"{table.name}_{index + 1}"
                relative = f"{folder}/{name}.csv"
                storage.write(relative, _csv_bytes(text.slice(index * size, size), target.dialect))
                partitions.append(
                    {
                        "name": name,
                        "refreshTime": refreshed,
                        "location": target.location(relative),
                        "fileFormatSettings": target.dialect.file_format_settings(),
                    }
                )
            entities.append(
                {
                    "$type": "LocalEntity",
                    "name": table.name,
                    "description": f"Table {table.name} exported by Customer Insights - Data",
                    "attributes": [
                        {"name": column, "dataType": table.data_types.get(column, "string")}
                        for column in table.rows.column_names
                    ],
                    "partitions": partitions,
                }
            )
        if cancelled is not None and cancelled.is_set():
            raise _Cancelled
    except _Cancelled:
        for folder in folders:
            storage.remove_folder(folder)
        raise RuntimeError("cancelled") from None
    model = {
        "name": destination,
        "description": f"Customer Insights - Data export to {destination}",
        "version": "1.0",
        "modifiedTime": _iso(datetime.now(UTC)),
        "application": "Dynamics 365 Customer Insights - Data (emulator)",
        "entities": entities,
    }
    storage.write(f"{base}/model.json", json.dumps(model, indent=2).encode("utf-8"))
    logger.info(
        "data-out export %s wrote %d tables under %s/%s",
        destination,
        len(tables),
        target.root,
        base,
    )
    return f"{base}/model.json"
