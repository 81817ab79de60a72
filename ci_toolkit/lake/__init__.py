"""Read Customer Insights data-out exports (CDM folders) with pandas or Dask.

An export to Azure Blob Storage / ADLS Gen2 writes ``model.json`` plus CSV partitions under
``<container>/CustomerInsights_<instance id>/<export folder>/``. :func:`open_export` opens
that folder by local path or fsspec URL; the folder lists its tables, partitions, snapshots
and refresh times and reads a table with the names, dtypes and CSV dialect ``model.json``
gives (the dtypes ``ci.query`` gives for the same attributes).

Needs the ``lake`` extra (fsspec, adlfs): ``pip install 'ci-toolkit[lake]'``; Dask reads
need the ``dask`` extra.

Example
-------
>>> from ci_toolkit.lake import open_export
>>> lake = open_export("/path/to/exports/customerinsights")  # doctest: +SKIP
>>> lake.read("Customer").dtypes  # doctest: +SKIP
"""

from __future__ import annotations

from ci_toolkit.lake.errors import LakeError, MissingDependencyError
from ci_toolkit.lake.folder import ExportFolder, PartitionFile, open_export

__all__ = ["ExportFolder", "LakeError", "MissingDependencyError", "PartitionFile", "open_export"]
