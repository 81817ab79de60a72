"""Lake tables as lazy Dask DataFrames (``dask.dataframe.from_map``, one partition per file).

Each task gets only the file's protocol, path, non-secret storage options, the columns and
the dialect; a worker opens the file system again from those (and its own environment for
credentials), so no storage key, SAS token or connection string travels in the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from ci_toolkit.lake.errors import LakeError, MissingDependencyError
from ci_toolkit.lake.model import Attribute, CsvDialect, Entity
from ci_toolkit.lake.partitions import empty_frame, read_partition
from ci_toolkit.lake.storage import storage_error

if TYPE_CHECKING:
    import dask.dataframe as dd

    from ci_toolkit.lake.folder import PartitionFile

__all__ = ["FileTask", "read_task", "table_to_dask"]

logger = logging.getLogger(__name__)


class FileTask:
    """What a worker needs to read one partition file (picklable, no secrets).

    Examples
    --------
    >>> FileTask("file", "/tmp/T_1.csv", {}, "T_1", CsvDialect()).path
    '/tmp/T_1.csv'
    """

    def __init__(
        self,
        protocol: str,
        path: str,
        options: Mapping[str, Any],
        label: str,
        dialect: CsvDialect,
    ) -> None:
        self.protocol = protocol
        self.path = path
        self.options = dict(options)
        self.label = label
        self.dialect = dialect

    def __repr__(self) -> str:
        return f"FileTask({self.protocol}://{self.path})"


def read_task(
    task: FileTask, attributes: Sequence[Attribute], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read one file on a worker (the ``from_map`` function; ``columns`` enables projection)."""
    import fsspec

    names = list(columns) if columns is not None else [a.name for a in attributes]
    try:
        fs = fsspec.filesystem(task.protocol, **task.options)
        data = fs.cat_file(task.path)
    except FileNotFoundError:
        raise LakeError(
            f"partition {task.label} listed in model.json is missing: re-run the export"
        ) from None
    except Exception as error:
        raise storage_error(error, task.label) from None
    return read_partition(bytes(data), attributes, task.dialect, label=task.label, columns=names)


def _import_dask() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError:
        raise MissingDependencyError.for_package(
            "dask", "dask", "read tables as Dask DataFrames"
        ) from None
    return dd


def table_to_dask(
    entity: Entity,
    files: Sequence[PartitionFile],
    wanted: Sequence[Attribute],
    *,
    blocksize: int | str | None = None,
) -> dd.DataFrame:
    """A lazy Dask DataFrame over ``files`` (see :meth:`ExportFolder.to_dask`)."""
    dmod = _import_dask()
    meta = empty_frame(wanted)
    names = [a.name for a in wanted]
    if not files:
        empty: dd.DataFrame = dmod.from_pandas(meta, npartitions=1)
        return empty
    if blocksize is not None:
        blocks: dd.DataFrame = _by_blocks(dmod, entity, files, wanted, blocksize)
        return blocks
    tasks = [FileTask(f.protocol, f.path, f.options, f.url, f.dialect) for f in files]
    frame: dd.DataFrame = dmod.from_map(
        read_task,
        tasks,
        args=[list(entity.attributes)],
        columns=names,
        meta=meta,
        label=f"read-{entity.name}",
        enforce_metadata=False,
    )
    return frame


def _by_blocks(
    dmod: Any,
    entity: Entity,
    files: Sequence[PartitionFile],
    wanted: Sequence[Attribute],
    blocksize: int | str,
) -> Any:
    dialects = {f.dialect for f in files}
    protocols = {(f.protocol, tuple(sorted(f.options.items()))) for f in files}
    if len(dialects) > 1 or len(protocols) > 1:
        raise LakeError("blocksize needs partitions with one dialect and one store: use None")
    dialect = files[0].dialect
    urls = [
        f.path if f.protocol in ("file", "local") else f"{f.protocol}://{f.path}" for f in files
    ]
    names = [a.name for a in entity.attributes]
    text = dmod.read_csv(
        urls,
        blocksize=blocksize,
        names=names,
        header=0 if dialect.column_headers else None,
        dtype=dict.fromkeys(names, "string"),
        sep=dialect.delimiter,
        encoding=dialect.encoding,
        keep_default_na=False,
        na_values=[""],
        usecols=[a.name for a in wanted],
        storage_options=dict(files[0].options),
    )
    return text.map_partitions(_retype, list(wanted), meta=empty_frame(wanted))


def _retype(frame: pd.DataFrame, wanted: list[Attribute]) -> pd.DataFrame:
    from ci_toolkit.frames import convert

    data = {a.name: convert(frame[a.name].reset_index(drop=True), a.kind) for a in wanted}
    out = pd.DataFrame(data, columns=[a.name for a in wanted])
    out.index = frame.index
    return out
