"""``ci.to_dask``: an entity as a lazy Dask DataFrame, one key range per partition.

The driver counts the matching rows and finds the key at each range boundary (the bulk
planner's :func:`~ci_toolkit.bulk.planner.plan_offsets` and
:func:`~ci_toolkit.bulk.planner.partitions_from`, through ``ci.query``); each partition is a
:class:`~ci_toolkit.scale.worker.RangeTask` that a worker pulls with its own client
(``ci.query`` with its paging, retries and typing). Ranges do not overlap and cover every
key, so each row is read exactly once, and partitions follow key order. With
``index=True`` the key becomes the index and the divisions are the boundary keys.

Example
-------
>>> ddf = ci.to_dask("Customer", select=["CustomerId", "Country"])  # doctest: +SKIP
>>> ddf.groupby("Country").size().compute()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from ci_toolkit.lake.errors import MissingDependencyError
from ci_toolkit.odata import Filter, render
from ci_toolkit.scale.worker import RangeTask, WorkerConnection, read_range

if TYPE_CHECKING:
    import dask.dataframe as dd

    from ci_toolkit.bulk.planner import Partition
    from ci_toolkit.client import CustomerInsights

__all__ = ["DEFAULT_PARTITION_ROWS", "entity_to_dask"]

logger = logging.getLogger(__name__)

#: Rows per Dask partition (one key range) unless ``partition_rows`` says otherwise.
DEFAULT_PARTITION_ROWS = 50_000


def _entity_key(ci: CustomerInsights, entity: str) -> str | None:
    """The entity's key attribute, from its metadata (the ``keys`` of ``IEntityMetadata``)."""
    meta = ci._entity_metadata(entity)
    for key in meta.get("keys") or []:
        for attr in key or []:
            if isinstance(attr, dict) and attr.get("name"):
                return str(attr["name"])
    return None


def _plan(
    ci: CustomerInsights, entity: str, key: str, filter_text: str | None, partition_rows: int
) -> list[Partition]:
    """Key ranges of about ``partition_rows`` rows (the one place that uses the planner)."""
    from ci_toolkit.bulk.planner import partitions_from, plan_offsets

    with warnings.catch_warnings():  # "stopped at top=1; more rows match": only the count
        warnings.simplefilter("ignore", UserWarning)
        head = ci.query(entity, filter=filter_text, select=[key], top=1, count=True, progress=False)
    rows = int((head.attrs.get("odata") or {}).get("count") or 0)
    ranges = plan_offsets(rows=rows, partition_rows=partition_rows, min_partitions=1)
    boundaries: dict[int, Any] = {}
    for r in ranges[1:]:
        found = ci.query(
            entity,
            filter=filter_text,
            select=[key],
            orderby=key,
            skip=r.start,
            top=1,
            progress=False,
        )
        if len(found):
            boundaries[r.start] = found[key].iloc[0]
    return partitions_from(ranges, boundaries)


def _edge(ci: CustomerInsights, entity: str, key: str, filter_text: str | None, desc: bool) -> Any:
    found = ci.query(
        entity,
        filter=filter_text,
        select=[key],
        orderby=f"{key} desc" if desc else key,
        top=1,
        progress=False,
    )
    return found[key].iloc[0] if len(found) else None


def entity_to_dask(
    ci: CustomerInsights,
    entity: str,
    *,
    filter: Filter | str | None = None,
    select: str | Sequence[str] | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    index: bool = False,
    connection: WorkerConnection | None = None,
) -> dd.DataFrame:
    """See :meth:`ci_toolkit.client.CustomerInsights.to_dask`."""
    try:
        import dask.dataframe as dask_dataframe
    except ImportError:
        raise MissingDependencyError.for_package(
            "dask", "dask", "build Dask DataFrames (ci.to_dask)"
        ) from None
    ddm: Any = dask_dataframe  # dask's own annotations are partial
    if (
        isinstance(partition_rows, bool)
        or not isinstance(partition_rows, int)
        or partition_rows < 1
    ):
        raise ValueError(f"partition_rows must be a positive int, got {partition_rows!r}")
    connection = connection or WorkerConnection.from_client(ci)
    key = _entity_key(ci, entity)
    if key is None:
        raise ValueError(
            f"{entity!r} has no key in its metadata, so it cannot be cut into key ranges: "
            "read it with ci.query(...) instead"
        )
    selected = [select] if isinstance(select, str) else list(select) if select else None
    filter_text = render(filter) or None
    sample = ci.query(entity, filter=filter_text, select=selected, top=1, progress=False)
    meta = sample.iloc[:0].reset_index(drop=True)
    meta.attrs = {}
    columns = list(meta.columns)
    drop_key = key not in columns
    asked = (*selected, key) if selected and drop_key else tuple(selected) if selected else None
    partitions = _plan(ci, entity, key, filter_text, partition_rows)
    if not partitions:
        empty: dd.DataFrame = ddm.from_pandas(meta, npartitions=1)
        return empty
    from ci_toolkit.bulk.planner import partition_filter

    # Each call is a pull of its own (the rows are the service's at that time): a fresh id
    # gives its tasks their own Dask keys, so a failed pull's keys, which Dask keeps while
    # its error is referenced (a notebook's last traceback holds it), never answer a new one.
    pull_id = uuid.uuid4().hex
    tasks = [
        RangeTask(
            pull_id=pull_id,
            connection=connection,
            entity=entity,
            filter=partition_filter(filter_text, key, p),
            select=asked,
            key=key,
            drop_key=drop_key and not index,
            expected=p.expected,
            index=p.index,
        )
        for p in partitions
    ]
    if index:
        if drop_key:
            raise ValueError(f"index=True needs the key {key!r} among the selected columns")
        low = _edge(ci, entity, key, filter_text, desc=False)
        high = _edge(ci, entity, key, filter_text, desc=True)
        divisions = (low, *(p.low for p in partitions[1:]), high)
        frame: dd.DataFrame = ddm.from_map(
            _indexed,
            tasks,
            meta=meta.set_index(key),
            divisions=divisions,
            label=f"ci-{entity}",
            enforce_metadata=False,
        )
        return frame
    frame = ddm.from_map(
        read_range,
        tasks,
        columns=columns,
        meta=meta,
        label=f"ci-{entity}",
        enforce_metadata=False,
    )
    logger.info("%s: %d Dask partitions (key ranges of %s)", entity, len(tasks), key)
    return frame


def _indexed(task: RangeTask) -> pd.DataFrame:
    return read_range(task).set_index(task.key)
