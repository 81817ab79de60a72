"""The key-range fast path: pages of a range of keys read by row position, no SQL sort.

Tables are stored in key order, so a page of a key range is rows ``start`` to ``stop`` of
its table (:class:`~.keyindex.KeyIndex` finds them by binary search). Full pages are cut from
blocks of rendered rows (:class:`~.rowcache.RowBlockCache`); the bytes, count and next token
are exactly those of the SQL path. Whenever the rows read are not the keys the index
expects (the table was just replaced) the reader answers ``None`` and the caller runs SQL.

Example
-------
>>> reader = KeyRangeReader(cursor=store.cursor)  # doctest: +SKIP
>>> reader.page(info, cols, None, [("ge", "a")], paging, count=True)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb

from ci_toolkit.emulator.data import entities as ent
from ci_toolkit.emulator.data.jsonrows import SQL_ESCAPE, RowRenderer, sql_row_json
from ci_toolkit.emulator.data.keyindex import KeyIndex
from ci_toolkit.emulator.data.odata import quote_ident
from ci_toolkit.emulator.data.paging import PAGE_SIZE, ODataPage, Paging
from ci_toolkit.emulator.data.rowcache import BLOCK_ROWS, RowBlockCache

__all__ = ["KEY_INDEX_MAX_ROWS", "KeyRangeReader"]

logger = logging.getLogger(__name__)

#: Tables up to this many rows get a :class:`KeyIndex` (it holds every key in memory).
KEY_INDEX_MAX_ROWS = 2_000_000


class KeyRangeReader:
    """Key indexes (built on first use) and rendered row blocks of one database.

    Parameters
    ----------
    cursor
        Gives the calling thread's DuckDB cursor.
    """

    def __init__(self, *, cursor: Callable[[], Any]) -> None:
        self._cursor = cursor
        #: Key indexes by relation (None: the table is not stored in key order); an entry
        #: goes when its table is replaced (:meth:`forget`).
        self.indexes: dict[str, KeyIndex | None] = {}
        self._lock = threading.Lock()
        self.row_blocks = RowBlockCache()

    def forget(self, relation: str) -> None:
        """Drop the index and row blocks of a table that was replaced or dropped."""
        with self._lock:
            self.indexes.pop(relation, None)
        self.row_blocks.drop(relation)

    def index(self, info: ent.EntityInfo) -> KeyIndex | None:
        """The :class:`KeyIndex` of an entity's table (built on first use), if it has one."""
        with self._lock:
            if info.relation in self.indexes:
                return self.indexes[info.relation]
            started = time.perf_counter()
            index = KeyIndex.build(
                self._cursor(), info.relation, info.key, max_rows=KEY_INDEX_MAX_ROWS
            )
            self.indexes[info.relation] = index
        logger.debug(
            "key index of %s: %s in %.3f s",
            info.name,
            "none" if index is None else f"{len(index)} keys",
            time.perf_counter() - started,
        )
        return index

    def page(
        self,
        info: ent.EntityInfo,
        cols: dict[str, str],
        select: list[str] | None,
        conditions: list[tuple[str, str | None]],
        paging: Paging,
        *,
        count: bool,
        memory_only: bool = False,
    ) -> ODataPage | None:
        """A page whose rows are a range of keys, read by position; ``None``: use SQL.

        The rows, count and next token are those the SQL of
        :func:`~ci_toolkit.emulator.data.odata.build_page_query` gives (rows after
        ``$skiptoken``/``$skip``, ``$top``, one row more to see if more). ``None`` when the
        table has no key index, or when the rows read are not the keys the index expects
        (the table was just replaced): the caller then runs the SQL. With ``memory_only``,
        also ``None`` when the page needs any database work.
        """
        index = self.indexes.get(info.relation) if memory_only else self.index(info)
        if index is None:
            return None
        low, high = index.span(conditions)
        start = low
        token = paging.token
        if paging.keyset and token is not None and token.after is not None:
            start = max(start, index.bisect_right(token.after))
        start += paging.offset
        size = paging.size(PAGE_SIZE)
        available = max(high - start, 0)
        taken = min(size, available)
        columns = select if select is not None else list(cols)
        rows: list[bytes] = []
        if taken:
            # Full pages (the paging pattern) come from blocks of rendered rows; a page that
            # $top makes short (a bulk pull's boundary probe) is read as it is.
            if size == PAGE_SIZE:
                found = self._rendered_rows(
                    info, cols, columns, index, start, start + taken, memory_only=memory_only
                )
            else:
                found = None if memory_only else self._read_rows(
                    info, cols, columns, index, start, start + taken
                )  # fmt: skip
            if found is None:
                return None
            rows = found
        value = b"[" + b",".join(rows) + b"]"
        last = index.key(start + taken - 1) if taken else None
        next_token = paging.next_token(more=available > size, last_key=last, size=size)
        return ODataPage(info.name, value, high - low if count else None, next_token, select)

    def _rendered_rows(
        self,
        info: ent.EntityInfo,
        cols: dict[str, str],
        columns: list[str],
        index: KeyIndex,
        start: int,
        stop: int,
        *,
        memory_only: bool = False,
    ) -> list[bytes] | None:
        """The JSON text of rows ``start`` to ``stop - 1``, from blocks of rendered rows.

        A block not in the cache is read and kept (:meth:`_read_rows`); ``None`` when the
        index is stale, or with ``memory_only`` when a block is not in the cache.
        """
        wanted = tuple(columns)
        out: list[bytes] = []
        for block in range(start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS + 1):
            key = (info.relation, index.version, wanted, block)
            rows = self.row_blocks.get(key)
            first = block * BLOCK_ROWS
            if rows is None:
                if memory_only:
                    return None
                last = min(first + BLOCK_ROWS, len(index))
                rows = self._read_rows(info, cols, columns, index, first, last)
                if rows is None:
                    return None
                self.row_blocks.put(key, rows)
            out.extend(rows[max(start - first, 0) : stop - first])
        return out

    def _read_rows(
        self,
        info: ent.EntityInfo,
        cols: dict[str, str],
        columns: list[str],
        index: KeyIndex,
        start: int,
        stop: int,
    ) -> list[bytes] | None:
        """Rows ``start`` to ``stop - 1`` read by ``rowid`` and rendered, one text per row.

        DuckDB writes the JSON itself where it writes the bytes :class:`RowRenderer` would
        (:func:`~ci_toolkit.emulator.data.jsonrows.sql_row_json`): that query runs without
        the interpreter lock, so the event loop goes on answering other requests while a
        block is rendered (a bulk pull's pages came back 15% sooner). Otherwise the values
        are fetched and rendered by :class:`RowRenderer`. ``None`` when the keys read are not
        those the index expects (the table was replaced since the index was built) or the
        table is gone: the caller uses SQL.
        """
        types = [cols[c] for c in columns]
        expression = sql_row_json(columns, types)
        if expression is not None:
            texts = self._rows_by_position(info, [expression], index, start, stop)
            if texts is None:
                return None
            rendered: list[bytes] = [row[0] for row in texts]
            if not any(SQL_ESCAPE in text for text in rendered):
                return rendered
        values = self._rows_by_position(
            info, [quote_ident(c) for c in columns], index, start, stop
        )  # fmt: skip
        if values is None:
            return None
        return RowRenderer(columns, types).render_each(values)

    def _rows_by_position(
        self, info: ent.EntityInfo, select: list[str], index: KeyIndex, start: int, stop: int
    ) -> list[tuple[Any, ...]] | None:
        """``SELECT <select>, <key>`` of rows ``start`` to ``stop - 1`` by ``rowid``.

        ``None`` when the keys read are not those the index expects, or the table is gone.
        """
        try:
            raw: list[tuple[Any, ...]] = (
                self._cursor()
                .execute(
                    f"SELECT {', '.join(select)}, {quote_ident(info.key)} FROM {info.relation} "
                    "WHERE rowid >= ? AND rowid < ?",
                    [start, stop],
                )
                .fetchall()
            )
        except duckdb.Error as exc:  # the table went away (a segment deleted): use SQL
            logger.debug("key range read of %s failed: %s", info.name, exc)
            return None
        if [r[-1] for r in raw] != index.keys(start, stop):
            logger.debug("key index of %s is stale; reading with SQL", info.name)
            return None
        return raw
