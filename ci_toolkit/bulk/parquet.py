"""Write a stream of typed DataFrames to one Parquet file, in row groups, bounded in memory.

The schema is fixed by the first frame (pandas nullable dtypes map to Arrow types: ``string``
to ``string``, ``Int64`` to ``int64``, ``boolean`` to ``bool``, UTC datetimes to
``timestamp[us, UTC]``); later frames are conformed to it (missing columns become nulls).
Each call writes a temporary file of its own beside ``path`` (a hidden name no other call
uses) and renames it to ``path`` when complete, so a file at ``path`` is always one whole
pull, even when two calls write the same path at once (the last to finish wins; neither
sees the other's rows). A pull interrupted because the service stopped answering
(:class:`~ci_toolkit.exceptions.PullInterruptedError`) keeps what it read: the rows are
written, the file is closed as a valid Parquet file and kept as ``<path>.partial`` (or
``<path>.partial-2``, ``-3``... when an earlier call's rows are there: a saved file is never
replaced or deleted), and the error says where (``saved_to``, ``rows_saved``).

Example
-------
>>> import pandas as pd, tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
>>> write_parquet([pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [3]})], target)
3
>>> pd.read_parquet(target)["a"].tolist()
[1, 2, 3]
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_toolkit.bulk.rebatch import Rebatcher
from ci_toolkit.exceptions import PullInterruptedError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_folder", "write_parquet"]

logger = logging.getLogger(__name__)


def write_parquet(
    frames: Iterable[pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    row_group_rows: int = 100_000,
    compression: str = "snappy",
    empty: pd.DataFrame | None = None,
) -> int:
    """Write frames to ``path`` as row groups of at most ``row_group_rows`` rows.

    Parameters
    ----------
    frames : Iterable[pandas.DataFrame]
        Typed frames with the same columns (the first fixes the schema).
    path : str or os.PathLike
        The Parquet file to write (replaced when it exists); its folder must exist.
    row_group_rows : int
        Rows per row group (frames are split or joined to this size).
    compression : str
        Parquet compression codec.
    empty : pandas.DataFrame or None
        The (empty, typed) frame whose schema is written when ``frames`` yields nothing.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    ci_toolkit.exceptions.PullInterruptedError
        The frames stopped because the service did: the rows read (those written and the
        error's ``partial``) are in ``<path>.partial``, named by the error's ``saved_to``.
    ValueError
        ``path``'s folder does not exist or cannot be written (before any frame is read).

    Examples
    --------
    >>> write_parquet([], "/tmp/none.parquet", empty=pd.DataFrame({"a": []}))  # doctest: +SKIP
    0
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    partial = _temporary_file(target)
    writer: Any = None
    schema: Any = None
    written = 0
    groups = Rebatcher(row_group_rows)
    keep = False

    def flush(buffer: list[pd.DataFrame]) -> None:
        nonlocal writer, schema, written
        if not buffer:
            return
        frame = buffer[0] if len(buffer) == 1 else pd.concat(buffer, ignore_index=True)
        if schema is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            schema = table.schema
            writer = pq.ParquetWriter(partial, schema, compression=compression)
        else:
            frame = frame.reindex(columns=schema.names)
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        writer.write_table(table, row_group_size=row_group_rows)
        written += table.num_rows

    try:
        for frame in frames:
            for group in groups.add(frame):
                flush(group)
        flush(groups.take())
        if writer is None:
            base = empty if empty is not None else pd.DataFrame()
            table = pa.Table.from_pandas(base, preserve_index=False)
            writer = pq.ParquetWriter(partial, table.schema, compression=compression)
            writer.write_table(table)
        writer.close()
        writer = None
        os.replace(partial, target)
    except PullInterruptedError as exc:
        rest = groups.take()
        if exc.partial is not None and len(exc.partial):
            rest.append(exc.partial)  # read after the last frame handed on: in order
        flush(rest)
        if writer is not None:
            writer.close()
            writer = None
            keep = True
            exc.partial = None
            exc.saved_to = _keep(partial, target)
            exc.rows_saved = written
        raise
    finally:
        if writer is not None:
            writer.close()
        if not keep:
            partial.unlink(missing_ok=True)
    logger.debug("wrote %d rows to %s", written, target)
    return written


def check_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` as a ``Path`` when its folder exists; a ``ValueError`` naming the fix if not.

    Example
    -------
    >>> check_folder("/no/such/folder/t.parquet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: to_parquet: the folder /no/such/folder does not exist: create it first ...
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise ValueError(
            f"to_parquet: the folder {folder} does not exist: create it first "
            f"(e.g. Path({str(folder)!r}).mkdir(parents=True))"
        )
    return target


def _temporary_file(target: Path) -> Path:
    """A new, empty file beside ``target`` that no other call writes (hidden name)."""
    folder = check_folder(target).parent
    while True:
        name = folder / f".{target.name}.{secrets.token_hex(6)}.writing"
        try:  # the usual permissions (umask), unlike mkstemp's 0600
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ValueError(
                f"to_parquet: cannot write in {folder} ({exc.strerror or exc}): choose a "
                "folder you can write to"
            ) from None
        os.close(fd)
        return name


def _keep(written: Path, target: Path) -> Path:
    """Move an interrupted pull's file to ``<target>.partial`` without replacing any file.

    An earlier call's saved rows are never touched: the first free name of
    ``<target>.partial``, ``<target>.partial-2``, ``-3``... is taken (``os.link`` fails
    rather than replace, so two calls cannot take the same name).
    """
    for n in range(1, 1000):
        saved = target.with_name(f"{target.name}.partial" + ("" if n == 1 else f"-{n}"))
        try:
            os.link(written, saved)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: check, then rename
            if saved.exists():
                continue
            os.replace(written, saved)
            return saved
        written.unlink()
        return saved
    return written  # pragma: no cover - a thousand saved partials: keep the hidden name
