"""The scheduler of a bulk pull: plan key ranges, fetch pages concurrently, emit in key order.

Threads, not asyncio: a ``ThreadPoolExecutor`` sends page requests through the connection's
:class:`~ci_toolkit.http.session.ApiSession` (one attempt each: its origin check, credentials
and logging) while the calling thread schedules, so a pull works the same in a script and in
a Jupyter cell whose event loop is already running. Retries follow the session's
:class:`~ci_toolkit.http.retry.RetryPolicy`, the same policy as every other request.

How a pull runs
---------------
1. The first page of the query in key order, with ``$count`` (one request): the rows
   to pull are known, and the first of them are already read. When the rest fits in one
   partition (``partition_rows``), each of its pages is read by row offset
   (``$orderby=<key>&$skip=<offset>&$top=100``), all at once: no further planning round
   trip. Otherwise ranges of about ``partition_rows`` rows are planned
   (:mod:`ci_toolkit.bulk.planner`), the key at each boundary is looked up with
   ``$orderby=<key>&$skip=<offset>&$top=1``, and, in the same round, one request checks
   that the service filters on the key; where it does not (ingested source tables), the
   ranges are read by row offset instead (``$skip``/``$top``, following the nextLinks).
2. Each key range is read with its key-range ``$filter``, following ``@odata.nextLink``;
   at most one request per partition is in flight and earlier partitions go first, so
   finished partitions can be handed on in order while later ones are still arriving.
3. The number of requests in flight follows :class:`~ci_toolkit.bulk.controller.AimdController`
   (growing while healthy, halving on 429/503/drops). A 429's ``Retry-After`` pauses every
   request (the rate limit is the subscription key's, shared by all of them); a 502, 503 or
   504 halves the limit and delays only its own request by its ``Retry-After``, while the
   requests the service does answer go on. A ``Retry-After`` longer than the policy's
   ``max_retry_after`` is not waited for: the pull stops with the ``ThrottledError``, as a
   single request does. A request throttled ``max_throttled_attempts`` times gives up.
4. A page request the service does not answer (connection refused or dropped, timeout) is
   sent again with the policy's backoff (:meth:`~ci_toolkit.http.RetryPolicy.backoff`) up to
   its ``max_attempts``; then the pull stops with a
   :class:`~ci_toolkit.exceptions.ServiceUnreachableError` instead of waiting on a service
   that is gone. ``emitted_rows`` and ``last_emitted_key`` say where it stopped: every row up
   to that key was handed on, in key order, so a new pull after that key reads the rest.
5. Exactly once: a failed request is sent again from where its partition stopped (the same
   nextLink, or the last key seen when a link no longer works), never from the start; a
   partition that comes back with fewer or more rows than planned is fetched again; rows
   are de-duplicated by key; the total is checked against ``$count``
   (:class:`IncompletePullWarning` when the data changed during the pull).

Example
-------
>>> pull = BulkPull(session, "instances/i/data/Customer", key="Id",
...                 columns=["Id", "Name"], types={"Id": "String"})  # doctest: +SKIP
>>> for frame in pull.frames():  # doctest: +SKIP
...     print(len(frame))
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ci_toolkit import _defaults
from ci_toolkit.bulk.accumulator import ColumnAccumulator, TypedRows, join_typed, typed_frame
from ci_toolkit.bulk.controller import AimdController
from ci_toolkit.bulk.fetch import Outcome, fetch_page
from ci_toolkit.bulk.planner import (
    Partition,
    offset_partitions,
    partition_filter,
    partitions_from,
    plan_offsets,
    resume_filter,
)
from ci_toolkit.exceptions import QueryError, ServiceUnreachableError, unreachable_hint

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.http.session import ApiSession

__all__ = ["BulkPull", "BulkStats", "IncompletePullWarning"]

logger = logging.getLogger(__name__)


#: A rest of at most this many rounds of page requests (and one partition's rows) is read by
#: row offset: key ranges would first cost two rounds of boundary probes.
_OFFSET_ROUNDS = 5


class IncompletePullWarning(UserWarning):
    """The pulled rows do not match ``$count`` (the data changed while it was read)."""


@dataclass
class BulkStats:
    """What a pull did: requests, retries, re-fetches, concurrency.

    Examples
    --------
    >>> BulkStats().requests
    0
    """

    requests: int = 0
    throttled: int = 0
    transport_errors: int = 0
    refetched_partitions: int = 0
    resumed_from_key: int = 0
    duplicates_dropped: int = 0
    partitions: int = 0
    total: int | None = None
    rows: int = 0
    peak_concurrency: int = 0
    seconds: float = 0.0


@dataclass
class _Task:
    partition: int
    url: str
    params: dict[str, Any] | None
    attempt: int = 0
    transport_failures: int = 0
    ready_at: float = 0.0


@dataclass
class _State:
    partition: Partition
    acc: ColumnAccumulator
    last_key: Any = None
    refetches: int = 0
    done: bool = False
    frame: Any = None
    link_failures: int = 0


class BulkPull:
    """One parallel, exactly-once read of an entity.

    Parameters
    ----------
    session : ApiSession
        The connection's session: every request goes through it (origin check,
        credentials, TLS, connection pool), with its retry policy.
    path : str
        ``instances/{id}/data/{entity}``.
    key : str
        The entity's key attribute (must be in the rows).
    columns : Sequence[str]
        The expected columns (the key among them).
    types : Mapping[str, str]
        Attribute name -> ``dataType`` from the entity metadata (column dtypes).
    extra : bool
        Keep properties the rows carry beyond ``columns`` (not after a ``$select``).
    params : Mapping[str, Any]
        Further query options sent with every request (``$select``, ``$search``,
        ``$expand``); not ``$filter``, ``$skip``, ``$top``, ``$orderby``, ``$count``.
    filter : str or None
        The user's ``$filter``.
    skip, top : int or None
        Pull the rows from offset ``skip``, at most ``top`` of them.
    max_concurrency : int
        Ceiling of requests in flight.
    partition_rows : int
        Target rows per key range.
    on_rows : Callable[[int], None] or None
        Called in the calling thread with the rows of every page (progress).

    Attributes
    ----------
    emitted_rows : int
        Rows handed on by :meth:`frames` so far (complete key ranges, in key order).
    last_emitted_key : Any
        The key of the last row handed on (``None`` before the first); a pull interrupted
        by an unreachable service is resumed after it.
    key_filters : bool
        ``False`` once the service refused a ``$filter`` on the key (ingested source
        tables): the pull is read by row offset, and resumed by offset.
    pages_read : int
        Pages (successful responses) read so far.

    Examples
    --------
    >>> pull = BulkPull(session, path, key="Id", columns=["Id"], types={})  # doctest: +SKIP
    >>> total = pull.plan()  # doctest: +SKIP
    """

    #: Fetch a partition again when its rows differ from the planned count (a subclass whose
    #: partitions have no planned count, like the Dataverse pull, turns this off).
    check_partition_rows: bool = True

    def __init__(
        self,
        session: ApiSession,
        path: str,
        *,
        key: str,
        columns: Sequence[str],
        types: Mapping[str, str],
        extra: bool = True,
        params: Mapping[str, Any] | None = None,
        filter: str | None = None,
        skip: int | None = None,
        top: int | None = None,
        max_concurrency: int = _defaults.BULK_MAX_CONCURRENCY,
        partition_rows: int = _defaults.BULK_PARTITION_ROWS,
        on_rows: Callable[[int], None] | None = None,
    ) -> None:
        self.session = session
        self.policy = session.retry_policy
        self.secrets = session.secrets
        self.sleep = self.policy.sleep
        self.path = path
        self.key = key
        self.columns = list(columns)
        self.types = dict(types)
        self.extra = extra
        self.params = dict(params or {})
        self.filter = filter
        self.skip = skip or 0
        self.top = top
        # Start at the ceiling: a slow start from fewer would cost a pull of a few pages a
        # round trip or two; a throttled service still halves the limit at once.
        self.controller = AimdController(ceiling=max_concurrency, initial=max_concurrency)
        self.partition_rows = partition_rows
        self.on_rows = on_rows
        self.stats = BulkStats()
        self.emitted_rows = 0
        self.last_emitted_key: Any = None
        self.pages_read = 0
        self.total: int | None = None
        self.context: str | None = None
        self.rows_to_pull: int | None = None
        self.key_filters = True
        self._partitions: list[Partition] | None = None
        self._head: list[dict[str, Any]] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def empty(self) -> pd.DataFrame:
        """The typed, empty frame of this pull (its columns and dtypes)."""
        return typed_frame({name: [] for name in self.columns}, self.types)

    def _accumulator(self) -> ColumnAccumulator:
        return ColumnAccumulator(
            key=self.key, types=self.types, columns=self.columns, extra=self.extra
        )

    # -- one request with retries (planning) ----------------------------------------------------

    def _get(self, url: str, params: Mapping[str, Any] | None) -> Outcome:
        throttled = failures = 0
        while True:
            pause = self.controller.pause_remaining()
            if pause > 0:
                self.sleep(pause)
            self.stats.requests += 1
            out = fetch_page(self.session, url, params, key=self.key, policy=self.policy)
            if out.ok:
                self.controller.on_success(out.latency)
                self.pages_read += 1
                return out
            self._record_failure(out)
            if out.transport_error is not None:
                failures += 1
                self._give_up_if_unreachable(failures, out.transport_error)
                self.sleep(self.policy.backoff(failures))
            else:
                throttled += 1
                if throttled >= self.policy.max_throttled_attempts:
                    raise self._throttled_out()
                self.sleep(_own_wait(out))

    def _give_up_if_unreachable(self, failures: int, error: BaseException) -> None:
        if failures < self.policy.max_attempts:
            return
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        unreachable = ServiceUnreachableError(
            f"GET {self.path}: no answer after {failures} attempts "
            f"({reason}).{unreachable_hint(error)}",
            secrets=self.secrets,
        )
        unreachable.__context__ = error  # kept for debugging, not shown first
        raise unreachable from None

    def _throttled_out(self) -> ServiceUnreachableError:
        return ServiceUnreachableError(
            f"GET {self.path}: still throttled after {self.policy.max_throttled_attempts} attempts",
            secrets=self.secrets,
        )

    def _record_failure(self, out: Outcome) -> None:
        if out.transport_error is not None:
            self.stats.transport_errors += 1
            self.controller.on_error()
        elif out.status in (None, 429):
            self.stats.throttled += 1
            self.controller.on_throttle(out.retry_after)
        else:  # 502/503/504: this request waits its Retry-After, the others go on
            self.stats.throttled += 1
            self.controller.on_error()

    # -- planning -------------------------------------------------------------------------------

    def plan(self) -> int:
        """Count the rows, read the first page and plan the rest; the number of rows to pull.

        Raises
        ------
        ci_toolkit.exceptions.QueryError
            When the service refuses the query in key order (pull sequentially instead).
        """
        first_params = {**self.params, "$count": "true", "$orderby": self.key}
        if self.filter:
            first_params["$filter"] = self.filter
        if self.skip:
            first_params["$skip"] = self.skip
        head = self._get(self.path, first_params)
        if head.count is None:
            raise QueryError(f"{self.path}: the service did not return @odata.count")
        self.total = head.count
        self.context = head.context
        rows = max(head.count - self.skip, 0)
        if self.top is not None:
            rows = min(rows, self.top)
        self.rows_to_pull = rows
        self.stats.total = rows
        first = head.value[:rows]
        self._head = first
        start, rest = self.skip + len(first), rows - len(first)
        ceiling = self.controller.ceiling
        if rows == 0:
            self._partitions = []
        elif rest <= self.partition_rows and rest <= _OFFSET_ROUNDS * ceiling * _defaults.PAGE_SIZE:
            # One partition's worth, a few rounds of requests: every page by offset, as
            # many at once as allowed, with no round trip for boundaries (which would cost
            # two rounds: half of this pull's time or more).
            pages = plan_offsets(rows=rest, partition_rows=_defaults.PAGE_SIZE,
                                 min_partitions=1, start=start)  # fmt: skip
            self._partitions = [
                self._head_partition(len(first)),
                *offset_partitions(pages, first_index=1),
            ]
        else:
            self._partitions = self._key_ranges(rows, len(first), start, rest)
        self.stats.partitions = len(self._partitions)
        logger.debug("%s: %d rows in %d partitions", self.path, rows, len(self._partitions))
        return rows

    def _head_partition(self, rows: int) -> Partition:
        """Partition 0 of an offset plan: the first page, already read."""
        return Partition(0, None, None, rows, offset=self.skip)

    def _key_ranges(self, rows: int, first: int, start: int, rest: int) -> list[Partition]:
        """Key ranges over the rows (partition 0 holds the first page already read), or
        offset ranges when the service cannot filter on the key."""
        minimum = 2 * self.controller.ceiling
        ranges = plan_offsets(rows=rows, partition_rows=self.partition_rows,
                              min_partitions=minimum, start=self.skip)  # fmt: skip
        offsets = sorted(
            {r.start for r in ranges[1:]}
            | ({self.skip} if self.skip and ranges else set())
            | ({self.skip + rows} if ranges and self.total and self.skip + rows < self.total
               else set())
        )  # fmt: skip
        try:
            boundaries = self._boundaries(offsets)
        except QueryError as exc:
            logger.debug("%s: no $filter on %s (%s); reading by row offset", self.path,
                         self.key, exc)  # fmt: skip
            self.key_filters = False
            pages = plan_offsets(rows=rest, partition_rows=self.partition_rows,
                                 min_partitions=minimum, start=start)  # fmt: skip
            return [self._head_partition(first), *offset_partitions(pages, first_index=1)]
        return partitions_from(ranges, boundaries)

    def _boundaries(self, offsets: list[int]) -> dict[int, Any]:
        """The key at each offset; with them, in the same round, a check that the service
        filters on the key (``QueryError`` when it does not)."""
        base = {**_no_expand(self.params), "$select": self.key, "$orderby": self.key, "$top": 1}
        if self.filter:
            base["$filter"] = self.filter
        check = f"{self.key} ne null"
        check_params = {
            **_no_expand(self.params), "$select": self.key, "$top": 0,
            "$filter": f"({self.filter}) and {check}" if self.filter else check,
        }  # fmt: skip

        def probe(offset: int | None) -> tuple[int | None, Any]:
            if offset is None:
                self._get(self.path, check_params)
                return None, None
            out = self._get(self.path, {**base, "$skip": offset})
            return offset, (out.value[0].get(self.key) if out.value else None)

        workers = max(1, min(self.controller.ceiling, len(offsets) + 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="ci-bulk-plan") as pool:
            found = dict(pool.map(probe, [None, *offsets]))
        return {offset: value for offset, value in found.items()
                if offset is not None and value is not None}  # fmt: skip

    # -- fetching -------------------------------------------------------------------------------

    def _first_task(self, state: _State) -> _Task:
        params = dict(self.params)
        part = state.partition
        if part.offset is not None:
            params.update({"$orderby": self.key, "$skip": part.offset, "$top": part.expected})
            if self.filter:
                params["$filter"] = self.filter
            return _Task(part.index, self.path, params)
        text = (
            partition_filter(self.filter, self.key, state.partition)
            if state.last_key is None
            else resume_filter(self.filter, self.key, state.partition, after=state.last_key)
        )
        if text:
            params["$filter"] = text
        return _Task(state.partition.index, self.path, params)

    def frames(self) -> Iterator[pd.DataFrame]:
        """The pulled rows, in key order (plans first if needed).

        Yields
        ------
        pandas.DataFrame
            A partition's typed rows, de-duplicated and ordered by key; consecutive small
            partitions finished together come joined in one frame (``BULK_JOIN_ROWS``).
        """
        started = time.perf_counter()
        if self._partitions is None:
            self.plan()
        assert self._partitions is not None
        states = [_State(p, self._accumulator()) for p in self._partitions]
        head, self._head = self._head, None
        first: Outcome | None = None
        pending: list[_Task] = []
        for state in states:
            if state.partition.index == 0 and head is not None:
                # Partition 0 begins with the rows of the planning request's page.
                last = head[-1].get(self.key) if head else None
                complete = len(head) >= state.partition.expected
                first = Outcome(head, next_link=None if complete else "(head)", last_key=last)
                state.last_key = last
                if not complete:
                    pending.append(self._first_task(state))
            else:
                pending.append(self._first_task(state))
        running: dict[Future[Outcome], _Task] = {}
        emitted = 0
        pool = ThreadPoolExecutor(self.controller.ceiling, thread_name_prefix="ci-bulk")
        self._pool = pool
        try:
            if first is not None:  # the requests first, then the rows already here
                self._start_ready(pool, pending, running, time.monotonic())
                self._absorb(states[0], first, pending)
            while emitted < len(states):
                now = time.monotonic()
                paused = self._start_ready(pool, pending, running, now)
                timeout = _next_wakeup(pending, now, paused)
                done: set[Future[Outcome]] = set()
                if running:
                    done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
                elif pending:  # waiting out a Retry-After or a backoff
                    self.sleep(timeout if timeout is not None else 0.01)
                # (nothing running or pending: the partitions left are done, to be handed on)
                # Route the answers first (each next page joins `pending`) and start those
                # requests before converting rows: typing a chunk takes milliseconds, and the
                # requests in flight would drop below the limit meanwhile.
                pages = [
                    page
                    for future in done
                    if (page := self._route(running.pop(future), future, states, pending))
                ]
                if pages:
                    self._start_ready(pool, pending, running, time.monotonic())
                for state, out in pages:
                    self._absorb(state, out, pending)
                while emitted < len(states) and states[emitted].done:
                    emitted, frame = self._take_done(states, emitted)
                    self.emitted_rows += len(frame)
                    if len(frame):
                        self.last_emitted_key = frame[self.key].iloc[-1]
                    yield frame
                if emitted < len(states) and not running and not pending:  # a bug: never spin
                    raise RuntimeError(f"{self.path}: partition {emitted} has no request left")
        finally:
            for future in running:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self.stats.seconds = time.perf_counter() - started
        self._check_total()

    def _start_ready(
        self,
        pool: ThreadPoolExecutor,
        pending: list[_Task],
        running: dict[Future[Outcome], _Task],
        now: float,
    ) -> float:
        """Start pending requests that are due, up to the limit; the pause left (seconds)."""
        paused = self.controller.pause_remaining()
        if paused > 0:
            return paused
        limit = self.controller.limit
        pending.sort(key=lambda t: t.partition)
        for task in list(pending):
            if len(running) >= limit:
                break
            if task.ready_at > now:
                continue
            pending.remove(task)
            running[self._submit(pool, task)] = task
        self.stats.peak_concurrency = max(self.stats.peak_concurrency, len(running))
        return paused

    def _submit(self, pool: ThreadPoolExecutor, task: _Task) -> Future[Outcome]:
        self.stats.requests += 1
        return pool.submit(
            fetch_page, self.session, task.url, task.params, key=self.key, policy=self.policy
        )

    def _route(
        self, task: _Task, future: Future[Outcome], states: list[_State], pending: list[_Task]
    ) -> tuple[_State, Outcome] | None:
        """Schedule what follows an answer: a retry, or the partition's next page.

        Returns the partition and the page when rows are to be absorbed, else ``None``.
        """
        state = states[task.partition]
        try:
            out = future.result()
        except QueryError:
            # A nextLink the service no longer accepts: continue after the last key instead.
            if task.params is not None or state.link_failures >= _defaults.BULK_MAX_LINK_RESUMES:
                raise
            state.link_failures += 1
            self.stats.resumed_from_key += 1
            if state.partition.offset is not None:  # no key filter: read the range again
                self._restart(state)
            logger.info("partition %d: resuming after key %r", task.partition, state.last_key)
            pending.append(self._first_task(state))
            return None
        if not out.ok:
            self._record_failure(out)
            if out.transport_error is not None:
                task.transport_failures += 1
                self._give_up_if_unreachable(task.transport_failures, out.transport_error)
                task.ready_at = time.monotonic() + self.policy.backoff(task.transport_failures)
            else:
                task.attempt += 1
                if task.attempt >= self.policy.max_throttled_attempts:
                    raise self._throttled_out()
                task.ready_at = time.monotonic() + _own_wait(out)
            pending.append(task)
            return None
        self.controller.on_success(out.latency)
        self.pages_read += 1
        if out.next_link:
            pending.append(_Task(task.partition, out.next_link, None))
        return state, out

    def _absorb(self, state: _State, out: Outcome, pending: list[_Task]) -> None:
        """Add a page's rows to its partition; after the last page, check and finish it."""
        if out.rows:
            state.acc.add(out.value)
            state.last_key = out.last_key
            self.stats.rows += out.rows
            if self.on_rows is not None:
                self.on_rows(out.rows)
        if out.next_link:
            return
        # A small range read by row offset (a rest of up to 5,000 rows is one page per range,
        # all in flight at once) waits to join its neighbours; a key range, whose pages come
        # one after another, is made a DataFrame now, while the other ranges are in flight.
        if state.partition.offset is not None:
            frame = state.acc.finish_typed(_defaults.BULK_JOIN_PARTITION_ROWS)
        else:
            frame = state.acc.finish()
        dropped = state.acc.rows - len(frame)
        self.stats.duplicates_dropped += dropped
        expected = state.partition.expected
        refetch = self.check_partition_rows and len(frame) != expected
        if refetch and state.refetches < _defaults.BULK_MAX_REFETCHES:
            state.refetches += 1
            self.stats.refetched_partitions += 1
            logger.info(
                "partition %d: %d rows, %d planned; fetching it again",
                state.partition.index, len(frame), expected,
            )  # fmt: skip
            self._restart(state)
            pending.append(self._first_task(state))
            return
        state.frame = frame
        state.done = True
        if not isinstance(frame, TypedRows):
            _release_unused_memory()

    def _take_done(self, states: list[_State], first: int) -> tuple[int, pd.DataFrame]:
        """The next frame to hand on, and the index of the partition after it.

        A partition finished as a DataFrame goes alone. Small partitions whose rows are
        still Arrow-typed join the finished ones after them (up to ``BULK_JOIN_ROWS``
        rows) in one conversion: a pull of page-sized partitions spent more CPU making a
        DataFrame per page than typing the rows.
        """
        done = states[first].frame
        states[first].frame = None
        if not isinstance(done, TypedRows):
            return first + 1, done
        group, rows, after = [done], len(done), first + 1
        while after < len(states) and states[after].done:
            more = states[after].frame
            if not isinstance(more, TypedRows) or rows + len(more) > _defaults.BULK_JOIN_ROWS:
                break
            group.append(more)
            rows += len(more)
            states[after].frame = None
            after += 1
        frame = join_typed(group)
        _release_unused_memory()
        return after, frame

    def _restart(self, state: _State) -> None:
        """Forget what a partition read: it is read again from its start."""
        self.stats.rows -= state.acc.rows
        if self.on_rows is not None:
            self.on_rows(-state.acc.rows)
        state.acc = self._accumulator()
        state.last_key = None

    def _check_total(self) -> None:
        if self.rows_to_pull is None:
            return
        got = self.stats.rows - self.stats.duplicates_dropped
        if got != self.rows_to_pull:
            warnings.warn(
                f"{self.path}: {got:,} rows read, $count said {self.rows_to_pull:,} "
                "(the data changed during the pull)",
                IncompletePullWarning,
                stacklevel=3,
            )


def _release_unused_memory() -> None:
    """Hand the Arrow allocator's freed pages back to the system (mimalloc keeps them).

    Pages are converted in chunks whose temporary buffers mimalloc would otherwise keep
    for reuse; on a pull of a million rows that is the difference between a peak RSS of
    about 2.8x and about 2.2x the final DataFrame.
    """
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # pragma: no cover - older pyarrow
        pass


def _own_wait(out: Outcome) -> float:
    """The wait of the request that got ``out`` alone (a 429 pauses all of them instead)."""
    if out.status in (None, 429):
        return 0.0
    return out.retry_after or 0.0


def _no_expand(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in {"$expand", "$select"}}


def _next_wakeup(pending: list[_Task], now: float, paused: float) -> float | None:
    waits = [t.ready_at - now for t in pending if t.ready_at > now]
    if paused > 0:
        waits.append(paused)
    if not waits:
        return None if pending == [] else 0.05
    return max(0.001, min(waits))
