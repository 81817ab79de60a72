"""``CustomerInsights``: the object a notebook works with, one method per read or action.

It composes one mixin per resource (:mod:`ci_toolkit.resources`); each resource module's
docstring names the API operation behind every method. Importing this module stays light:
pandas and tqdm load on the first call that needs them.

Example
-------
>>> import ci_toolkit
>>> ci = ci_toolkit.connect()  # doctest: +SKIP
>>> ci.segments()[["friendlyName", "state", "size"]]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING

from ci_toolkit.dataverse.paths import SourceMixin
from ci_toolkit.exceptions import JobTimeoutError
from ci_toolkit.resources.customers import Customer360, CustomersMixin
from ci_toolkit.resources.data import DataMixin
from ci_toolkit.resources.entities import EntitiesMixin
from ci_toolkit.resources.export_preview import ExportPreviewMixin
from ci_toolkit.resources.exports import ExportsMixin
from ci_toolkit.resources.instances import InstancesMixin
from ci_toolkit.resources.jobs import JobHandle, JobsMixin
from ci_toolkit.resources.measures import MeasuresMixin
from ci_toolkit.resources.rbac import RbacMixin
from ci_toolkit.resources.segments import SegmentsMixin, segment_definition

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dask.dataframe as dd

    from ci_toolkit.dataverse import Dataverse
    from ci_toolkit.http.session import ApiSession
    from ci_toolkit.odata import Filter
    from ci_toolkit.scale.worker import WorkerConnection

__all__ = ["Customer360", "CustomerInsights", "JobHandle", "JobTimeoutError"]

logger = logging.getLogger(__name__)


class CustomerInsights(
    ExportPreviewMixin,  # resources/export_preview.py: export_preview (what an export sends)
    InstancesMixin,  # resources/instances.py: instances, use_instance
    CustomersMixin,  # resources/customers.py: customer, Customer360
    SegmentsMixin,  # resources/segments.py: segments, members, create/update/delete
    DataMixin,  # resources/data.py: query, iter_pages, iter_batches, to_parquet
    EntitiesMixin,  # resources/entities.py: entities, attributes, profiles
    MeasuresMixin,  # resources/measures.py: measures
    ExportsMixin,  # resources/exports.py: exports and export runs
    JobsMixin,  # resources/jobs.py: refresh jobs, schedules, JobHandle
    RbacMixin,  # resources/rbac.py: role assignments
    SourceMixin,  # dataverse/paths.py: sources, source, dataverse (the Dataverse path)
):
    """A connection to one Customer Insights instance; every read returns pandas objects.

    Parameters
    ----------
    session : ApiSession
        The HTTP session (base URL, credentials, retries); ``ci_toolkit.connect()``
        builds it.
    instance_id : str or None
        The instance to work on; ``None`` picks the first instance the identity can see
        (on first use). Change it later with :meth:`use_instance` or ``ci.instance_id = ...``.
    dataverse : Dataverse or None
        The Dataverse path (``ci.dataverse``), when configured.
    source : {"v1", "dataverse"} or None
        The default read path (``ci.source``); v1 when it is configured, else Dataverse.
    has_v1 : bool
        False when ``session`` is a stand-in for a v1 API that is not configured.

    Examples
    --------
    >>> ci = CustomerInsights(session)  # doctest: +SKIP
    >>> ci.query("Customer", top=5)  # doctest: +SKIP
    """

    #: Build a rule-based ``SegmentMetadata`` for :meth:`create_segment` (no request).
    segment_definition = staticmethod(segment_definition)

    def __init__(
        self,
        session: ApiSession,
        *,
        instance_id: str | None = None,
        dataverse: Dataverse | None = None,
        source: str | None = None,
        has_v1: bool = True,
    ) -> None:
        self._init_base(session, instance_id)
        self._init_paths(dataverse, source, has_v1)

    @property
    def session(self) -> ApiSession:
        """The underlying HTTP session."""
        return self._session

    def clear_cache(self) -> None:
        """Forget cached entity metadata (after a schema change).

        Examples
        --------
        >>> ci.clear_cache()  # doctest: +SKIP
        """
        self._entity_cache.clear()

    def to_dask(
        self,
        entity: str,
        *,
        filter: Filter | str | None = None,
        select: str | Sequence[str] | None = None,
        partition_rows: int = 50_000,
        index: bool = False,
        connection: WorkerConnection | None = None,
    ) -> dd.DataFrame:
        """An entity as a lazy Dask DataFrame whose partitions are key ranges.

        The rows are counted and cut into key ranges of about ``partition_rows`` rows (the
        bulk planner's); each Dask partition pulls one range with ``ci.query`` on whichever
        worker runs it, so a ``dask.distributed`` cluster reads them in parallel, exactly
        once and in key order. Workers sign in from their own settings: no token, client
        secret or subscription key is put in the task graph (see
        :class:`ci_toolkit.scale.WorkerConnection`). Needs ``pip install 'ci-toolkit[dask]'``.

        Parameters
        ----------
        entity : str
            An entity with a key (``Customer``, ``UnifiedActivity``, segments...).
        filter, select
            As for :meth:`query`.
        partition_rows : int
            Rows per partition (key range).
        index : bool
            Make the key the index, with known divisions (the boundary keys).
        connection : WorkerConnection, optional
            Where workers sign in; default: this client's settings (without secrets).

        Returns
        -------
        dask.dataframe.DataFrame
            The same columns and dtypes as ``ci.query(entity, filter=..., select=...)``.

        Examples
        --------
        >>> ddf = ci.to_dask("Customer", select=["CustomerId", "Country"])  # doctest: +SKIP
        >>> ddf.Country.value_counts().compute()  # doctest: +SKIP
        """
        from ci_toolkit.scale.dask import entity_to_dask

        return entity_to_dask(
            self,
            entity,
            filter=filter,
            select=select,
            partition_rows=partition_rows,
            index=index,
            connection=connection,
        )

    def sign_out(self) -> None:
        """Forget the signed-in account and delete its token cache file.

        The next request signs in again.

        Examples
        --------
        >>> ci.sign_out()  # doctest: +SKIP
        """
        self._session.sign_out()

    def close(self) -> None:
        """Close the HTTP session.

        Examples
        --------
        >>> ci.close()  # doctest: +SKIP
        """
        self._session.close()
        self._close_paths()

    def __enter__(self) -> CustomerInsights:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        instance = self._instance_id or "(first instance, chosen on first use)"
        if self._dataverse is None:
            return (
                f"CustomerInsights(base_url={self._session.base_url!r}, instance_id={instance!r})"
            )
        v1 = f"base_url={self._session.base_url!r}, instance_id={instance!r}, "
        if not self._has_v1:
            v1 = ""
        return (
            f"CustomerInsights({v1}dataverse_url={self._dataverse.url!r}, source={self._source!r})"
        )
