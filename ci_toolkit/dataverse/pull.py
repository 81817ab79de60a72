"""A bulk pull of a Dataverse table: key ranges whose boundaries the service itself chose.

Dataverse has no ``$skip`` and its ``$count`` stops at a cap, so the v1 plan (count, then
the key at each offset) cannot work. The plan here uses no offsets and never compares two
keys in Python (GUIDs order differently in SQL Server, and the elastic tables' order is not
documented: DATAVERSE-NOTES sections 7 and 11):

1. ``$count=true`` with one row: an exact count when it is under the cap (then the number of
   ranges follows from it and the total is checked at the end), else "at least the cap";
2. cut points spread over the key's value space: hex prefixes (``'40'``, ``'80'``...) for a
   String key such as ``msdynci_customerid`` (32 hex digits), and for a GUID key values that
   vary both the first byte (string order) and byte 10 (SQL Server order:
   ``40000000-0000-0000-0000-400000000000``);
3. for each cut point, in parallel, the service's own first key at or after it
   (``$filter=<key> ge <cut>&$orderby=<key>&$select=<key>&$top=1``, with the user's filter);
4. one request that puts the distinct keys found in the service's order
   (``$filter=<key> eq b1 or <key> eq b2 ...&$orderby=<key>&$select=<key>``);
5. ranges ``[None, b1)``, ``[b1, b2)`` ... ``[bn, None)``, each read with
   ``$filter=(user filter) and <key> ge bi and <key> lt bi+1&$orderby=<key>`` following
   ``@odata.nextLink`` unchanged, by the v1 scheduler (:class:`~ci_toolkit.bulk.BulkPull`:
   adaptive concurrency, one pause for every request on a 429's ``Retry-After``, retries
   from where a range stopped, in-order hand-over, resume after the last key handed on).

The service evaluates every comparison in its own order, so the ranges are disjoint and
together hold every row whatever that order is; a range's rows stay in the order the
service sent them (de-duplicated by key, never sorted in Python), so the last key handed on
is the service's last and ``<key> gt <last>`` reads exactly the rest.

Example
-------
>>> range_filter("msdynci_country eq 'IE'", "msdynci_customerid", low="40", high="80",
...              guid=False)
"(msdynci_country eq 'IE') and msdynci_customerid ge '40' and msdynci_customerid lt '80'"
>>> cut_points(4, guid=True)[0]
'40000000-0000-0000-0000-400000000000'
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ci_toolkit import _defaults
from ci_toolkit.bulk.accumulator import ColumnAccumulator, _chunks_frame
from ci_toolkit.bulk.fetch import Outcome, fetch_page
from ci_toolkit.bulk.planner import Partition
from ci_toolkit.bulk.runner import BulkPull, _State, _Task
from ci_toolkit.dataverse.session import prefer

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.http.retry import RetryPolicy
    from ci_toolkit.http.session import ApiSession

__all__ = ["DataversePull", "ServerOrderAccumulator", "cut_points", "key_literal", "range_filter"]

logger = logging.getLogger(__name__)

_ESTIMATE_SLICES = 256
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def key_literal(value: Any, *, guid: bool) -> str:
    """A key value as a Dataverse literal: a GUID unquoted, a string quoted (``'`` doubled).

    Raises
    ------
    ValueError
        ``guid`` is set and ``value`` is not a GUID.

    Examples
    --------
    >>> key_literal("{6F1C0A52-1D2E-4A8B-9C3D-2E1F0A9B8C7D}", guid=True)
    '6f1c0a52-1d2e-4a8b-9c3d-2e1f0a9b8c7d'
    >>> key_literal("O'B", guid=False)
    "'O''B'"
    """
    text = str(value)
    if guid:
        bare = text.strip().strip("{}").lower()
        if not _GUID.fullmatch(bare):
            raise ValueError(f"{value!r} is not a GUID (the key column is an Edm.Guid)")
        return bare
    return "'" + text.replace("'", "''") + "'"


def range_filter(
    user: str | None,
    key: str,
    *,
    low: Any = None,
    high: Any = None,
    after: Any = None,
    guid: bool,
) -> str | None:
    """The ``$filter`` of a key range: the user's filter, ``ge low`` (or ``gt after``), ``lt high``.

    Examples
    --------
    >>> range_filter(None, "msdynci_customerid", after="ab", guid=False)
    "msdynci_customerid gt 'ab'"
    """
    parts: list[str] = [f"({user})"] if user else []
    if after is not None:
        parts.append(f"{key} gt {key_literal(after, guid=guid)}")
    elif low is not None:
        parts.append(f"{key} ge {key_literal(low, guid=guid)}")
    if high is not None:
        parts.append(f"{key} lt {key_literal(high, guid=guid)}")
    return " and ".join(parts) or None


def cut_points(ranges: int, *, guid: bool) -> list[str]:
    """``ranges - 1`` candidate cut points spread over the key's value space.

    They are only questions to the service ("your first key at or after this?"): their own
    order does not matter and is never used.

    Examples
    --------
    >>> cut_points(4, guid=False)
    ['40', '80', 'c0']
    """
    digits = 2 if ranges <= 256 else 3
    space = 16**digits
    values = list(dict.fromkeys(i * space // ranges for i in range(1, ranges)))
    out: list[str] = []
    for value in values:
        head = f"{value:0{digits}x}"
        if guid:  # first byte: string order; byte 10 (last group): SQL Server order
            out.append(f"{head:0<8}-0000-0000-0000-{head:0<12}")
        else:
            out.append(head)
    return out


class ServerOrderAccumulator(ColumnAccumulator):
    """A range's rows in the order the service sent them, each key once (never sorted here).

    Examples
    --------
    >>> acc = ServerOrderAccumulator(key="k", types={}, columns=["k"])
    >>> acc.add([{"k": "b"}, {"k": "a"}, {"k": "b"}])
    >>> acc.finish()["k"].tolist()
    ['b', 'a']
    """

    def finish(self) -> pd.DataFrame:
        """All rows once each (the first of a key's copies), in the service's order."""
        self._flush()
        frame = _chunks_frame(self._chunks)
        self._chunks = []
        if self.key in frame.columns and len(frame):
            duplicated = frame[self.key].duplicated(keep="first")
            if duplicated.any():
                logger.debug("dropping %d duplicate rows", int(duplicated.sum()))
                frame = frame.loc[~duplicated.to_numpy()].reset_index(drop=True)
        return frame


def _fetch_preferring(
    header: str, session: ApiSession, url: str, params: Mapping[str, Any] | None,
    key: str, policy: RetryPolicy,
) -> Outcome:  # fmt: skip
    """:func:`fetch_page` with ``Prefer: <header>`` (in the worker thread that sends it)."""
    with prefer(header):
        return fetch_page(session, url, params, key=key, policy=policy)


class DataversePull(BulkPull):
    """One parallel, exactly-once read of a Dataverse table by key ranges.

    Parameters
    ----------
    session : ApiSession
        The Dataverse session.
    entity_set : str
        The table's entity set (``msdynci_customerprofiles``).
    key : str
        A unique column the service can filter and order by (the primary id, or
        ``msdynci_customerid`` on the profile table).
    guid_key : bool
        The key is an ``Edm.Guid`` (literals unquoted).
    columns, types, extra
        As for :class:`~ci_toolkit.bulk.BulkPull` (``types``: the table's data kinds).
    select : Sequence[str] or None
        ``$select`` (the key among them).
    filter : str or None
        The user's filter, as Dataverse text.
    max_concurrency : int
        Ceiling of requests in flight (at most 52, Dataverse's limit).
    max_partitions : int
        Most key ranges (their boundaries are put in order by one request).
    partition_rows : int
        Rows per range when the count is exact.
    page_size : int
        ``Prefer: odata.maxpagesize`` of the range reads.

    Examples
    --------
    >>> pull = DataversePull(session, "msdynci_customerprofiles",  # doctest: +SKIP
    ...     key="msdynci_customerprofileid", guid_key=True, columns=[...], types={...})
    >>> frames = list(pull.frames())  # doctest: +SKIP
    """

    check_partition_rows = False  # a range's row count is not known before it is read

    def __init__(
        self,
        session: ApiSession,
        entity_set: str,
        *,
        key: str,
        guid_key: bool,
        columns: Sequence[str],
        types: Mapping[str, str],
        extra: bool = True,
        select: Sequence[str] | None = None,
        filter: str | None = None,
        max_concurrency: int = _defaults.DATAVERSE_BULK_MAX_CONCURRENCY,
        max_partitions: int = _defaults.DATAVERSE_BULK_PARTITIONS,
        partition_rows: int = _defaults.DATAVERSE_BULK_PARTITION_ROWS,
        page_size: int = _defaults.DATAVERSE_MAX_PAGE_SIZE,
        on_rows: Callable[[int], None] | None = None,
    ) -> None:
        params: dict[str, Any] = {"$orderby": key}
        if select:
            params["$select"] = ",".join(select)
        super().__init__(
            session, entity_set, key=key, columns=columns, types=types, extra=extra,
            params=params, filter=filter, partition_rows=partition_rows, on_rows=on_rows,
            max_concurrency=min(max_concurrency, _defaults.DATAVERSE_MAX_CONCURRENCY),
        )  # fmt: skip
        self.guid_key = guid_key
        self.max_partitions = max(1, min(max_partitions, _defaults.DATAVERSE_BULK_PARTITIONS))
        self.page_size = page_size
        self.prefer_header = f"odata.maxpagesize={page_size}"
        self.boundaries: list[str] = []
        #: The exact count when the caller already has it (its first page said so); the
        #: plan then skips its own count request. ``-1``: not asked yet.
        self.head_count: int | None = -1
        self._links: set[str] = set()

    # -- planning -------------------------------------------------------------------------------

    def plan(self) -> int:
        """Ask the service for the range boundaries; at least this many rows will come.

        The number is exact (and checked at the end, in ``rows_to_pull``) when the service's
        count is under its cap; otherwise it is the cap.
        """
        count: int | None = self.head_count
        if count is not None and count < 0:
            count = self._count(self._user_text())
        exact = count is not None and count < _defaults.DATAVERSE_COUNT_CAP
        estimate: int | None = count
        if exact:
            assert count is not None
            self.total = self.rows_to_pull = self.stats.total = count
        else:
            estimate = self._estimate()
        if estimate is None:
            ranges = 4 * self.controller.ceiling
        else:
            ranges = max(
                math.ceil(estimate / max(self.partition_rows, 1)),
                min(self.controller.ceiling, math.ceil(estimate / self.page_size)),
            )
        ranges = max(1, min(ranges, self.max_partitions, self._ranges_in_one_url()))
        self.boundaries = self._server_boundaries(cut_points(ranges, guid=self.guid_key))
        edges: list[Any] = [None, *self.boundaries, None]
        self._partitions = [
            Partition(index, edges[index], edges[index + 1], 0) for index in range(len(edges) - 1)
        ]
        self.stats.partitions = len(self._partitions)
        logger.debug(
            "%s: %s rows in %d key ranges", self.path, count if exact else "many",
            len(self._partitions),
        )  # fmt: skip
        return count or 0

    def _count(self, text: str | None) -> int | None:
        """The service's ``$count`` of the rows matching ``text`` (capped by the service)."""
        params: dict[str, Any] = {"$select": self.key, "$count": "true"}
        if text:
            params["$filter"] = text
        with prefer("odata.maxpagesize=1"):
            head = self._get(self.path, params)
        self.context = self.context or head.context
        return head.count

    def _estimate(self) -> int | None:
        """Rows in all, guessed from the count of 1/256 of the key space (``None``: no idea).

        Only the number of ranges depends on it, never which rows are read.
        """
        first = cut_points(_ESTIMATE_SLICES, guid=self.guid_key)[0]
        text = range_filter(self._user_text(), self.key, high=first, guid=self.guid_key)
        count = self._count(text)
        if not count:  # keys not spread over hex prefixes, or very few rows
            return None
        return min(count, _defaults.DATAVERSE_COUNT_CAP) * _ESTIMATE_SLICES

    def _server_boundaries(self, cuts: list[str]) -> list[str]:
        """The service's first key at or after each cut point, put in order by the service."""
        if not cuts:
            return []
        base = {"$select": self.key, "$orderby": self.key, "$top": 1}

        def probe(cut: str) -> str | None:
            text = range_filter(self._user_text(), self.key, low=cut, guid=self.guid_key)
            out = self._get(self.path, {**base, "$filter": text})
            value = out.value[0].get(self.key) if out.value else None
            return None if value is None else str(value)

        workers = max(1, min(self.controller.ceiling, len(cuts)))
        with ThreadPoolExecutor(workers, thread_name_prefix="ci-dataverse-plan") as pool:
            found = list(dict.fromkeys(v for v in pool.map(probe, cuts) if v is not None))
        params: dict[str, Any] | None = self._order_params(found)
        while len(found) > 1 and self._url_length(params) > _defaults.MAX_URL_LENGTH:
            # Longer keys than planned for: fewer boundaries (any subset still cuts the
            # keys into disjoint ranges that hold them all).
            found = found[::2]
            params = self._order_params(found)
        if not found:
            return []
        url: str = self.path
        ordered: list[str] = []
        seen: set[str] = set()
        while True:
            out = self._get(url, params)
            ordered.extend(str(row.get(self.key)) for row in out.value if row.get(self.key))
            if not out.next_link or out.next_link in seen:
                break
            seen.add(out.next_link)
            url, params = out.next_link, None
        return list(dict.fromkeys(ordered))

    def _order_params(self, found: Sequence[str]) -> dict[str, Any]:
        """The request that has the service put ``found`` (keys) in its order."""
        conditions = " or ".join(
            f"{self.key} eq {key_literal(value, guid=self.guid_key)}" for value in found
        )
        return {"$select": self.key, "$orderby": self.key, "$filter": conditions}

    def _url_length(self, params: Mapping[str, Any] | None) -> int:
        request = self.session.client.build_request("GET", self.path, params=params)
        return len(str(request.url))

    def _ranges_in_one_url(self) -> int:
        """How many boundaries one ordering request can name within the URL length limit."""
        sample = "0" * 32 if not self.guid_key else "00000000-0000-0000-0000-000000000000"
        one = self._url_length(self._order_params([sample]))
        two = self._url_length(self._order_params([sample, sample]))
        room = (_defaults.MAX_URL_LENGTH - one) // max(two - one, 1)
        return max(1, room)  # room boundaries make room + 1 ranges; keep a margin of one

    def _user_text(self) -> str | None:
        return self.filter if isinstance(self.filter, str) else None

    def resume_filter(self) -> str | None:
        """The ``$filter`` that reads only the rows after the last one handed on.

        Examples
        --------
        >>> pull.resume_filter()  # doctest: +SKIP
        "msdynci_customerid gt 'ab12...'"
        """
        if self.last_emitted_key is None:
            return self._user_text()
        return range_filter(
            self._user_text(), self.key, after=self.last_emitted_key, guid=self.guid_key
        )

    # -- hooks of the v1 scheduler ----------------------------------------------------------------

    def _accumulator(self) -> ColumnAccumulator:
        return ServerOrderAccumulator(
            key=self.key, types=self.types, columns=self.columns, extra=self.extra
        )

    def _first_task(self, state: _State) -> _Task:
        partition = state.partition
        params = dict(self.params)
        text = range_filter(
            self._user_text(), self.key, low=partition.low, high=partition.high,
            after=state.last_key, guid=self.guid_key,
        )  # fmt: skip
        if text:
            params["$filter"] = text
        return _Task(partition.index, self.path, params)

    def _route(
        self, task: _Task, future: Future[Outcome], states: list[_State], pending: list[_Task]
    ) -> tuple[_State, Outcome] | None:
        routed = super()._route(task, future, states, pending)
        if routed is not None and routed[1].next_link:
            out = routed[1]
            link = str(out.next_link)
            if link in self._links:  # the Microsoft SDK's guard against a repeating link
                logger.warning("%s: the service repeated a nextLink; ending that range", self.path)
                pending[:] = [
                    t for t in pending
                    if not (t.partition == task.partition and t.params is None and t.url == link)
                ]  # fmt: skip
                out.next_link = None
            else:
                self._links.add(link)
        return routed

    def _submit(self, pool: ThreadPoolExecutor, task: _Task) -> Future[Outcome]:
        self.stats.requests += 1
        return pool.submit(
            _fetch_preferring, self.prefer_header, self.session, task.url, task.params,
            self.key, self.policy,
        )  # fmt: skip
