"""Bulk reads: parallel, exactly-once pulls of large entities with bounded memory.

The resource layer (:meth:`CustomerInsights.query`, ``iter_batches``, ``to_parquet``)
drives these modules; each holds one piece:

- :mod:`~ci_toolkit.bulk.planner`: rows -> key ranges (partitions) and their ``$filter``;
- :mod:`~ci_toolkit.bulk.controller`: the adaptive (AIMD) limit of requests in flight;
- :mod:`~ci_toolkit.bulk.fetch`: one page request in a worker thread, converted on arrival;
- :mod:`~ci_toolkit.bulk.accumulator`: a partition's typed pages, de-duplicated, in key order;
- :mod:`~ci_toolkit.bulk.runner`: the scheduler tying them together (:class:`BulkPull`);
- :mod:`~ci_toolkit.bulk.rebatch`: frames cut into pieces of a fixed number of rows;
- :mod:`~ci_toolkit.bulk.parquet`: frames -> one Parquet file in row groups.

Example
-------
>>> from ci_toolkit.bulk import AimdController
>>> AimdController(ceiling=10).limit
2
"""

from __future__ import annotations

from ci_toolkit.bulk.controller import AimdController
from ci_toolkit.bulk.planner import Partition, plan_offsets
from ci_toolkit.bulk.runner import BulkPull, BulkStats, IncompletePullWarning

__all__ = [
    "AimdController",
    "BulkPull",
    "BulkStats",
    "IncompletePullWarning",
    "Partition",
    "plan_offsets",
]
