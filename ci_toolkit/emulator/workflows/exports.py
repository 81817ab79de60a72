"""Export definitions of the demo instance and the files export tasks write.

The v1 API has no export-definition endpoints: an export is a node of the refresh graph
with ``operationType: export``. Its connection type is carried by the node's
``friendlyName``, always ``"<Connection type>: <Export name>"`` (e.g.
``"Braze: Gold members to Braze"``), where the connection type is one of
:data:`CONNECTION_TYPES`. Its schedule is an ``export`` schedule naming its identifier.

Each run of an Azure Data Lake (data-out) export writes a CDM folder into the lake container
(:mod:`ci_toolkit.emulator.workflows.lake_export`): ``model.json`` plus CSV partitions under
``CustomerInsights_<instanceId>/<folder>/<Table>/<YYYY>/<MM>/<DD>/<HHMM>/``. The other
connection types send rows to a service the emulator does not have; their runs write the
rows they would send under ``<output_dir>/<identifier>/<timestamp>/<source>.csv``, and a
Braze run also the ``POST /users/track`` bodies it would send (:data:`BRAZE_PAYLOAD`).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ci_toolkit.emulator.workflows.lake_export import (
    ExportTable,
    LakeTarget,
    cdm_data_type,
    write_cdm_export,
)

__all__ = [
    "BRAZE_BATCH",
    "BRAZE_PAYLOAD",
    "CONNECTION_TYPES",
    "ExportData",
    "ExportDefinition",
    "ExportFailure",
    "braze_attribute",
    "braze_requests",
    "demo_exports",
    "folder_name",
    "load_tables",
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

#: The file a Braze run writes next to its rows: the ``/users/track`` bodies it would send.
BRAZE_PAYLOAD = "braze-users-track.json"
#: User attribute objects per ``/users/track`` request (Braze's per-request limit).
BRAZE_BATCH = 75


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
    tables
        Data-out exports: the tables sent (``source`` first when empty).
    folder
        Data-out exports: the folder name entered for the export (the path's
        ``%ExportDestinationName%``).
    """

    identifier: str
    name: str
    connection_type: str
    source: str
    file_format: FileFormat = "csv"
    detached: bool = False
    failure: tuple[str, str] | None = None
    tables: tuple[str, ...] = ()
    folder: str = ""

    @property
    def sources(self) -> tuple[str, ...]:
        """Every table or segment a run sends (``source`` first)."""
        return (self.source, *(t for t in self.tables if t != self.source))

    @property
    def is_data_out(self) -> bool:
        """Writes a CDM folder (``model.json`` + CSV partitions) to a lake container."""
        return self.connection_type == "Azure Data Lake"

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
            "tables": list(self.sources),
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
            tables=tuple(t for t in ("Customer", "UnifiedActivity") if t in entity_names),
            folder="DataLakeExport",
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


class ExportData(Protocol):
    """What a run reads from the instance's DataStore (blocking)."""

    def export_table(self, source: str) -> pa.Table: ...


def load_tables(data: ExportData, export: ExportDefinition) -> list[ExportTable]:
    """The rows of every table ``export`` sends, with each column's CDM ``dataType``.

    The types are the entity metadata's (what ``GET /instances/{id}/manage/entities``
    reports) when the store has them, else derived from the Arrow types.
    """
    metadata = getattr(data, "entity_metadata", None)
    out = []
    for name in export.sources:
        rows = data.export_table(name)
        types = {f.name: cdm_data_type(f.type) for f in rows.schema}
        if callable(metadata):
            try:
                described = metadata(name)
            except Exception:  # a segment without metadata: keep the Arrow types
                described = {}
            for attribute in described.get("attributes") or []:
                if attribute.get("name") in types and attribute.get("dataType"):
                    types[attribute["name"]] = str(attribute["dataType"])
        out.append(ExportTable(name, rows, types))
    return out


def braze_attribute(segment: str) -> str:
    """The Braze custom attribute that carries membership of ``segment``.

    Not documented by CI: chosen as ``ci_segment_`` plus the segment name, a boolean.

    Examples
    --------
    >>> braze_attribute("GoldMembers")
    'ci_segment_GoldMembers'
    """
    return f"ci_segment_{segment}"


def braze_requests(table: pa.Table, segment: str) -> list[dict[str, Any]]:
    """The ``POST /users/track`` bodies a Braze export sends for the members in ``table``.

    Each member becomes ``{"external_id": CustomerId, "email": Email,
    "ci_segment_<segment>": true}`` (a missing email is left out), 75 per request.

    Examples
    --------
    >>> rows = pa.table({"CustomerId": ["c1"], "Email": ["a@x.com"]})
    >>> braze_requests(rows, "Gold")[0]["attributes"][0]["external_id"]
    'c1'
    """
    ids = table.column("CustomerId").to_pylist() if "CustomerId" in table.column_names else []
    emails = (
        table.column("Email").to_pylist() if "Email" in table.column_names else [None] * len(ids)
    )
    attribute = braze_attribute(segment)
    users = []
    for customer_id, email in zip(ids, emails, strict=True):
        user: dict[str, Any] = {"external_id": str(customer_id)}
        if email:
            user["email"] = str(email)
        user[attribute] = True
        users.append(user)
    return [
        {"attributes": users[start : start + BRAZE_BATCH]}
        for start in range(0, len(users), BRAZE_BATCH)
    ]


def write_export(
    tables: list[ExportTable],
    *,
    export: ExportDefinition,
    output_dir: Path,
    moment: datetime,
    cancelled: threading.Event | None = None,
    lake: LakeTarget | None = None,
    instance_id: str = "",
) -> Path | str:
    """Write one run of ``export`` and return what was written.

    Data-out exports write a CDM folder into ``lake`` (by default a ``customerinsights``
    folder under ``output_dir``) and return the path of its ``model.json`` relative to the
    container. The others write the rows of their first table to
    ``<output_dir>/<identifier>/<timestamp>/<source>.<ext>``, in a temporary folder that is
    renamed into place when complete, so readers never see half-written output.

    Raises
    ------
    ExportFailure
        When the run was cancelled before its output was in place.
    """
    if export.is_data_out:
        target = lake or LakeTarget.under(output_dir)
        try:
            return write_cdm_export(
                tables,
                target=target,
                instance_id=instance_id or output_dir.name,
                destination=export.folder or export.identifier,
                moment=moment,
                cancelled=cancelled,
            )
        except RuntimeError as error:
            if str(error) != "cancelled":
                raise
            raise ExportFailure(
                "ExportCancelled", "The export run was cancelled.", culprit="user"
            ) from None
    table = tables[0].rows
    target_dir = output_dir / export.identifier / folder_name(moment)
    staging = target_dir.with_name(target_dir.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / f"{export.source}.{export.file_format}"
    if export.file_format == "parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)
    if export.connection_type == "Braze":
        payload = braze_requests(table, export.source)
        (staging / BRAZE_PAYLOAD).write_text(json.dumps(payload, indent=1), encoding="utf-8")
    if cancelled is not None and cancelled.is_set():
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportFailure("ExportCancelled", "The export run was cancelled.", culprit="user")
    staging.rename(target_dir)
    logger.info("export %s wrote %d rows to %s", export.identifier, table.num_rows, target_dir)
    return target_dir / path.name
