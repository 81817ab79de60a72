"""Entity data through the OData endpoint: ``query`` (all rows, one DataFrame),
``iter_pages`` (one DataFrame per service page), ``iter_batches`` (large pulls in key order,
bounded memory) and ``to_parquet`` (a pull larger than memory, written in row groups).

API operations (function -> returns: operation):

``query(entity, ...)`` -> DataFrame of all matching rows
    ``GET /instances/{instanceId}/data/{entity}`` with ``$filter``, ``$select``, ``$orderby``,
    ``$top``, ``$skip``, ``$search``, ``$expand`` (``$count`` on request), following every
    ``@odata.nextLink`` (Get-entities-with-OData-path).
``iter_pages(entity, ...)`` -> iterator of DataFrames, one per page
    Same operation.
``iter_batches(entity, ...)`` -> iterator of DataFrames of about ``batch_rows`` rows
    Same operation, read in parallel by key range (:mod:`ci_toolkit.bulk`).
``to_parquet(path, entity, ...)`` -> rows written
    Same operation, written to a Parquet file in row groups.

Bulk reads (``query``, ``iter_batches``, ``to_parquet`` with ``parallel=True``, the default)
read the first page with ``$count``, then the rest by row offset or in key ranges (row-offset
ranges where the service cannot filter on the key: ingested source tables), concurrently
under an adaptive limit, exactly once and in key order (see :mod:`ci_toolkit.bulk.runner`).
They fall back to following ``@odata.nextLink`` one page at a time when an ``orderby`` is
given, when the entity has no key in its metadata, when the service refuses the query in
key order or for a ``top`` of one page.

Columns are typed from the entity's attribute metadata
(``GET /instances/{instanceId}/manage/entities/{entityName}``, fetched once per entity and
cached on the client).

A pull that loses the service part-way (after the retries) raises
:class:`~ci_toolkit.exceptions.PullInterruptedError` (a ``ServiceUnreachableError``) with the
rows read so far in ``partial`` and, in ``resume``, the options that read only the rest:
``ci.query(entity, **err.resume)`` (a key-range ``filter`` after the last key read, or the
``next_link`` of the page that failed).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ci_toolkit import _defaults
from ci_toolkit.exceptions import PullInterruptedError, ServiceUnreachableError
from ci_toolkit.resources._base import segment
from ci_toolkit.resources.entities import EntitiesMixin
from ci_toolkit.resources.query import DataQuery, check_int

if TYPE_CHECKING:
    import os

    import pandas as pd

    from ci_toolkit.bulk.runner import BulkPull
    from ci_toolkit.odata import Filter

__all__ = ["DataMixin"]

logger = logging.getLogger(__name__)


@dataclass
class _Bulk:
    pull: BulkPull
    query: DataQuery
    drop_key: bool

    def tidy(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.drop_key:
            frame = frame.drop(columns=[self.pull.key])
        return frame

    def resume(self) -> dict[str, Any]:
        """The options of the same pull that read only the rows after those handed on."""
        pull = self.pull
        if pull.last_emitted_key is None:
            return self.query.options()
        if not pull.key_filters:  # the service cannot filter on the key: go on by offset
            options = self.query.options()
            options["skip"] = (self.query.skip or 0) + pull.emitted_rows
            if self.query.top is not None:
                options["top"] = max(self.query.top - pull.emitted_rows, 0)
            return options
        return self.query.resume_after(pull.key, pull.last_emitted_key, rows_read=pull.emitted_rows)

    def interrupted(
        self, exc: ServiceUnreachableError, *, call: str, partial: pd.DataFrame | None, kept: str
    ) -> PullInterruptedError:
        """The error for a pull that lost the service: what was read, how to resume."""
        from ci_toolkit.bulk.errors import interrupted_message

        pull = self.pull
        entity = self.query.entity
        resume = self.resume()
        message = interrupted_message(
            cause=exc, entity=entity, rows=pull.stats.rows,
            pages=pull.pages_read, call=call, resume=resume, kept=kept,
        )  # fmt: skip
        return PullInterruptedError(
            message, entity=entity, rows_fetched=pull.stats.rows, pages_fetched=pull.pages_read,
            partial=partial, resume=resume, secrets=pull.secrets,
        )  # fmt: skip


@dataclass
class _Page:
    frame: pd.DataFrame
    count: int | None
    has_next: bool


class DataMixin(EntitiesMixin):
    """OData queries over entities, typed from the entity metadata."""

    def _column_types(self, entity: str) -> dict[str, str]:
        from ci_toolkit.exceptions import NotFoundError

        try:
            return self._entity_types(entity)
        except NotFoundError:
            # Some queryable tables (e.g. segment tables) may have no metadata of their own;
            # an entity that does not exist at all fails on the data request itself.
            logger.debug("No metadata for %s; inferring column types", entity)
            return {}

    def _pages(
        self, query: DataQuery, *, next_link: str | None = None, call: str = "iter_pages"
    ) -> Iterator[_Page]:
        from ci_toolkit import frames

        entity, top = query.entity, query.top
        types = self._column_types(entity)
        expected = query.columns(types)
        # The first request carries the options; a nextLink (the service's, or the caller's
        # to continue an earlier pull) carries them after. Every URL goes through the
        # session, which refuses one on another origin.
        url: str = next_link if next_link is not None else self._path(f"data/{segment(entity)}")
        params: dict[str, Any] | None = query.params() if next_link is None else None
        fetched = pages = 0
        total: int | None = None
        while True:
            try:
                body = self._session.request_json("GET", url, params=params) or {}
            except ServiceUnreachableError as exc:
                raise self._pages_interrupted(
                    exc, query, call=call, url=None if params is not None else url,
                    rows=fetched, pages=pages,
                ) from exc  # fmt: skip
            params = None
            pages += 1
            rows = body.get("value") or []
            if top is not None and fetched + len(rows) > top:
                rows = rows[: top - fetched]
            fetched += len(rows)
            if body.get("@odata.count") is not None:
                total = int(body["@odata.count"])
            link = body.get("@odata.nextLink")
            done = not link or (top is not None and fetched >= top)
            frame = frames.entity_frame(rows, types, columns=expected, extra=not query.select)
            frame.attrs["odata"] = {"context": body.get("@odata.context"), "count": total}
            yield _Page(frame, total, not done)
            if done:
                if (
                    top is not None
                    and fetched >= top
                    and (link or (total is not None and total - (query.skip or 0) > top))
                ):
                    warnings.warn(
                        f"query({entity!r}) stopped at top={top}; more rows match",
                        stacklevel=4,
                    )
                return
            url = str(link)

    def _pages_interrupted(
        self,
        exc: ServiceUnreachableError,
        query: DataQuery,
        *,
        call: str,
        url: str | None,
        rows: int,
        pages: int,
    ) -> PullInterruptedError:
        """The error of a page-by-page pull that lost the service (resume at its nextLink)."""
        from ci_toolkit.bulk.errors import interrupted_message

        resume = query.options() if url is None else query.resume_at(url, rows_read=rows)
        kept = "err.partial holds them" if call == "query" else "you hold every page yielded so far"
        message = interrupted_message(
            cause=exc, entity=query.entity, rows=rows, pages=pages, call=call, resume=resume,
            kept=kept,
        )  # fmt: skip
        return PullInterruptedError(
            message, entity=query.entity, rows_fetched=rows, pages_fetched=pages, resume=resume,
            secrets=self._session.secrets,
        )  # fmt: skip

    def _entity_key(self, entity: str) -> str | None:
        from ci_toolkit.exceptions import NotFoundError

        try:
            meta = self._entity_metadata(entity)
        except NotFoundError:
            return None
        for key in meta.get("keys") or []:
            for attr in key or []:
                if isinstance(attr, dict) and attr.get("name"):
                    return str(attr["name"])
        return None

    def _bulk(
        self,
        query: DataQuery,
        *,
        max_concurrency: int | None = None,
        partition_rows: int | None = None,
        warn_top: bool = False,
        call: str = "query",
    ) -> _Bulk | None:
        """A planned parallel pull, or ``None`` when this query is read sequentially."""
        from ci_toolkit.bulk.runner import BulkPull
        from ci_toolkit.exceptions import QueryError

        check_int(max_concurrency, "max_concurrency", 1)
        top = query.top
        if query.orderby or (top is not None and top <= _defaults.PAGE_SIZE):
            return None
        key = self._entity_key(query.entity)
        if key is None:
            return None
        types = self._column_types(query.entity)
        expected = query.columns(types)
        drop_key = bool(query.select) and key not in expected
        if drop_key:
            expected.insert(len(query.select or ()), key)
        pull = BulkPull(
            self._session,
            self._path(f"data/{segment(query.entity)}"),
            key=key,
            columns=expected,
            types=types,
            extra=not query.select,
            params=query.range_params(key=key),
            filter=query.filter,
            skip=query.skip,
            top=top,
            max_concurrency=max_concurrency or _defaults.BULK_MAX_CONCURRENCY,
            partition_rows=partition_rows or _defaults.BULK_PARTITION_ROWS,
        )
        bulk = _Bulk(pull, query, drop_key)
        try:
            pull.plan()
        except QueryError as exc:
            logger.debug("%s: no parallel pull (%s); following nextLink instead", query.entity, exc)
            return None
        except ServiceUnreachableError as exc:
            raise bulk.interrupted(
                exc, call=call, partial=None, kept="nothing was read yet"
            ) from exc
        more = pull.total is not None and pull.total - (query.skip or 0) > (top or 0)
        if warn_top and top is not None and more:
            warnings.warn(
                f"query({query.entity!r}) stopped at top={top}; more rows match", stacklevel=4
            )
        return bulk

    def _bulk_frames(self, bulk: _Bulk, entity: str, progress: bool) -> Iterator[pd.DataFrame]:
        bar: Any = None
        rows = bulk.pull.rows_to_pull or 0
        if progress and rows > _defaults.PAGE_SIZE:
            from tqdm.auto import tqdm

            bar = tqdm(total=rows, unit="rows", desc=entity, leave=False)
            bulk.pull.on_rows = bar.update
        try:
            for frame in bulk.pull.frames():
                yield bulk.tidy(frame)
        finally:
            if bar is not None:
                bar.close()
        logger.debug("%s: %s", entity, bulk.pull.stats)

    def iter_pages(
        self,
        entity: str,
        *,
        filter: Filter | str | None = None,
        select: str | Sequence[str] | None = None,
        orderby: str | Sequence[str] | None = None,
        top: int | None = None,
        skip: int | None = None,
        search: str | None = None,
        expand: str | Sequence[str] | None = None,
        count: bool = False,
        next_link: str | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Stream an entity page by page (one typed DataFrame per service page).

        Takes the same options as :meth:`query`. Each page has the query's columns and
        dtypes (also an empty last page), and ``.attrs["odata"]`` with the context and
        ``@odata.count`` when known.

        Parameters
        ----------
        entity, filter, select, orderby, top, skip, search, expand, count
            As for :meth:`query`.
        next_link : str, optional
            Continue an earlier pull from this ``@odata.nextLink`` (e.g. the ``next_link``
            of a :class:`~ci_toolkit.exceptions.PullInterruptedError`); the link carries
            the query options, ``select`` and ``expand`` still type the columns.

        Yields
        ------
        pandas.DataFrame
            One page (the service sends at most 100 rows per page by default).

        Raises
        ------
        ci_toolkit.exceptions.PullInterruptedError
            The service stopped answering part-way; ``next_link`` says where to continue.

        Examples
        --------
        >>> pages = ci.iter_pages("UnifiedActivity", select=["CustomerId"])  # doctest: +SKIP
        >>> for page in pages:  # doctest: +SKIP
        ...     totals = page.groupby("CustomerId")["Amount"].sum()
        """
        query = DataQuery.build(
            entity, filter=filter, select=select, orderby=orderby, top=top, skip=skip,
            search=search, expand=expand, count=count,
        )  # fmt: skip
        for page in self._pages(query, next_link=next_link):
            yield page.frame

    def query(
        self,
        entity: str,
        *,
        filter: Filter | str | None = None,
        select: str | Sequence[str] | None = None,
        orderby: str | Sequence[str] | None = None,
        top: int | None = None,
        skip: int | None = None,
        search: str | None = None,
        expand: str | Sequence[str] | None = None,
        count: bool = False,
        progress: bool = True,
        parallel: bool = True,
        max_concurrency: int | None = None,
        next_link: str | None = None,
    ) -> pd.DataFrame:
        """Read an entity into one DataFrame: every matching row, exactly once.

        With ``parallel`` (the default) the rows are counted, cut into key ranges and
        fetched concurrently (at most ``max_concurrency`` requests in flight, fewer while
        the service throttles), then returned in key order; each page is converted to
        typed columns as it arrives. Otherwise (or with an ``orderby``) the pages are read
        one after another, following ``@odata.nextLink``.

        Parameters
        ----------
        entity : str
            Entity name, e.g. ``"Customer"``, ``"UnifiedActivity"``, ``"Customer_Measure"``.
        filter : Filter or str, optional
            ``$filter``: a string, or an expression from :mod:`ci_toolkit.odata`
            (``F.eq("LastName", "O'Brien")``), which quotes values safely.
        select : str or Sequence[str], optional
            ``$select``: the columns to return (also the columns of an empty result).
        orderby : str or Sequence[str], optional
            ``$orderby``, e.g. ``"BirthDate desc"``.
        top : int, optional
            ``$top``: stop after this many rows (no limit otherwise; warns when more match).
        skip : int, optional
            ``$skip``: rows to skip first.
        search : str, optional
            ``$search``: full-text search over searchable attributes.
        expand : str or Sequence[str], optional
            ``$expand`` (e.g. ``UnifiedActivity`` on ``Customer``): lists of dicts per row.
        count : bool
            Ask for ``$count``; the total lands in ``.attrs["odata"]["count"]`` and sizes
            the progress bar.
        progress : bool
            Show a ``tqdm`` progress bar when more than one page is needed.
        parallel : bool
            Fetch key ranges concurrently (``False``: one page after another).
        max_concurrency : int, optional
            Most requests in flight (default 10, the connection pool's size).
        next_link : str, optional
            Continue a page-by-page pull from this ``@odata.nextLink`` (as
            :meth:`iter_pages`); implies ``parallel=False``.

        Returns
        -------
        pandas.DataFrame
            Columns typed from the entity's attribute metadata (datetimes UTC, ``Int64``,
            ``Float64``, ``boolean``, ``string``); ``.attrs["odata"]`` holds the context and
            count.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            Unknown entity.
        ci_toolkit.exceptions.QueryError
            The service rejected the query (bad filter, unsupported combination).
        ci_toolkit.exceptions.PullInterruptedError
            The service stopped answering part-way (a ``ServiceUnreachableError``): the
            rows read are in its ``partial``, and ``query(entity, **err.resume)`` reads the
            rest.

        Warns
        -----
        ci_toolkit.bulk.IncompletePullWarning
            The rows read do not match ``$count`` (the data changed during the pull).

        Examples
        --------
        >>> from datetime import date
        >>> from ci_toolkit.odata import F
        >>> where = F.eq("LastName", "O'Brien") & F.gt("BirthDate", date(1990, 1, 1))
        >>> ci.query("Customer", filter=where, select=["CustomerId", "BirthDate"])  # doctest: +SKIP
        """
        import pandas as pd

        from ci_toolkit.bulk.accumulator import concat_frames

        query = DataQuery.build(
            entity, filter=filter, select=select, orderby=orderby, top=top, skip=skip,
            search=search, expand=expand, count=count,
        )  # fmt: skip
        if parallel and next_link is None:
            bulk = self._bulk(query, max_concurrency=max_concurrency, warn_top=count)
            if bulk is not None:
                parts: list[pd.DataFrame] = []
                try:
                    for frame in self._bulk_frames(bulk, entity, progress):
                        parts.append(frame)
                except ServiceUnreachableError as exc:
                    partial = concat_frames(parts) if parts else self._empty(bulk)
                    raise bulk.interrupted(
                        exc, call="query", partial=partial,
                        kept=f"err.partial holds the first {len(partial):,} in key order",
                    ) from exc  # fmt: skip
                result = concat_frames(parts) if parts else self._empty(bulk)
                result.attrs = {
                    "odata": {
                        "context": bulk.pull.context,
                        "count": bulk.pull.total if count else None,
                    }
                }
                return result

        frames_: list[pd.DataFrame] = []
        bar: Any = None
        odata: dict[str, Any] = {}
        try:
            for page in self._pages(query, next_link=next_link, call="query"):
                frames_.append(page.frame)
                odata = dict(page.frame.attrs.get("odata") or {})
                if bar is None and page.has_next and progress:
                    from tqdm.auto import tqdm

                    total = page.count
                    if total is not None and skip:
                        total = max(total - skip, 0)
                    if total is not None and top is not None:
                        total = min(total, top)
                    bar = tqdm(total=total, unit="rows", desc=entity, leave=False)
                if bar is not None:
                    bar.update(len(page.frame))
        except PullInterruptedError as exc:
            if frames_:
                exc.partial = pd.concat(frames_, ignore_index=True)
            raise
        finally:
            if bar is not None:
                bar.close()
        non_empty = [f for f in frames_ if len(f)] or frames_[:1]
        result = non_empty[0] if len(non_empty) == 1 else pd.concat(non_empty, ignore_index=True)
        result.attrs = {"odata": odata}
        return result

    def _empty(self, bulk: _Bulk) -> pd.DataFrame:
        return bulk.tidy(bulk.pull.empty())

    def iter_batches(
        self,
        entity: str,
        *,
        filter: Filter | str | None = None,
        select: str | Sequence[str] | None = None,
        top: int | None = None,
        skip: int | None = None,
        search: str | None = None,
        expand: str | Sequence[str] | None = None,
        batch_rows: int = 100_000,
        progress: bool = True,
        parallel: bool = True,
        max_concurrency: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Stream a large pull as typed DataFrames of about ``batch_rows`` rows, in key order.

        The rows are fetched as :meth:`query` fetches them (in parallel, exactly once), but
        only a few key ranges are held at a time: earlier ranges are fetched first and
        handed on as soon as they are complete, so memory stays bounded by the concurrency
        and the batch size rather than the size of the table.

        Parameters
        ----------
        entity : str
            Entity name, e.g. ``"UnifiedActivity"``.
        filter, select, top, skip, search, expand
            As for :meth:`query`.
        batch_rows : int
            Rows per yielded DataFrame (the last one may hold fewer).
        progress : bool
            Show one ``tqdm`` progress bar.
        parallel : bool
            Fetch key ranges concurrently (``False``: one page after another).
        max_concurrency : int, optional
            Most requests in flight (default 10).

        Yields
        ------
        pandas.DataFrame
            Consecutive rows in key order, typed as :meth:`query` types them.

        Examples
        --------
        >>> for batch in ci.iter_batches("UnifiedActivity", batch_rows=50_000):  # doctest: +SKIP
        ...     totals = batch.groupby("ActivityType")["Amount"].sum()
        """
        check_int(batch_rows, "batch_rows", 1)
        query = DataQuery.build(
            entity, filter=filter, select=select, top=top, skip=skip, search=search, expand=expand
        )
        return self._batches(
            query, batch_rows=batch_rows, progress=progress, parallel=parallel,
            max_concurrency=max_concurrency,
        )  # fmt: skip

    def _batches(
        self,
        query: DataQuery,
        *,
        batch_rows: int,
        progress: bool,
        parallel: bool,
        max_concurrency: int | None,
    ) -> Iterator[pd.DataFrame]:
        from ci_toolkit.bulk.accumulator import concat_frames
        from ci_toolkit.bulk.rebatch import Rebatcher

        entity = query.entity
        source: Iterator[pd.DataFrame] | None = None
        bulk: _Bulk | None = None
        if parallel:
            bulk = self._bulk(
                query,
                max_concurrency=max_concurrency,
                partition_rows=min(batch_rows, _defaults.BULK_BATCH_PARTITION_ROWS),
                call="iter_batches",
            )
            if bulk is not None:
                source = self._bulk_frames(bulk, entity, progress)
        if source is None:
            source = (page.frame for page in self._pages(query, call="iter_batches"))
        batches = Rebatcher(batch_rows)
        try:
            for frame in source:
                for full in batches.add(frame):
                    yield concat_frames(full)
        except PullInterruptedError as exc:
            if batches.held:  # read but not yet handed on: kept, never lost
                exc.partial = concat_frames(batches.take())
            raise
        except ServiceUnreachableError as exc:
            if bulk is None:
                raise
            held = batches.take()
            partial = concat_frames(held) if held else self._empty(bulk)
            raise bulk.interrupted(
                exc, call="iter_batches", partial=partial,
                kept=f"the batches yielded and err.partial ({len(partial):,} rows) hold "
                f"the first {bulk.pull.emitted_rows:,} in key order",
            ) from exc  # fmt: skip
        if batches.held:
            yield concat_frames(batches.take())

    def to_parquet(
        self,
        path: str | os.PathLike[str],
        entity: str,
        *,
        filter: Filter | str | None = None,
        select: str | Sequence[str] | None = None,
        top: int | None = None,
        skip: int | None = None,
        search: str | None = None,
        expand: str | Sequence[str] | None = None,
        row_group_rows: int = 100_000,
        progress: bool = True,
        parallel: bool = True,
        max_concurrency: int | None = None,
    ) -> int:
        """Pull an entity into a Parquet file, row group by row group (larger than memory).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, in a folder that exists; it appears only when the pull is
            complete (each call writes a hidden temporary file of its own first, so two
            calls to one path never mix their rows).
        entity : str
            Entity name.
        filter, select, top, skip, search, expand
            As for :meth:`query`.
        row_group_rows : int
            Rows per Parquet row group (also what is held in memory at a time).
        progress, parallel, max_concurrency
            As for :meth:`iter_batches`.

        Returns
        -------
        int
            Rows written.

        Raises
        ------
        ci_toolkit.exceptions.PullInterruptedError
            The service stopped answering part-way: the rows read are kept in
            ``<path>.partial`` (its ``saved_to``, a valid Parquet file; ``.partial-2``... when
            an earlier call's rows are there, which are never replaced or deleted), and
            ``ci.to_parquet(other_path, entity, **err.resume)`` writes only the rest.
        ValueError
            ``path``'s folder does not exist or cannot be written (nothing is read).

        Examples
        --------
        >>> ci.to_parquet("activities.parquet", "UnifiedActivity")  # doctest: +SKIP
        1000000
        >>> import pandas as pd
        >>> pd.read_parquet("activities.parquet").shape  # doctest: +SKIP
        """
        from ci_toolkit import frames
        from ci_toolkit.bulk.parquet import check_folder, write_parquet

        check_int(row_group_rows, "row_group_rows", 1)
        check_folder(path)
        query = DataQuery.build(
            entity, filter=filter, select=select, top=top, skip=skip, search=search, expand=expand
        )
        batches = self._batches(
            query, batch_rows=row_group_rows, progress=progress, parallel=parallel,
            max_concurrency=max_concurrency,
        )  # fmt: skip
        types = self._column_types(entity)
        empty = frames.entity_frame([], types, columns=query.columns(types))
        try:
            return write_parquet(batches, path, row_group_rows=row_group_rows, empty=empty)
        except PullInterruptedError as exc:
            if exc.saved_to is None:
                raise
            from ci_toolkit.bulk.errors import saved_interruption

            raise saved_interruption(exc, entity, call="to_parquet") from exc.__cause__
