"""Bulk reads of the Dataverse accessor: ``query(parallel=True)``, ``iter_batches``, ``to_parquet``.

API operations (function -> returns: operation), relative to ``<org>/api/data/v9.2/``:

``iter_batches(table, ...)`` -> iterator of DataFrames of about ``batch_rows`` rows
    ``GET <entity set>?$filter=<key> ge <cut>&$orderby=<key>&$select=<key>&$top=1`` (the
    boundaries), ``GET <entity set>?$filter=<key> eq b1 or ...&$orderby=<key>`` (their
    order), then ``GET <entity set>?$filter=(...) and <key> ge bi and <key> lt bi+1&$orderby=
    <key>`` per key range with ``Prefer: odata.maxpagesize``, following ``@odata.nextLink``
    (:mod:`ci_toolkit.dataverse.pull`)
``to_parquet(path, table, ...)`` -> rows written
    Same operations, written to a Parquet file in row groups.
``query(table, ..., parallel=True)`` -> one DataFrame
    Same operations when the read is a whole table or filter (no ``orderby``, ``top``,
    ``count`` or ``next_link``); else page by page.

A pull that loses the service part-way raises
:class:`~ci_toolkit.exceptions.PullInterruptedError` with the rows handed on so far in
``partial`` and, in ``resume``, the options that read only the rest:
``ci.dataverse.query(table, **err.resume)`` (a ``filter`` after the last key read, in the
service's own key order).

Example
-------
>>> for batch in ci.dataverse.iter_batches("msdynci_unifiedactivity"):  # doctest: +SKIP
...     print(len(batch))
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ci_toolkit import _defaults
from ci_toolkit.dataverse.filters import GUID_TYPES, dataverse_filter
from ci_toolkit.exceptions import PullInterruptedError, QueryError, ServiceUnreachableError

if TYPE_CHECKING:
    import os

    import pandas as pd

    from ci_toolkit.dataverse.client import Dataverse, Names, _Meta
    from ci_toolkit.dataverse.pull import DataversePull
    from ci_toolkit.odata import Filter

__all__ = ["DataverseBulkMixin"]

logger = logging.getLogger(__name__)

_NOT_A_KEY = frozenset({"Lookup", "Owner", "Customer", "Memo", "Virtual", "EntityName"})


def _check_concurrency(value: int | None) -> int:
    if value is None:
        return _defaults.DATAVERSE_BULK_MAX_CONCURRENCY
    limit = _defaults.DATAVERSE_MAX_CONCURRENCY
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValueError(
            f"max_concurrency must be an integer from 1 to {limit} (Dataverse's limit of "
            f"concurrent requests per user), got {value!r}"
        )
    return value


def _check_positive(value: int, option: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be an integer >= 1, got {value!r}")


@dataclass
class _DvBulk:
    pull: DataversePull
    meta: _Meta
    table: str
    names: Names
    drop_key: bool
    options: dict[str, Any]

    def tidy(self, frame: pd.DataFrame, dv: Dataverse) -> pd.DataFrame:
        if self.drop_key:
            frame = frame.drop(columns=[self.pull.key])
        if self.names == "v1":
            frame = dv._to_v1(frame, self.meta)
        frame.attrs = {"source": "dataverse"}
        return frame

    def resume(self) -> dict[str, Any]:
        """The options of the same read that read only the rows after those handed on."""
        options = dict(self.options)
        text = self.pull.resume_filter()
        if text:
            options["filter"] = text
        return options

    def interrupted(
        self, exc: ServiceUnreachableError, *, call: str, partial: pd.DataFrame | None, kept: str
    ) -> PullInterruptedError:
        """The error for a pull that lost the service: what was read, how to resume."""
        from ci_toolkit.bulk.errors import interrupted_message

        pull = self.pull
        resume = self.resume()
        message = interrupted_message(
            cause=exc, entity=self.table, rows=pull.stats.rows, pages=pull.pages_read,
            call=f"dataverse.{call}", resume=resume, kept=kept,
        )  # fmt: skip
        return PullInterruptedError(
            message, entity=self.table, rows_fetched=pull.stats.rows,
            pages_fetched=pull.pages_read, partial=partial, resume=resume, secrets=pull.secrets,
        )  # fmt: skip


class DataverseBulkMixin:
    """Parallel key-range reads of :class:`~ci_toolkit.dataverse.Dataverse` (see module doc)."""

    def _dv(self) -> Dataverse:
        return cast("Dataverse", self)

    def _dv_bulk(
        self,
        table: str,
        *,
        select: str | Sequence[str] | None,
        filter: Filter | str | None,
        names: Names,
        key: str | None,
        page_size: int,
        max_concurrency: int | None,
        partition_rows: int | None = None,
    ) -> _DvBulk:
        """A parallel pull of ``table``, not yet planned (bad input raises before any read)."""
        from ci_toolkit.dataverse.client import _check_names
        from ci_toolkit.dataverse.pull import DataversePull

        dv = self._dv()
        concurrency = _check_concurrency(max_concurrency)
        if not 1 <= page_size <= _defaults.DATAVERSE_MAX_PAGE_SIZE or isinstance(page_size, bool):
            raise ValueError(
                f"page_size must be an integer from 1 to {_defaults.DATAVERSE_MAX_PAGE_SIZE}, "
                f"got {page_size!r}"
            )
        if names not in ("dataverse", "v1"):
            raise ValueError(f"names must be 'dataverse' or 'v1', not {names!r}")
        meta = dv._metadata(table)
        selected = _check_names(select, "select", meta)
        column = key or meta.info.primary_id
        kind = meta.types.get(column)
        if kind is None or kind in _NOT_A_KEY or column.startswith("_"):
            raise ValueError(
                f"key: {column!r} cannot key a parallel read of {meta.info.logical_name!r}: it "
                "must be a unique column the service can filter and order by (the primary id "
                f"{meta.info.primary_id!r}, or msdynci_customerid on the profile table); "
                "lookups cannot be ordered on these elastic tables."
            )
        expected = list(selected) if selected else list(meta.columns)
        drop_key = bool(selected) and column not in selected
        if drop_key:
            expected.append(column)
        text = dataverse_filter(filter, meta.types)
        pull = DataversePull(
            dv.session, meta.info.entity_set, key=column, guid_key=kind in GUID_TYPES,
            columns=expected, types=meta.kinds(), extra=not selected,
            select=expected if selected else None, filter=text, max_concurrency=concurrency,
            partition_rows=partition_rows or _defaults.DATAVERSE_BULK_PARTITION_ROWS,
            page_size=page_size,
        )  # fmt: skip
        options: dict[str, Any] = {}
        if selected:
            options["select"] = list(selected)
        if names != "dataverse":
            options["names"] = names
        if key is not None:
            options["key"] = key
        if page_size != _defaults.DATAVERSE_MAX_PAGE_SIZE:
            options["page_size"] = page_size
        if text:
            options["filter"] = text
        return _DvBulk(pull, meta, meta.info.logical_name, names, drop_key, options)

    def _dv_plan(self, bulk: _DvBulk, call: str) -> None:
        try:
            bulk.pull.plan()
        except ServiceUnreachableError as exc:
            raise bulk.interrupted(
                exc, call=call, partial=None, kept="nothing was read yet"
            ) from exc

    def _dv_frames(self, bulk: _DvBulk, progress: bool) -> Iterator[pd.DataFrame]:
        dv = self._dv()
        bar: Any = None
        if progress and len(bulk.pull.boundaries) > 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=bulk.pull.rows_to_pull, unit="rows", desc=bulk.table, leave=False)
            bulk.pull.on_rows = bar.update
        try:
            for frame in bulk.pull.frames():
                yield bulk.tidy(frame, dv)
        finally:
            if bar is not None:
                bar.close()
        logger.debug("%s: %s", bulk.table, bulk.pull.stats)

    def _dv_parallel_query(
        self,
        table: str,
        *,
        select: str | Sequence[str] | None,
        filter: Filter | str | None,
        names: Names,
        key: str | None,
        page_size: int,
        max_concurrency: int | None,
        progress: bool,
    ) -> pd.DataFrame | None:
        """``query``'s parallel read; ``None`` when the service cannot range the key."""
        from ci_toolkit.bulk.accumulator import concat_frames

        bulk = self._dv_bulk(
            table, select=select, filter=filter, names=names, key=key, page_size=page_size,
            max_concurrency=max_concurrency,
        )  # fmt: skip
        # The first page decides: a read of one page is that page (one request, as page by
        # page); a longer one is read by key ranges, and the page's count plans them.
        pages = self._dv().iter_pages(
            table, select=select, filter=filter, names=names, page_size=page_size, count=True
        )
        try:
            first = next(pages)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:  # a generator: end it (no more requests)
                close()
        odata = dict(first.attrs.get("odata") or {})
        if not odata.get("next_link"):
            first.attrs = {
                "source": "dataverse",
                "odata": {"context": odata.get("context"), "count": None, "count_capped": False},
            }
            return first
        count = odata.get("count")
        bulk.pull.head_count = None if count is None or odata.get("count_capped") else int(count)
        bulk.pull.context = odata.get("context")
        try:
            self._dv_plan(bulk, "query")
        except QueryError as exc:
            if key is not None:
                raise
            logger.debug("%s: no parallel read (%s); following nextLink instead", table, exc)
            return None
        parts: list[pd.DataFrame] = []
        try:
            parts.extend(self._dv_frames(bulk, progress))
        except ServiceUnreachableError as exc:
            partial = concat_frames(parts) if parts else self._dv_empty(bulk)
            raise bulk.interrupted(
                exc, call="query", partial=partial,
                kept=f"err.partial holds the first {len(partial):,} in key order",
            ) from exc  # fmt: skip
        result = concat_frames(parts) if parts else self._dv_empty(bulk)
        result.attrs = {
            "source": "dataverse",
            "odata": {
                "context": bulk.pull.context,
                "count": None,
                "count_capped": False,
                "key": bulk.pull.key,
                "parallel": True,
            },
        }
        return result

    def _dv_empty(self, bulk: _DvBulk) -> pd.DataFrame:
        return bulk.tidy(bulk.pull.empty(), self._dv())

    def iter_batches(
        self,
        table: str,
        *,
        select: str | Sequence[str] | None = None,
        filter: Filter | str | None = None,
        names: Names = "dataverse",
        key: str | None = None,
        batch_rows: int = 100_000,
        page_size: int = _defaults.DATAVERSE_MAX_PAGE_SIZE,
        progress: bool = True,
        max_concurrency: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Stream a large read as typed DataFrames of about ``batch_rows`` rows, in key order.

        Key ranges planned from boundaries the service returns are read concurrently
        (exactly once, adaptive under Dataverse's service protection limits) and handed on
        in the service's key order as soon as each is complete, so memory stays bounded by
        the concurrency and the range size rather than the size of the table.

        Parameters
        ----------
        table : str
            Logical name (``msdynci_unifiedactivity``) or entity set name.
        select, filter, names, page_size
            As for :meth:`~ci_toolkit.dataverse.Dataverse.query`.
        key : str, optional
            The column the ranges are cut on: the table's primary id (a GUID) by default, or
            another unique column the service filters and orders by (``msdynci_customerid``
            on ``msdynci_customerprofile``).
        batch_rows : int
            Rows per yielded DataFrame (the last one may hold fewer).
        progress : bool
            Show a ``tqdm`` progress bar.
        max_concurrency : int, optional
            Most requests in flight: 16 by default, at most 52 (Dataverse's limit).

        Yields
        ------
        pandas.DataFrame
            Consecutive rows in the service's key order.

        Raises
        ------
        ci_toolkit.exceptions.PullInterruptedError
            The service stopped answering part-way: the batches yielded and ``err.partial``
            hold every row up to the last key handed on, and
            ``ci.dataverse.iter_batches(table, **err.resume)`` reads only the rest.

        Examples
        --------
        >>> for batch in ci.dataverse.iter_batches("msdynci_unifiedactivity",  # doctest: +SKIP
        ...                                        batch_rows=50_000):
        ...     print(len(batch))
        """
        _check_positive(batch_rows, "batch_rows")
        bulk = self._dv_bulk(
            table, select=select, filter=filter, names=names, key=key, page_size=page_size,
            max_concurrency=max_concurrency,
            partition_rows=min(batch_rows, _defaults.DATAVERSE_BULK_PARTITION_ROWS),
        )  # fmt: skip
        return self._dv_batches(bulk, batch_rows=batch_rows, progress=progress)

    def _dv_batches(
        self, bulk: _DvBulk, *, batch_rows: int, progress: bool, call: str = "iter_batches"
    ) -> Iterator[pd.DataFrame]:
        from ci_toolkit.bulk.accumulator import concat_frames
        from ci_toolkit.bulk.rebatch import Rebatcher

        self._dv_plan(bulk, call)
        batches = Rebatcher(batch_rows)
        try:
            for frame in self._dv_frames(bulk, progress):
                for full in batches.add(frame):
                    yield concat_frames(full)
        except ServiceUnreachableError as exc:
            held = batches.take()
            partial = concat_frames(held) if held else self._dv_empty(bulk)
            raise bulk.interrupted(
                exc, call=call, partial=partial,
                kept=f"the batches yielded and err.partial ({len(partial):,} rows) hold "
                f"the first {bulk.pull.emitted_rows:,} in key order",
            ) from exc  # fmt: skip
        if batches.held:
            yield concat_frames(batches.take())

    def to_parquet(
        self,
        path: str | os.PathLike[str],
        table: str,
        *,
        select: str | Sequence[str] | None = None,
        filter: Filter | str | None = None,
        names: Names = "dataverse",
        key: str | None = None,
        row_group_rows: int = 100_000,
        page_size: int = _defaults.DATAVERSE_MAX_PAGE_SIZE,
        progress: bool = True,
        max_concurrency: int | None = None,
    ) -> int:
        """Read a table into a Parquet file, row group by row group (larger than memory).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, in a folder that exists; it appears only when the read is
            complete.
        table : str
            Logical name or entity set name.
        select, filter, names, key, page_size, progress, max_concurrency
            As for :meth:`iter_batches`.
        row_group_rows : int
            Rows per Parquet row group (also what is held in memory at a time).

        Returns
        -------
        int
            Rows written.

        Raises
        ------
        ci_toolkit.exceptions.PullInterruptedError
            The service stopped answering part-way: the rows read are kept in
            ``<path>.partial`` (``err.saved_to``), and
            ``ci.dataverse.to_parquet(other_path, table, **err.resume)`` writes only the rest.
        ValueError
            ``path``'s folder does not exist (nothing is read).

        Examples
        --------
        >>> ci.dataverse.to_parquet("profiles.parquet", "msdynci_customerprofile")  # doctest: +SKIP
        """
        from ci_toolkit.bulk.parquet import check_folder, write_parquet

        _check_positive(row_group_rows, "row_group_rows")
        check_folder(path)
        bulk = self._dv_bulk(
            table, select=select, filter=filter, names=names, key=key, page_size=page_size,
            max_concurrency=max_concurrency,
            partition_rows=min(row_group_rows, _defaults.DATAVERSE_BULK_PARTITION_ROWS),
        )  # fmt: skip
        batches = self._dv_batches(
            bulk, batch_rows=row_group_rows, progress=progress, call="to_parquet"
        )
        empty = self._dv_empty(bulk)
        try:
            return write_parquet(batches, path, row_group_rows=row_group_rows, empty=empty)
        except PullInterruptedError as exc:
            if exc.saved_to is None:
                raise
            from ci_toolkit.bulk.errors import saved_interruption

            raise saved_interruption(
                exc, bulk.table, call="dataverse.to_parquet"
            ) from exc.__cause__
