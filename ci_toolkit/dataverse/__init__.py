"""The Dataverse read path: Customer Insights tables through the Dataverse Web API.

``ci_toolkit.connect(dataverse_url=...)`` (or ``CI_DATAVERSE_URL``) opens it next to, or
instead of, the v1 API, on the same sign-in. ``ci.dataverse`` is a :class:`Dataverse`;
``ci.customer(..., source="dataverse")`` and ``ci.segment_members(..., source="dataverse")``
read the same frames as on v1 through it.

Example
-------
>>> import ci_toolkit
>>> ci = ci_toolkit.connect()  # doctest: +SKIP
>>> ci.dataverse.tables()  # doctest: +SKIP
"""

from __future__ import annotations

from ci_toolkit.dataverse.client import ATTRIBUTE_KINDS, READ_ROLES, Dataverse, Names
from ci_toolkit.dataverse.filters import dataverse_filter
from ci_toolkit.dataverse.paths import Source, SourceMixin
from ci_toolkit.dataverse.tables import TABLES, V1_NAMES, TableInfo, v1_name

__all__ = [
    "ATTRIBUTE_KINDS",
    "READ_ROLES",
    "TABLES",
    "V1_NAMES",
    "Dataverse",
    "Names",
    "Source",
    "SourceMixin",
    "TableInfo",
    "dataverse_filter",
    "v1_name",
]
