"""Export definitions of the demo instance and the files export tasks write.

The v1 API has no export-definition endpoints: an export is a node of the refresh graph
with ``operationType: export``. Its connection type is carried by the node's
``friendlyName``, always ``"<Connection type>: <Export name>"`` (e.g.
``"Braze: Gold members to Braze"``), where the connection type is one of
:data:`CONNECTION_TYPES`. Its schedule is an ``export`` schedule naming its identifier.

Each run writes the exported rows under ``<output_dir>/<identifier>/<timestamp>/``:
``<source>.parquet`` for Azure Data Lake, ``<source>.csv`` for the other connection types.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = [
    "CONNECTION_TYPES",
    "ExportDefinition",
    "ExportFailure",
    "demo_exports",
    "folder_name",
    "write_export",
]

logger = logging.getLogger(__name__)

#: Connection types the demo uses, as they appear before ``": "`` in friendly names.
CONNECTION_TYPES = (
    "Braze",
    "Azure Data Lake",
    "SFTP",
    "Google Ads",
    "Dynamics 365 Marketing",
)

FileFormat = Literal["csv", "parquet"]


class ExportFailure(Exception):
    """An export run that fails the way the product reports it (a ``CIResult``)."""

    def __init__(
        self, error_code: str, message: str, *, culprit: Literal["user", "external"] = "external"
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.culprit = culprit


@dataclass(frozen=True)
class ExportDefinition:
    """One configured export: a connection, what it sends, and how it behaves.

    Parameters
    ----------
    identifier
        The graph node's identifier (``braze-gold-members``).
    name
        Display name of the export.
    connection_type
        One of :data:`CONNECTION_TYPES`.
    source
        Segment name or entity name whose rows it sends.
    file_format
        ``parquet`` (Azure Data Lake) or ``csv``.
    detached
        Detached from its connection: stays configured, inactive schedule, runs are skipped.
    failure
        ``(errorCode, message)`` with which every run fails, e.g. an expired credential.
    """

    identifier: str
    name: str
    connection_type: str
    source: str
    file_format: FileFormat = "csv"
    detached: bool = False
    failure: tuple[str, str] | None = None

    @property
    def friendly_name(self) -> str:
        """``"<Connection type>: <Export name>"``, the graph node's friendlyName."""
        return f"{self.connection_type}: {self.name}"

    def check(self) -> None:
        """Raise :class:`ExportFailure` when the connection refuses the run."""
        if self.failure is not None:
            code, message = self.failure
            raise ExportFailure(code, message)

    def to_json(self) -> dict[str, Any]:
        """A plain dict (for logs and the README), not a contract shape."""
        return {
            "identifier": self.identifier,
            "name": self.name,
            "connectionType": self.connection_type,
            "source": self.source,
            "fileFormat": self.file_format,
            "detached": self.detached,
        }


def _pick(names: list[str], keywords: tuple[str, ...], used: set[str], fallback: str) -> str:
    """The first segment whose name contains a keyword, else the first unused one."""
    for keyword in keywords:
        for name in names:
            if keyword in name.lower() and name not in used:
                used.add(name)
                return name
    for name in names:
        if name not in used:
            used.add(name)
            return name
    return names[0] if names else fallback


def demo_exports(segment_names: list[str], entity_names: list[str]) -> list[ExportDefinition]:
    """The demo instance's exports, sending its segments (chosen by name) and tables.

    Parameters
    ----------
    segment_names
        Segments of the instance; each export picks one by keyword, or the next unused.
    entity_names
        Entities of the instance; the data lake export sends ``Customer`` if present.
    """
    used: set[str] = set()
    table = "Customer" if "Customer" in entity_names or not entity_names else entity_names[0]
    gold = _pick(segment_names, ("gold", "loyal", "vip", "platinum"), used, "Customer")
    service = _pick(segment_names, ("complain", "churn", "risk", "service"), used, "Customer")
    value = _pick(segment_names, ("value", "spend", "big"), used, "Customer")
    email = _pick(segment_names, ("email", "newsletter", "subscri", "new"), used, "Customer")
    winback = _pick(segment_names, ("lapsed", "dormant", "win", "inactive"), used, "Customer")
    return [
        ExportDefinition(
            identifier="braze-gold-members",
            name="Gold members to Braze",
            connection_type="Braze",
            source=gold,
        ),
        ExportDefinition(
            identifier="adls-customer-profiles",
            name="Unified profiles to the data lake",
            connection_type="Azure Data Lake",
            source=table,
            file_format="parquet",
        ),
        ExportDefinition(
            identifier="sftp-call-centre",
            name="Follow-up list for the call centre",
            connection_type="SFTP",
            source=service,
        ),
        ExportDefinition(
            identifier="googleads-high-value",
            name="High-value audience for Google Ads",
            connection_type="Google Ads",
            source=value,
            failure=(
                "ExportConnectionCredentialExpired",
                "Google Ads rejected the connection: the OAuth refresh token of connection "
                "'Google Ads (marketing@contoso.com)' has expired or was revoked. An admin must "
                "re-authenticate the connection.",
            ),
        ),
        ExportDefinition(
            identifier="d365mkt-newsletter",
            name="Newsletter audience to Dynamics 365 Marketing",
            connection_type="Dynamics 365 Marketing",
            source=email,
        ),
        ExportDefinition(
            identifier="braze-winback",
            name="Win-back campaign to Braze",
            connection_type="Braze",
            source=winback,
            detached=True,
        ),
    ]


def folder_name(moment: datetime) -> str:
    """The per-run folder name: ``20261123T192700.123456Z`` (sortable, unique per run)."""
    return moment.strftime("%Y%m%dT%H%M%S.%fZ")


def write_export(
    table: pa.Table,
    *,
    export: ExportDefinition,
    output_dir: Path,
    moment: datetime,
    cancelled: threading.Event | None = None,
) -> Path:
    """Write ``table`` for one run of ``export`` and return the file written.

    The file is written in a temporary folder that is renamed into place when complete, so
    readers never see half-written output, and dropped when ``cancelled`` is set meanwhile.

    Raises
    ------
    ExportFailure
        When the run was cancelled before the file was in place.
    """
    target = output_dir / export.identifier / folder_name(moment)
    staging = target.with_name(target.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / f"{export.source}.{export.file_format}"
    if export.file_format == "parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)
    if cancelled is not None and cancelled.is_set():
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportFailure("ExportCancelled", "The export run was cancelled.", culprit="user")
    staging.rename(target)
    logger.info("export %s wrote %d rows to %s", export.identifier, table.num_rows, target)
    return target / path.name
