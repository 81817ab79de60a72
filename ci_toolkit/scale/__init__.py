"""Scaling a pull out to Dask: ``ci.to_dask`` and what its workers run.

Needs the ``dask`` extra: ``pip install 'ci-toolkit[dask]'``.

Example
-------
>>> from ci_toolkit.scale import WorkerConnection
>>> WorkerConnection(base_url="https://x/v1", authority="https://a/t", client_id="c",
...                  instance_id=None).client_id
'c'
"""

from __future__ import annotations

from ci_toolkit.scale.worker import WorkerConnection, WorkerSignInError

__all__ = ["WorkerConnection", "WorkerSignInError"]
