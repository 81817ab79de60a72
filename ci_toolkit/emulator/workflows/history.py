"""Seeded past runs: what the demo instance's schedules did over the past weeks.

Deterministic from the seed. Every occurrence of an active demo schedule in the window
becomes a ``scheduled`` job whose tasks get realistic durations (minutes) in dependency
order. Besides the Google Ads export that fails on every run and the detached export that
is skipped after it was detached, two nightly refreshes fail at ingestion (their
downstream tasks are skipped, and so are exports scheduled before the next good refresh)
and one SFTP run times out.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ci_toolkit.emulator.workflows.cron import CronExpression
from ci_toolkit.emulator.workflows.graph import Graph, Node
from ci_toolkit.emulator.workflows.model import Job, NodeKey, NodeState, Task, ci_result
from ci_toolkit.emulator.workflows.outcomes import detached, upstream_not_successful

__all__ = ["HISTORY_DAYS", "SeededHistory", "seed_history"]

HISTORY_DAYS = 28
#: How long the detached export has been detached.
DETACHED_DAYS = 9
#: Minutes a task of each operation type takes (low, high).
DURATIONS = {
    "ingestion": (4, 12),
    "match": (6, 15),
    "merge": (3, 8),
    "profileStore": (2, 5),
    "search": (1, 4),
    "measures": (1, 5),
    "segmentation": (1, 3),
    "export": (2, 8),
}


@dataclass
class SeededHistory:
    """Past jobs (oldest first) and the node states they leave behind."""

    jobs: list[Job]
    nodes: dict[NodeKey, NodeState]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Simulator:
    def __init__(
        self, graph: Graph, rng: random.Random, detached_since: datetime, now: datetime
    ) -> None:
        self.graph = graph
        self.rng = rng
        self.detached_since = detached_since
        self.now = now
        self.nodes: dict[NodeKey, NodeState] = {key: NodeState() for key in graph.nodes}
        self.jobs: list[Job] = []
        self.failing_ingestion: NodeKey | None = None
        self.failing_export = False

    def _failure(self, node: Node) -> dict[str, Any] | None:
        if node.export is not None and node.export.failure is not None:
            code, message = node.export.failure
            return ci_result(code, message, culprit="external")
        if self.failing_ingestion == node.key:
            return ci_result(
                "DataSourceRefreshFailed",
                f"Refreshing data source '{node.friendly_name}' failed: the source answered "
                "HTTP 503 Service Unavailable three times; the previous data is kept.",
                culprit="external",
            )
        if node.operation_type == "export" and self.failing_export:
            return ci_result(
                "SftpConnectionTimeout",
                "The SFTP server sftp.contoso-partners.example:22 did not answer within 60 "
                "seconds.",
                culprit="external",
            )
        return None

    def run(
        self,
        moment: datetime,
        operation_type: str,
        identifiers: list[str],
        *,
        failing_ingestion: NodeKey | None = None,
        failing_export: bool = False,
    ) -> Job | None:
        """Simulate one scheduled job starting at ``moment``; the two flags inject failures.

        ``None`` when the job would still be running now: the past holds only finished runs.
        """
        self.failing_ingestion = failing_ingestion
        self.failing_export = failing_export
        selection = self.graph.select(operation_type, identifiers)
        job = Job(
            job_id=_uuid(self.rng),
            operation_type=operation_type,
            identifiers=list(identifiers),
            submission_kind="scheduled",
            submitted=moment,
        )
        tasks: dict[NodeKey, Task] = {}
        for key, reason in selection.items():
            node = self.graph.nodes[key]
            task = Task(
                task_id=_uuid(self.rng),
                job_id=job.job_id,
                node=key,
                friendly_name=node.friendly_name,
                reason=reason,
            )
            task.waiting = [tasks[dep].task_id for dep in node.depends_on if dep in tasks]
            tasks[key] = task
        return self._finish(job, tasks)

    def _finish(self, job: Job, tasks: dict[NodeKey, Task]) -> Job | None:
        for key, task in tasks.items():
            node = self.graph.nodes[key]
            waits = [tasks[dep] for dep in node.depends_on if dep in tasks]
            start = max([t.ended for t in waits if t.ended is not None] or [job.submitted])
            start += timedelta(seconds=self.rng.randint(5, 60))
            low, high = DURATIONS.get(node.operation_type, (1, 3))
            duration = timedelta(seconds=self.rng.randint(low * 60, high * 60))
            task.started = start
            task.ended = start + duration
            unsuccessful = [t.friendly_name for t in waits if t.status != "successful"]
            if not waits and node.operation_type == "export":
                # an export job alone: skipped when its source was not refreshed successfully
                unsuccessful = [
                    self.graph.nodes[dep].friendly_name
                    for dep in node.depends_on
                    if self.nodes[dep].status in ("failed", "skipped")
                ]
            failure = self._failure(node)
            if unsuccessful:
                task.status = "skipped"
                task.ended = start
                task.errors = [upstream_not_successful(unsuccessful)]
            elif node.export is not None and node.export.detached and start >= self.detached_since:
                task.status = "skipped"
                task.ended = start
                task.errors = [detached(node.export)]
            elif failure is not None:
                task.status = "failed"
                task.errors = [failure]
            else:
                task.status = "successful"
            job.tasks.append(task)
        statuses = {t.status for t in job.tasks}
        job.status = (
            "failed"
            if "failed" in statuses
            else "skipped"
            if statuses == {"skipped"}
            else "successful"
        )
        job.ended = max([t.ended for t in job.tasks if t.ended is not None] or [job.submitted])
        if job.ended > self.now:  # a run started shortly before now is not over yet
            return None
        for key, task in zip(tasks, job.tasks, strict=True):
            self.nodes[key].record(task)
        self.jobs.append(job)
        return job


def seed_history(
    *, graph: Graph, schedules: list[dict[str, Any]], now: datetime, seed: int
) -> SeededHistory:
    """Replay the active schedules over the past :data:`HISTORY_DAYS` days.

    Parameters
    ----------
    graph
        The refresh graph (current nodes; history runs them as they are now).
    schedules
        ``WorkflowRefreshSchedule`` dicts; inactive export schedules of detached exports
        still ran until the export was detached.
    now
        End of the window (the emulator's start time).
    seed
        Seed for ids, durations and which runs fail.
    """
    rng = random.Random(f"workflow-history:{seed}")
    start = now - timedelta(days=HISTORY_DAYS)
    detached_since = now - timedelta(days=DETACHED_DAYS)
    detached_ids = {
        n.identifier for n in graph.of_type("export") if n.export is not None and n.export.detached
    }
    events: list[tuple[datetime, str, list[str]]] = []
    for schedule in schedules:
        identifiers = list(schedule.get("identifiers") or [])
        operation_type = str(schedule.get("operationType"))
        active = bool(schedule.get("isActive"))
        was_active = operation_type == "export" and set(identifiers) <= detached_ids
        if not active and not was_active:
            continue
        try:
            graph.resolve(operation_type, identifiers)
        except ValueError:
            continue
        until = now if active else detached_since
        for text in schedule.get("cronSchedules") or []:
            cron = CronExpression.parse(text)
            for moment in cron.occurrences(start, until, schedule.get("timezoneId") or "UTC"):
                events.append((moment, operation_type, identifiers))
    events.sort(key=lambda event: (event[0], event[1] != "all"))

    simulator = _Simulator(graph, rng, detached_since, now)
    refreshes = [i for i, event in enumerate(events) if event[1] == "all"]
    ingestion = [n.key for n in graph.of_type("ingestion")]
    failing_refreshes = set(rng.sample(refreshes[:-2], k=min(2, max(len(refreshes) - 2, 0))))
    exports = [i for i, event in enumerate(events) if event[1] == "export"]
    sftp = [i for i in exports if any(x.startswith("sftp") for x in events[i][2])]
    failing_sftp = set(rng.sample(sftp, k=min(1, len(sftp))))

    for index, (moment, operation_type, identifiers) in enumerate(events):
        offset = timedelta(seconds=rng.randint(0, 90))
        failing = rng.choice(ingestion) if index in failing_refreshes and ingestion else None
        simulator.run(
            moment + offset,
            operation_type,
            identifiers,
            failing_ingestion=failing,
            failing_export=index in failing_sftp,
        )
    return SeededHistory(jobs=simulator.jobs, nodes=simulator.nodes)
