"""Jobs and tasks of the workflow ``main`` and their contract shapes (``GraphJobInfo``,
``GraphTaskInfo``, ``CIResult``).

Status values are the contract's enum spelled exactly: ``queued``, ``running``,
``successful``, ``failed``, ``skipped`` and ``aborted`` (what a cancelled job and its
unfinished tasks become; the contract has no ``canceled``).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "FINISHED",
    "KINDS",
    "OPERATION_TYPES",
    "Job",
    "NodeKey",
    "NodeState",
    "Task",
    "canonical_operation_type",
    "ci_result",
    "iso",
    "utcnow",
]

#: Every ``operationType`` the contract knows (GraphJobInfo, GraphNodeInfo, schedules).
OPERATION_TYPES = (
    "none",
    "ingestion",
    "derivedEntity",
    "hierarchy",
    "dataPreparation",
    "map",
    "realtimeM3Search",
    "match",
    "merge",
    "profileStore",
    "search",
    "activity",
    "contact",
    "attributeMeasures",
    "entityMeasures",
    "measures",
    "segmentation",
    "segmentMembership",
    "enrichment",
    "preEnrichment",
    "transform",
    "intelligence",
    "aiBuilder",
    "insights",
    "export",
    "modelManagement",
    "relationship",
    "roleAssignment",
    "analysis",
    "semanticEntity",
    "all",
)


_OPERATION_TYPES_BY_LOWER = {name.lower(): name for name in OPERATION_TYPES}


def canonical_operation_type(value: str) -> str | None:
    """The contract's spelling of an ``operationType`` given in any letter case, or ``None``.

    The service reads the value as a .NET enum, case-insensitively: Microsoft's own "OData
    query examples" page refreshes a data source with ``operationType=Ingestion``.

    Examples
    --------
    >>> canonical_operation_type("Ingestion"), canonical_operation_type("SEGMENTATION")
    ('ingestion', 'segmentation')
    >>> canonical_operation_type("refresh") is None
    True
    """
    return _OPERATION_TYPES_BY_LOWER.get(value.strip().lower())


Status = Literal["queued", "needsUpdate", "running", "failed", "aborted", "successful", "skipped"]
#: Statuses after which a task or job no longer changes.
FINISHED = frozenset({"failed", "aborted", "successful", "skipped", "timedOut", "deleted"})

#: A node of the refresh graph: (operationType, identifier).
NodeKey = tuple[str, str]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-11-23T19:27:00.123Z``: the contract's date-time with milliseconds, in UTC."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ci_result(
    error_code: str,
    message: str,
    *,
    culprit: Literal["system", "user", "external"] = "system",
    severity: Literal["error", "warning", "recommendation"] = "error",
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``CIResult`` dict (the error or warning attached to a task or graph node)."""
    result: dict[str, Any] = {
        "exceptionCulprit": culprit,
        "errorCode": error_code,
        "resultSeverity": severity,
        "message": message,
        "ciResults": [],
    }
    if params:
        result["params"] = params
    return result


#: ``CustomTaskInformation.kind`` of the operation types that have one.
KINDS = {
    "segmentation": "segmentation",
    "measures": "measures",
    "export": "export",
    "merge": "merge",
}


@dataclass
class Task:
    """One node's run inside a job."""

    task_id: str
    job_id: str
    node: NodeKey
    friendly_name: str
    status: Status = "queued"
    waiting: list[str] = field(default_factory=list)
    started: datetime | None = None
    ended: datetime | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Why the node was selected: ``requested`` or ``upstreamRerunning`` (SelectionReason code).
    reason: str = "requested"

    @property
    def operation_type(self) -> str:
        """The node's operationType."""
        return self.node[0]

    def to_json(self) -> dict[str, Any]:
        """The ``GraphTaskInfo`` dict."""
        body: dict[str, Any] = {
            "taskId": self.task_id,
            "taskStatus": self.status,
            "operationType": self.operation_type,
            "subType": "noSubType",
            "jobIds": [self.job_id],
            "friendlyName": self.friendly_name,
            "waitingTaskIds": list(self.waiting),
        }
        kind = KINDS.get(self.operation_type)
        if kind is not None:
            body["additionalInfo"] = {"kind": kind}
        if self.started is not None:
            body["submittedTimestamp"] = iso(self.started)
        if self.ended is not None:
            body["endTimestamp"] = iso(self.ended)
        if self.errors:
            body["ciError"] = self.errors[0]
            body["ciErrors"] = list(self.errors)
        return body


@dataclass
class Job:
    """A workflow job: the selected nodes of the refresh graph, run as tasks."""

    job_id: str
    operation_type: str
    identifiers: list[str]
    submission_kind: Literal["onDemand", "scheduled"]
    submitted: datetime
    job_type: Literal["full", "incremental"] = "full"
    force_run: bool = False
    status: Status = "queued"
    ended: datetime | None = None
    tasks: list[Task] = field(default_factory=list)
    #: Set (on the event loop) when the job has finished; None for seeded history.
    done: asyncio.Event | None = None
    #: Set when the job is cancelled, so worker threads can drop half-written output.
    cancelled: threading.Event = field(default_factory=threading.Event)
    runner: asyncio.Task[None] | None = None

    @property
    def nodes(self) -> set[NodeKey]:
        """The graph nodes this job runs."""
        return {task.node for task in self.tasks}

    @property
    def finished(self) -> bool:
        """Whether the job has reached a final status."""
        return self.status in FINISHED

    def to_json(self, *, include_tasks: bool) -> dict[str, Any]:
        """The ``GraphJobInfo`` dict."""
        body: dict[str, Any] = {
            "jobId": self.job_id,
            "jobType": self.job_type,
            "jobSubmissionKind": self.submission_kind,
            "jobStatus": self.status,
            "operationType": self.operation_type,
            "subType": "noSubType",
            "shouldForceRunRequestedNodes": self.force_run,
            "idList": list(self.identifiers),
            "options": {"runDownstreamAfterMerge": True},
            "submittedTimestamp": iso(self.submitted),
        }
        if self.ended is not None:
            body["endTimestamp"] = iso(self.ended)
        if include_tasks:
            body["tasks"] = [task.to_json() for task in self.tasks]
        return body


@dataclass
class NodeState:
    """What the status graph shows for one node: its latest run and last success."""

    status: Status = "needsUpdate"
    job_ids: list[str] = field(default_factory=list)
    ended: datetime | None = None
    last_success: datetime | None = None
    last_success_job_ids: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None

    def record(self, task: Task) -> None:
        """Take in the current state of ``task`` (queued, running or finished)."""
        self.status = task.status
        self.job_ids = [task.job_id]
        self.reason = task.reason
        if task.status in FINISHED:
            self.ended = task.ended
            self.errors = list(task.errors)
        else:
            self.errors = []
        if task.status == "successful":
            self.last_success = task.ended
            self.last_success_job_ids = [task.job_id]

    def to_json(
        self, *, operation_type: str, identifier: str, friendly_name: str
    ) -> dict[str, Any]:
        """The ``GraphNodeInfo`` dict for the node."""
        body: dict[str, Any] = {
            "operationType": operation_type,
            "subType": "noSubType",
            "identifier": identifier,
            "friendlyName": friendly_name,
            "jobIds": list(self.job_ids),
            "taskStatus": self.status,
            "lastSuccessJobIds": list(self.last_success_job_ids),
        }
        if self.ended is not None:
            body["endTimestamp"] = iso(self.ended)
        if self.last_success is not None:
            body["lastSuccessfulTimestamp"] = iso(self.last_success)
        if self.errors:
            body["ciError"] = self.errors[0]
            body["ciErrors"] = list(self.errors)
        kind = KINDS.get(operation_type)
        if kind is not None:
            body["additionalInfo"] = {"kind": kind}
        if self.reason is not None:
            body["selectionReason"] = {"code": self.reason}
        return body
