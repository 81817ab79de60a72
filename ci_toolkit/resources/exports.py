"""Exports, as the v1 API shows them: nodes of the refresh graph with ``operationType: export``,
their schedules and their run history. The v1 API has no export-definition endpoints, so a
connection's settings and the exported segments are not available; the connection type is
shown where the export's identifier or name reveals it.

API operations (function -> returns: operation):

``exports()`` -> DataFrame, one row per export
    ``GET /instances/{instanceId}/workflows/main/status`` (Get-workflow-status),
    ``GET .../workflows/main/schedules`` (Get-workflow-schedules) and
    ``GET .../workflows/main/history?top=N`` (Get-list-of-workflow-task-information-history)
``run_export(*identifiers)`` -> ``JobHandle``
    ``POST .../workflows/main/jobs?operationType=export&identifiers=...``
    (Submit-a-workflow-job, never retried automatically)
``export_history(identifier)`` -> DataFrame, one row per run
    ``GET .../workflows/main/status`` + ``GET .../workflows/main/history?top=N``
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ci_toolkit.resources.jobs import (
    TASK_COLUMNS,
    JobHandle,
    JobsMixin,
    _task_rows,
    describe_cron,
)

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.frames import Kind

__all__ = ["CONNECTION_TYPES", "EXPORT_COLUMNS", "ExportsMixin", "connection_type"]

logger = logging.getLogger(__name__)

#: Connection types recognisable in an export's identifier or friendly name.
CONNECTION_TYPES: list[tuple[str, str]] = [
    (r"braze", "Braze"),
    (r"azure ?data ?lake|adls|datalake", "Azure Data Lake Storage"),
    (r"sftp", "SFTP"),
    (r"google ?ads", "Google Ads"),
    (r"(dynamics ?365|d365) ?marketing|dynamics ?marketing", "Dynamics 365 Marketing"),
    (r"facebook|meta ?ads", "Facebook Ads"),
    (r"mailchimp", "Mailchimp"),
    (r"salesforce", "Salesforce"),
    (r"linkedin", "LinkedIn Ads"),
    (r"blob", "Azure Blob Storage"),
    (r"synapse", "Azure Synapse Analytics"),
    (r"sendgrid", "SendGrid"),
    (r"klaviyo", "Klaviyo"),
]

EXPORT_COLUMNS: list[tuple[str, str, Kind]] = [
    ("identifier", "identifier", "str"),
    ("friendlyName", "friendlyName", "str"),
    ("connectionType", "connectionType", "str"),
    ("lastStatus", "taskStatus", "str"),
    ("lastRun", "endTimestamp", "datetime"),
    ("lastSuccess", "lastSuccessfulTimestamp", "datetime"),
    ("schedule", "schedule", "str"),
    ("scheduleActive", "scheduleActive", "bool"),
    ("runs", "runs", "int"),
    ("failures", "failures", "int"),
    ("lastError", "error", "str"),
]

EXPORT_HISTORY_COLUMNS: list[tuple[str, str, Kind]] = [
    ("identifier", "identifier", "str"),
    *TASK_COLUMNS,
]


def connection_type(*texts: str | None) -> str | None:
    """The connection type an export's identifier or name reveals, if any.

    Examples
    --------
    >>> connection_type("braze-gold-members", "Gold members to Braze")
    'Braze'
    >>> connection_type("weekly-file") is None
    True
    """
    for text in texts:
        if not text:
            continue
        spaced = re.sub(r"[_\-.]+", " ", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)).lower()
        for pattern, name in CONNECTION_TYPES:
            if re.search(pattern, spaced):
                return name
    return None


def _matches(task: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    if task.get("operationType") not in (None, "export"):
        return False
    ident, name = node.get("identifier"), node.get("friendlyName")
    if task.get("identifier") is not None:
        return bool(task.get("identifier") == ident)
    if name and task.get("friendlyName") == name:
        return True
    return bool(ident and task.get("friendlyName") == ident)


class ExportsMixin(JobsMixin):
    """Exports: overview, on-demand runs and history."""

    def _export_nodes(self) -> list[dict[str, Any]]:
        nodes = self._get(self._workflow_path("status")) or []
        return [n for n in nodes if n.get("operationType") == "export"]

    def _export_node(self, identifier: str) -> dict[str, Any]:
        from ci_toolkit.exceptions import NotFoundError

        nodes = self._export_nodes()
        for node in nodes:
            if identifier in (node.get("identifier"), node.get("friendlyName")):
                return node
        known = ", ".join(str(n.get("identifier")) for n in nodes) or "none"
        raise NotFoundError(
            f"no export {identifier!r}. The exports are: {known} (ci.exports() lists them "
            "with their status).",
            status=404,
            error_code="ExportNotFound",
        )

    def exports(self, *, history: int = 500) -> pd.DataFrame:
        """The exports with their connection type, last status, last success and schedule.

        Parameters
        ----------
        history : int
            How many recent task runs to count runs and failures from.

        Returns
        -------
        pandas.DataFrame
            ``identifier``, ``friendlyName``, ``connectionType`` (where the name reveals
            it), ``lastStatus``, ``lastRun``, ``lastSuccess`` (UTC), ``schedule``
            (readable; ``with refresh: ...`` when the export runs with the full refresh),
            ``scheduleActive``, ``runs``, ``failures`` (in the recent history),
            ``lastError``.

        Examples
        --------
        >>> ci.exports()[["friendlyName", "connectionType", "lastStatus"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        nodes = self._export_nodes()
        schedules = self._get(self._workflow_path("schedules")) or []
        tasks = self._get(self._workflow_path("history"), params={"top": history}) or []
        refresh_all = [s for s in schedules if s.get("operationType") == "all"]
        rows = []
        for node in nodes:
            own = [
                s
                for s in schedules
                if s.get("operationType") == "export"
                and node.get("identifier") in (s.get("identifiers") or [])
            ]
            if own:
                schedule = "; ".join(
                    describe_cron(s.get("cronSchedules"), s.get("timezoneId")) for s in own
                )
                active: bool | None = any(bool(s.get("isActive")) for s in own)
            elif refresh_all:
                schedule = "with refresh: " + "; ".join(
                    describe_cron(s.get("cronSchedules"), s.get("timezoneId")) for s in refresh_all
                )
                active = any(bool(s.get("isActive")) for s in refresh_all)
            else:
                schedule, active = "on demand", None
            runs = [t for t in tasks if _matches(t, node)]
            rows.append(
                {
                    **node,
                    "connectionType": connection_type(
                        node.get("identifier"), node.get("friendlyName")
                    ),
                    "schedule": schedule,
                    "scheduleActive": active,
                    "runs": len(runs),
                    "failures": sum(1 for t in runs if t.get("taskStatus") == "failed"),
                    "error": _task_rows([node])[0]["error"],
                }
            )
        raw = {"status": nodes, "schedules": schedules, "history": tasks}
        return frames.records_frame(rows, EXPORT_COLUMNS, raw=raw)

    def run_export(self, *identifiers: str, force: bool = False) -> JobHandle:
        """Run one or more exports now.

        Parameters
        ----------
        *identifiers : str
            Export identifiers (see :meth:`exports`); none runs every export.
        force : bool
            Run even when the exported data did not change.

        Returns
        -------
        JobHandle
            The export job.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            An identifier is not an export of the refresh graph.

        Examples
        --------
        >>> ci.run_export("braze-gold-members").wait()  # doctest: +SKIP
        'successful'
        """
        ids = [self._export_node(i)["identifier"] for i in identifiers]
        return self.refresh("export", identifiers=ids or None, force=force)

    def export_history(self, identifier: str, *, top: int = 500) -> pd.DataFrame:
        """The runs of one export, newest first (as the service lists them).

        Parameters
        ----------
        identifier : str
            Export identifier (or friendly name).
        top : int
            How many recent task runs to search.

        Returns
        -------
        pandas.DataFrame
            ``identifier`` plus the task columns of :meth:`job_history`.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            No such export.

        Examples
        --------
        >>> ci.export_history("braze-gold-members")["taskStatus"].value_counts()  # doctest: +SKIP
        """
        from ci_toolkit import frames

        node = self._export_node(identifier)
        tasks = self._get(self._workflow_path("history"), params={"top": top}) or []
        rows = [
            {**row, "identifier": node.get("identifier")}
            for row in _task_rows(t for t in tasks if _matches(t, node))
        ]
        # In the service's order: newest first.
        return frames.records_frame(rows, EXPORT_HISTORY_COLUMNS, raw=tasks)
