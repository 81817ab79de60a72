"""Rendered rows of tables stored in key order, kept a little while in blocks.

A page of a key range is rows ``start`` to ``stop`` of its table (see
:mod:`~ci_toolkit.emulator.data.keyindex`). Reading a hundred rows costs DuckDB a fixed
millisecond or more whatever their number, so rows are read and rendered to JSON (by
DuckDB itself, :func:`~ci_toolkit.emulator.data.jsonrows.sql_row_json`, or by
:meth:`~ci_toolkit.emulator.data.jsonrows.RowRenderer.render_each`) a block of
:data:`BLOCK_ROWS` at a time, and the pages that follow in the same block are cut from it.
The cache is bounded (:data:`MAX_BYTES`, least recently used blocks go first): enough for
one block per key range that a bulk pull reads at once (two ranges per request in flight,
up to a ceiling of about 30), not for a large table, so a second pull of 100,000
``Customer`` rows renders them again (a benchmark run gets no help from the one before).
With too small a cache, concurrent ranges evict each other's blocks before their next page
and every page renders a whole block: at 16 requests in flight, 8 MiB nearly doubled the
emulator's CPU per request.

A block is rendered from rows checked against one :class:`~.keyindex.KeyIndex` and is
kept under that index's :attr:`~.keyindex.KeyIndex.version`: when a table is replaced its
index is dropped, so its blocks are never served with a newer index (and
:meth:`RowBlockCache.drop` frees them at once).

Example
-------
>>> cache = RowBlockCache(max_bytes=1024)
>>> cache.put(("T", 1, ("Id",), 0), [b'{"Id":"a"}'])
>>> cache.get(("T", 1, ("Id",), 0))
[b'{"Id":"a"}']
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["BLOCK_ROWS", "MAX_BYTES", "BlockKey", "RowBlockCache"]

#: Rows per block (block ``b`` holds rows ``b * BLOCK_ROWS`` to ``(b + 1) * BLOCK_ROWS - 1``).
BLOCK_ROWS = 1024
#: Bytes of rendered rows kept at most (about 60 blocks of 1,024 wide ``Customer`` rows).
MAX_BYTES = 32 * 2**20
_ROW_OVERHEAD = 40  # a bytes object and its list slot

#: (relation, key index version, columns, block number).
BlockKey = tuple[str, int, tuple[str, ...], int]


class RowBlockCache:
    """Blocks of rendered rows by :data:`BlockKey`, least recently used out first.

    Parameters
    ----------
    max_bytes
        Size of the rendered rows kept at most.

    Every method may be called from any thread.
    """

    def __init__(self, *, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._blocks: OrderedDict[BlockKey, tuple[list[bytes], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: BlockKey) -> list[bytes] | None:
        """The rendered rows of a block, or ``None`` when not kept."""
        with self._lock:
            entry = self._blocks.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._blocks.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: BlockKey, rows: list[bytes]) -> None:
        """Keep a block, dropping the least recently used ones beyond :attr:`max_bytes`."""
        size = sum(len(r) for r in rows) + _ROW_OVERHEAD * len(rows)
        with self._lock:
            if size > self.max_bytes:
                return
            old = self._blocks.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._blocks[key] = (rows, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._blocks.popitem(last=False)
                self._bytes -= dropped

    def drop(self, relation: str) -> None:
        """Forget a table's blocks (it was replaced or deleted)."""
        with self._lock:
            for key in [k for k in self._blocks if k[0] == relation]:
                self._bytes -= self._blocks.pop(key)[1]
