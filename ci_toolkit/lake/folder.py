"""An export folder (CDM folder): its tables, partitions, snapshots, and reading them.

The latest snapshot of a table is exactly the partition list of ``model.json`` (never a
glob of the date folders: each run adds a ``YYYY/MM/DD/HHMM`` folder and a glob would mix
runs). Older snapshots are the other ``<Table>/YYYY/MM/DD/HHMM`` folders; no ``model.json``
describes them, so they are read with the current one's columns and dialect, their files
``<Table>_<n>.csv`` in ``n`` order.

Example
-------
>>> from ci_toolkit.lake import open_export
>>> lake = open_export("exports/customerinsights")  # doctest: +SKIP
>>> lake.tables  # doctest: +SKIP
['Customer', 'UnifiedActivity']
>>> df = lake.read("Customer", columns=["CustomerId", "Email"])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pandas as pd

from ci_toolkit.lake.errors import LakeError
from ci_toolkit.lake.model import Attribute, CsvDialect, Entity, Model, parse_model
from ci_toolkit.lake.partitions import empty_frame, read_partition
from ci_toolkit.lake.storage import (
    filesystem,
    location_to_url,
    public_options,
    storage_error,
)

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["ExportFolder", "PartitionFile", "open_export"]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.json"
_STAMP = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{4}$")
_NUMBER = re.compile(r"_(\d+)\.csv$", re.IGNORECASE)


@dataclass(frozen=True)
class PartitionFile:
    """One CSV file of a table's snapshot and how to reach it.

    ``protocol`` and ``options`` (without secrets) are what a Dask worker needs to open
    ``path`` again; ``fs`` is the live file system in this process.
    """

    table: str
    name: str
    url: str
    path: str
    protocol: str
    options: Mapping[str, Any]
    fs: Any
    refresh_time: pd.Timestamp | None
    snapshot: str
    dialect: CsvDialect


def _join(base: str, relative: str) -> str:
    return f"{base.rstrip('/')}/{relative.lstrip('/')}" if base else relative


def _display(protocol: str, path: str) -> str:
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def _protocol_of(fs: Any) -> str:
    protocol = fs.protocol
    return str(protocol[0] if isinstance(protocol, tuple | list) else protocol)


class ExportFolder:
    """One export's CDM folder: ``CustomerInsights_<instance>/<export folder>``.

    Build it with :func:`open_export`.

    Parameters
    ----------
    fs
        The fsspec file system holding the folder.
    path
        The folder's path in ``fs`` (the folder that holds ``model.json``).
    storage_options
        The options ``fs`` was built with (secrets are kept in this process only).
    """

    def __init__(self, fs: Any, path: str, storage_options: Mapping[str, Any]) -> None:
        self.fs = fs
        self.path = path.rstrip("/")
        self.protocol = _protocol_of(fs)
        self.storage_options = dict(storage_options)
        self.url = _display(self.protocol, self.path)
        self._model: Model | None = None

    def __repr__(self) -> str:
        return f"ExportFolder({self.url!r}, tables={self.tables!r})"

    # -- model.json -----------------------------------------------------------------------

    @property
    def model(self) -> Model:
        """The parsed ``model.json`` (read again by :meth:`refresh`)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def refresh(self) -> ExportFolder:
        """Read ``model.json`` again (after a new export run)."""
        self._model = None
        return self

    def _load(self) -> Model:
        source = _display(self.protocol, _join(self.path, MODEL_FILE))
        try:
            data = self.fs.cat_file(_join(self.path, MODEL_FILE))
        except FileNotFoundError:
            raise LakeError(
                f"no {MODEL_FILE} at {source}: open the export folder itself "
                "(.../CustomerInsights_<instance id>/<export folder>), which holds model.json"
            ) from None
        except Exception as error:
            raise storage_error(error, source) from None
        return parse_model(bytes(data), source=source)

    @property
    def tables(self) -> list[str]:
        """The tables of the export, in ``model.json`` order."""
        return self.model.tables

    def columns(self, table: str) -> pd.DataFrame:
        """Column names, CDM ``dataType`` and the pandas dtype each reads as."""
        entity = self.model.entity(table)
        meta = empty_frame(entity.attributes)
        return pd.DataFrame(
            {
                "name": pd.Series(entity.names, dtype="string"),
                "dataType": pd.Series([a.data_type for a in entity.attributes], dtype="string"),
                "dtype": pd.Series([str(t) for t in meta.dtypes], dtype="string"),
            }
        )

    # -- partitions and snapshots ---------------------------------------------------------

    def _resolve(self, location: str) -> tuple[Any, str, str, dict[str, Any]]:
        """File system, path, protocol and non-secret options for one partition location."""
        tail = "/".join(self.path.split("/")[-2:]) + "/"
        parts = urlsplit(location)
        blob = unquote(parts.path)
        if parts.scheme in ("https", "http") and tail in blob and not parts.query:
            relative = blob.split(tail, 1)[1]
            return (
                self.fs,
                _join(self.path, relative),
                self.protocol,
                public_options(self.storage_options),
            )
        if "://" not in location:  # a relative location
            return self.fs, _join(self.path, location), self.protocol, {}
        url, extra = location_to_url(location)
        options = {**extra, **self.storage_options}
        fs, path = filesystem(url, options)
        return fs, path, _protocol_of(fs), public_options(options)

    def _entity(self, table: str) -> Entity:
        return self.model.entity(table)

    def _latest_files(self, entity: Entity) -> list[PartitionFile]:
        files = []
        for partition in entity.partitions:
            fs, path, protocol, options = self._resolve(partition.location)
            stamp = _stamp_of(path, entity.name)
            files.append(
                PartitionFile(
                    table=entity.name,
                    name=partition.name,
                    url=_display(protocol, path),
                    path=path,
                    protocol=protocol,
                    options=options,
                    fs=fs,
                    refresh_time=partition.refresh_time,
                    snapshot=stamp,
                    dialect=partition.dialect,
                )
            )
        return files

    def _snapshot_folders(self, table: str) -> list[str]:
        base = _join(self.path, table)
        found: list[str] = []
        try:
            levels = [base]
            for _ in range(4):
                levels = [
                    item["name"].rstrip("/")
                    for level in levels
                    for item in self.fs.ls(level, detail=True)
                    if item.get("type") == "directory"
                ]
        except FileNotFoundError:
            return found
        except Exception as error:
            raise storage_error(error, _display(self.protocol, base)) from None
        for folder in levels:
            stamp = folder[len(base) :].strip("/")
            if _STAMP.match(stamp):
                found.append(stamp)
        return sorted(found)

    def snapshots(self, table: str | None = None) -> pd.DataFrame:
        """Every run folder of ``table`` (or of every table): when it ran, is it the latest.

        Returns
        -------
        pandas.DataFrame
            ``table``, ``snapshot`` (``YYYY/MM/DD/HHMM``), ``time`` (UTC), ``latest``.
        """
        rows = []
        for name in [table] if table else self.tables:
            entity = self._entity(name)
            latest = {f.snapshot for f in self._latest_files(entity)}
            for stamp in self._snapshot_folders(name):
                rows.append(
                    {
                        "table": name,
                        "snapshot": stamp,
                        "time": pd.Timestamp(
                            f"{stamp[:4]}-{stamp[5:7]}-{stamp[8:10]}T{stamp[11:13]}:{stamp[13:]}",
                            tz="UTC",
                        ),
                        "latest": stamp in latest,
                    }
                )
        frame = pd.DataFrame(rows, columns=["table", "snapshot", "time", "latest"])
        return frame.astype({"table": "string", "snapshot": "string", "latest": "boolean"}).astype(
            {"time": "datetime64[us, UTC]"}
        )

    def _files(self, table: str, snapshot: str | None) -> tuple[Entity, list[PartitionFile]]:
        entity = self._entity(table)
        latest = self._latest_files(entity)
        if snapshot is None or snapshot == "latest" or {f.snapshot for f in latest} == {snapshot}:
            return entity, latest
        stamp = _normalise_snapshot(snapshot)
        if stamp not in self._snapshot_folders(table):
            raise LakeError(
                f"table {table!r} has no snapshot {snapshot!r}; its snapshots are: "
                + (", ".join(self._snapshot_folders(table)) or "none")
            )
        folder = _join(self.path, f"{table}/{stamp}")
        try:
            names = [
                str(p)
                for p in self.fs.ls(folder, detail=False)
                if str(p).lower().endswith(".csv") and str(p).split("/")[-1].startswith(table)
            ]
        except Exception as error:
            raise storage_error(error, _display(self.protocol, folder)) from None
        names.sort(key=lambda p: int(m.group(1)) if (m := _NUMBER.search(p)) else 0)
        dialect = latest[0].dialect if latest else CsvDialect()
        return entity, [
            PartitionFile(
                table=table,
                name=p.split("/")[-1].rsplit(".", 1)[0],
                url=_display(self.protocol, p),
                path=p,
                protocol=self.protocol,
                options=public_options(self.storage_options),
                fs=self.fs,
                refresh_time=None,
                snapshot=stamp,
                dialect=dialect,
            )
            for p in names
        ]

    def partitions(self, table: str, *, snapshot: str | None = None) -> pd.DataFrame:
        """The files of a table's snapshot (default: the latest, as ``model.json`` lists).

        Returns
        -------
        pandas.DataFrame
            ``name``, ``url``, ``refreshTime``, ``snapshot``, ``columnHeaders``, ``delimiter``.
        """
        _, files = self._files(table, snapshot)
        return pd.DataFrame(
            {
                "name": pd.Series([f.name for f in files], dtype="string"),
                "url": pd.Series([f.url for f in files], dtype="string"),
                "refreshTime": pd.Series(
                    [f.refresh_time for f in files], dtype="datetime64[us, UTC]"
                ),
                "snapshot": pd.Series([f.snapshot for f in files], dtype="string"),
                "columnHeaders": pd.Series(
                    [f.dialect.column_headers for f in files], dtype="boolean"
                ),
                "delimiter": pd.Series([f.dialect.delimiter for f in files], dtype="string"),
            }
        )

    def refresh_times(self) -> pd.DataFrame:
        """The latest refresh time of each table (from its partitions in ``model.json``)."""
        rows = []
        for entity in self.model.entities:
            times = [p.refresh_time for p in entity.partitions if p.refresh_time is not None]
            rows.append(
                {
                    "table": entity.name,
                    "partitions": len(entity.partitions),
                    "refreshTime": max(times) if times else None,
                }
            )
        frame = pd.DataFrame(rows, columns=["table", "partitions", "refreshTime"])
        return frame.astype(
            {"table": "string", "partitions": "Int64", "refreshTime": "datetime64[us, UTC]"}
        )

    # -- reading --------------------------------------------------------------------------

    def _selected(self, entity: Entity, columns: Sequence[str] | None) -> list[Attribute]:
        if columns is None:
            return list(entity.attributes)
        if isinstance(columns, str):
            columns = [columns]
        return [entity.attribute(c) for c in columns]

    def read(
        self,
        table: str,
        *,
        columns: Sequence[str] | None = None,
        snapshot: str | None = None,
    ) -> pd.DataFrame:
        """One table as a typed pandas DataFrame (all its partitions, in order).

        Parameters
        ----------
        table
            A table of the export (see :attr:`tables`).
        columns
            Only these columns (only they are parsed); default: all, in ``model.json`` order.
        snapshot
            ``"YYYY/MM/DD/HHMM"`` of an earlier run (see :meth:`snapshots`); default latest.

        Returns
        -------
        pandas.DataFrame
            The dtypes ``ci.query`` gives for the same ``dataType`` values.

        Raises
        ------
        LakeError
            Unknown table or column, a partition missing or disagreeing with ``model.json``.

        Examples
        --------
        >>> df = lake.read("Customer", columns=["CustomerId"])  # doctest: +SKIP
        >>> df.dtypes.astype(str).tolist()  # doctest: +SKIP
        ['string']
        """
        entity, files = self._files(table, snapshot)
        wanted = self._selected(entity, columns)
        names = [a.name for a in wanted]
        frames = [read_file(f, entity.attributes, names) for f in files]
        if not frames:
            return empty_frame(wanted)
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True)

    def to_dask(
        self,
        table: str,
        *,
        columns: Sequence[str] | None = None,
        snapshot: str | None = None,
        blocksize: int | str | None = None,
    ) -> dd.DataFrame:
        """One table as a lazy Dask DataFrame: one partition per file (``blocksize=None``).

        ``blocksize`` (e.g. ``"64MB"``) splits files into byte ranges with
        ``dask.dataframe.read_csv`` instead: faster on big files, but wrong if a text
        value holds a quoted newline (CI's JSON columns can), so the default is per file.
        Storage secrets (keys, SAS tokens, connection strings) are not put in the task
        graph: workers take them from their own environment (``AZURE_STORAGE_*``).

        Examples
        --------
        >>> ddf = lake.to_dask("Customer")  # doctest: +SKIP
        >>> ddf.npartitions == len(lake.partitions("Customer"))  # doctest: +SKIP
        True
        """
        from ci_toolkit.lake.dask import table_to_dask

        entity, files = self._files(table, snapshot)
        wanted = self._selected(entity, columns)
        for file in files:
            _check_exists(file)
        return table_to_dask(entity, files, wanted, blocksize=blocksize)


def _check_exists(file: PartitionFile) -> None:
    try:
        exists = file.fs.exists(file.path)
    except Exception as error:
        raise storage_error(error, file.url) from None
    if not exists:
        raise LakeError(
            f"partition {file.name} of table {file.table!r}, listed in model.json, is missing "
            f"at {file.url}: the export is incomplete or was cleaned up; re-run the export"
        )


def read_file(
    file: PartitionFile, attributes: Sequence[Attribute], columns: Sequence[str]
) -> pd.DataFrame:
    """Read one partition file with this process's file system."""
    try:
        data = file.fs.cat_file(file.path)
    except FileNotFoundError:
        raise LakeError(
            f"partition {file.name} of table {file.table!r}, listed in model.json, is missing "
            f"at {file.url}: the export is incomplete or was cleaned up; re-run the export"
        ) from None
    except Exception as error:
        raise storage_error(error, file.url) from None
    return read_partition(
        bytes(data), attributes, file.dialect, label=file.url, columns=list(columns)
    )


def _stamp_of(path: str, table: str) -> str:
    parts = path.split("/")
    for index in range(len(parts) - 5, -1, -1):
        stamp = "/".join(parts[index + 1 : index + 5])
        if parts[index] == table and _STAMP.match(stamp):
            return stamp
    return ""


def _normalise_snapshot(snapshot: str | pd.Timestamp) -> str:
    if isinstance(snapshot, pd.Timestamp):
        stamp = snapshot.tz_convert("UTC") if snapshot.tzinfo else snapshot
        return stamp.strftime("%Y/%m/%d/%H%M")
    text = str(snapshot).strip().strip("/")
    if _STAMP.match(text):
        return text
    try:
        return _normalise_snapshot(pd.Timestamp(text))
    except ValueError:
        raise LakeError(
            f"{snapshot!r} is not a snapshot: give 'YYYY/MM/DD/HHMM' as snapshots() lists"
        ) from None


def _find_models(fs: Any, path: str) -> list[str]:
    patterns = [
        _join(path, "CustomerInsights_*/*/" + MODEL_FILE),
        _join(path, "*/" + MODEL_FILE),
        _join(path, "*/CustomerInsights_*/*/" + MODEL_FILE),
    ]
    found: set[str] = set()
    for pattern in patterns:
        try:
            found.update(str(p) for p in fs.glob(pattern))
        except FileNotFoundError:
            continue
    return sorted(found)


def open_export(
    url: str | Any, *, storage_options: Mapping[str, Any] | None = None
) -> ExportFolder:
    """Open an export folder by local path or fsspec URL (``abfs://``, ``az://``, ...).

    ``url`` may name the folder holding ``model.json``, ``model.json`` itself, or a folder
    above it (the container, or the emulator's output folder) that holds exactly one export.

    Parameters
    ----------
    url
        A path or URL. ``https://<account>.blob|dfs.core.windows.net/<container>/...``
        works too (read through adlfs).
    storage_options
        Passed to fsspec (adlfs: ``account_name``, ``account_key``, ``sas_token``,
        ``connection_string``, ``tenant_id``/``client_id``/``client_secret``, ...). Without
        them adlfs reads ``AZURE_STORAGE_*`` variables.

    Raises
    ------
    LakeError
        No ``model.json`` (or several) under ``url``, no credentials, access refused.
    MissingDependencyError
        fsspec or adlfs is not installed (``pip install 'ci-toolkit[lake]'``).

    Examples
    --------
    >>> lake = open_export("abfs://customerinsights/CustomerInsights_1/DataLakeExport",
    ...                    storage_options={"account_name": "contoso"})  # doctest: +SKIP
    """
    text = str(url)
    options = dict(storage_options or {})
    fs, path = filesystem(text, options)
    path = path.rstrip("/")
    if path.endswith("/" + MODEL_FILE) or path == MODEL_FILE:
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        return ExportFolder(fs, folder, options)
    try:
        has_model = fs.exists(_join(path, MODEL_FILE))
        candidates = [] if has_model else _find_models(fs, path)
        exists = has_model or bool(candidates) or fs.exists(path)
    except Exception as error:
        raise storage_error(error, text) from None
    if has_model:
        return ExportFolder(fs, path, options)
    if not exists:
        raise LakeError(f"{text} does not exist (check the path, container and account)")
    if len(candidates) == 1:
        folder = candidates[0].rsplit("/", 1)[0]
        logger.info("found the export folder %s under %s", folder, text)
        return ExportFolder(fs, folder, options)
    if not candidates:
        raise LakeError(
            f"no {MODEL_FILE} in {text} or below it: open the export folder "
            "(.../CustomerInsights_<instance id>/<export folder>, which holds model.json); "
            "if the export has not run yet, run it first (ci.run_export(...))"
        )
    listing = ", ".join(_display(_protocol_of(fs), c.rsplit("/", 1)[0]) for c in candidates)
    raise LakeError(f"{text} holds several exports; open one of: {listing}")
