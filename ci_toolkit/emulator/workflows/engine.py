"""Runs workflow jobs of one instance: tasks in dependency order, on an emulated time scale.

Jobs run as asyncio tasks in the server's event loop; blocking DataStore calls and file
writes go to worker threads (``asyncio.to_thread``), so requests never wait for a job.
All job state is touched on the event loop only, so no lock serializes requests.

Semantics (what the real service does, as far as the emulator imitates it):

- A job runs the nodes its request names and every node downstream of them
  (``selectionReason`` ``requested`` / ``upstreamRerunning``). ``all`` runs the whole graph.
- Each task waits for the tasks it depends on (``waitingTaskIds``) and takes
  ``time_scale`` seconds per step; tasks without mutual dependencies run concurrently.
  A task whose upstream failed, was skipped or aborted is ``skipped``.
- A job submitted while an earlier unfinished job shares nodes with it stays ``queued``
  until that job finishes (jobs on disjoint nodes run at once).
- Cancel marks the job and its unfinished tasks ``aborted`` (the contract has no
  ``canceled``) and stops its running work; cancelling a finished job changes nothing.
- A job ends ``failed`` if any task failed, ``skipped`` if all tasks were skipped, else
  ``successful``.
- Active schedules fire on the wall clock (not on ``time_scale``) while the server runs:
  each due schedule submits one ``scheduled`` job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import pyarrow as pa

from ci_toolkit.emulator.workflows.cron import CronError, CronExpression
from ci_toolkit.emulator.workflows.exports import (
    ExportDefinition,
    ExportFailure,
    demo_exports,
    load_tables,
    write_export,
)
from ci_toolkit.emulator.workflows.graph import STEPS, Graph, Node, SelectionError, build_graph
from ci_toolkit.emulator.workflows.history import seed_history
from ci_toolkit.emulator.workflows.lake_export import LakeTarget
from ci_toolkit.emulator.workflows.model import Job, NodeKey, NodeState, Task, utcnow
from ci_toolkit.emulator.workflows.outcomes import (
    detached,
    export_failed,
    task_crashed,
    upstream_not_successful,
)
from ci_toolkit.emulator.workflows.schedules import (
    ScheduleError,
    ScheduleStore,
    demo_schedules,
    validate_schedule,
)

if TYPE_CHECKING:
    from ci_toolkit.emulator.data.store import DataStore

__all__ = ["ScheduleError", "SelectionError", "WorkflowData", "WorkflowEngine"]

logger = logging.getLogger(__name__)

#: Most DataStore calls and file writes one instance's jobs run at once.
WORKER_SLOTS = 4
#: Longest pause (seconds) between two looks at the schedules.
SCHEDULER_PERIOD = 60.0


class WorkflowData(Protocol):
    """What the engine needs from the instance's DataStore (all blocking)."""

    def data_sources(self) -> list[dict[str, Any]]: ...
    def segment_names(self) -> list[str]: ...
    def evaluate_segment(self, name: str) -> int: ...
    def measure_names(self) -> list[str]: ...
    def evaluate_measure(self, name: str) -> None: ...
    def entity_names(self) -> list[str]: ...
    def export_table(self, source: str) -> pa.Table: ...


@dataclass(frozen=True)
class _Snapshot:
    data_sources: list[dict[str, Any]]
    measure_names: list[str]
    segment_names: list[str]
    entity_names: list[str]


class WorkflowEngine:
    """Jobs, history, refresh graph, schedules and exports of one instance.

    Parameters
    ----------
    data
        The instance's DataStore (called from worker threads only).
    time_scale
        Seconds of wall time per task step.
    output_dir
        Folder under which export runs write ``<identifier>/<timestamp>/<source>.<ext>``.
    seed
        Seed for the demo history.
    now
        The emulator's start time; history covers the weeks before it.
    data_dir
        Folder for ``workflow-schedules.json``; None keeps schedules in memory.
    lake
        The container data-out exports write to; None: ``<output_dir>/customerinsights``.
    """

    def __init__(
        self,
        *,
        data: DataStore,
        time_scale: float,
        output_dir: Path,
        seed: int,
        now: datetime,
        data_dir: Path | None = None,
        lake: LakeTarget | None = None,
    ) -> None:
        self.data = data
        #: Where data-out exports write their CDM folders (None: under ``output_dir``).
        self.lake = lake
        #: The DataStore seen through the methods the engine calls.
        self.source = cast(WorkflowData, data)
        self.time_scale = time_scale
        self.output_dir = output_dir
        self.seed = seed
        self.now = now
        self.data_dir = data_dir
        self.instance_id = str(getattr(data, "instance_id", uuid.UUID(int=seed)))
        self._init_lock = threading.Lock()
        self._ready = False
        self._closed = False
        self._exports: list[ExportDefinition] = []
        self._schedules = ScheduleStore([], path=None)
        self._jobs: dict[str, Job] = {}
        self._nodes: dict[NodeKey, NodeState] = {}
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._schedules_changed = asyncio.Event()
        #: Fire active schedules while the emulator runs (set False before first use to stop).
        self.run_schedules = True

    # -- set-up ---------------------------------------------------------------------------

    def _snapshot(self) -> _Snapshot:
        """The data the graph is built from (blocking: call in a worker thread)."""
        return _Snapshot(
            data_sources=list(self.source.data_sources()),
            measure_names=list(self.source.measure_names()),
            segment_names=list(self.source.segment_names()),
            entity_names=list(self.source.entity_names()),
        )

    def _initialise(self) -> None:
        """Exports, schedules and seeded history, once (blocking: call in a worker thread)."""
        with self._init_lock:
            if self._ready:
                return
            snapshot = self._snapshot()
            self._exports = demo_exports(snapshot.segment_names, snapshot.entity_names)
            seeds = demo_schedules(self.instance_id, self._exports)
            self._schedules = ScheduleStore.load_or_seed(seeds, data_dir=self.data_dir)
            graph = self._build(snapshot)
            history = seed_history(graph=graph, schedules=seeds, now=self.now, seed=self.seed)
            self._jobs = {job.job_id: job for job in history.jobs}
            self._nodes = history.nodes
            self._ready = True
            logger.info(
                "instance %s: %d graph nodes, %d seeded jobs, %d schedules",
                self.instance_id,
                len(graph.nodes),
                len(history.jobs),
                len(self._schedules.all()),
            )

    def _build(self, snapshot: _Snapshot) -> Graph:
        return build_graph(
            data_sources=snapshot.data_sources,
            measure_names=snapshot.measure_names,
            segment_names=snapshot.segment_names,
            exports=self._exports,
        )

    async def graph(self) -> Graph:
        """The refresh graph for the instance's current data sources, measures and segments."""
        if not self._ready:
            await asyncio.to_thread(self._initialise)
        self._loop = asyncio.get_running_loop()
        self._start_scheduler()
        snapshot = await asyncio.to_thread(self._snapshot)
        return self._build(snapshot)

    @property
    def exports(self) -> list[ExportDefinition]:
        """The instance's export definitions (empty until the engine is first used)."""
        return list(self._exports)

    # -- reading --------------------------------------------------------------------------

    async def status(self) -> list[dict[str, Any]]:
        """The refresh graph as ``GraphNodeInfo`` dicts, in dependency order."""
        graph = await self.graph()
        return [
            self._nodes.get(key, NodeState()).to_json(
                operation_type=node.operation_type,
                identifier=node.identifier,
                friendly_name=node.friendly_name,
            )
            for key, node in graph.nodes.items()
        ]

    async def jobs(self, *, top: int | None = None) -> list[Job]:
        """Jobs, newest first, at most ``top``."""
        await self.graph()
        jobs = sorted(self._jobs.values(), key=lambda job: job.submitted, reverse=True)
        return jobs if top is None else jobs[:top]

    async def job(self, job_id: str) -> Job | None:
        """One job by id, or None."""
        await self.graph()
        return self._jobs.get(job_id)

    async def history(self, *, top: int | None = None) -> list[Task]:
        """Task runs of all jobs, newest first, at most ``top``."""
        await self.graph()
        tasks = [
            (task.started or job.submitted, task)
            for job in list(self._jobs.values())
            for task in job.tasks
        ]
        tasks.sort(key=lambda item: item[0], reverse=True)
        chosen = [task for _, task in tasks]
        return chosen if top is None else chosen[:top]

    async def schedules(self) -> list[dict[str, Any]]:
        """Every ``WorkflowRefreshSchedule``."""
        await self.graph()
        return self._schedules.all()

    # -- changing -------------------------------------------------------------------------

    async def create_schedules(self, bodies: list[Any]) -> list[dict[str, Any]]:
        """Validate and store schedules (all or none).

        Raises
        ------
        ScheduleError
            A body the service would reject; nothing is stored.
        """
        graph = await self.graph()
        checked = [
            validate_schedule(body, graph=graph, instance_id=self.instance_id) for body in bodies
        ]
        stored = self._schedules.put(checked)
        self._schedules_changed.set()
        await asyncio.to_thread(self._schedules.save)
        return stored

    async def submit(
        self,
        *,
        operation_type: str,
        identifiers: list[str],
        force_run: bool = False,
        job_type: Literal["full", "incremental"] = "full",
        submission_kind: Literal["onDemand", "scheduled"] = "onDemand",
    ) -> Job:
        """Start a job and return it (queued) at once; it runs in the background.

        Raises
        ------
        SelectionError
            Unknown operation type or identifiers.
        """
        if self._closed:
            raise RuntimeError("the workflow engine is closed")
        graph = await self.graph()
        selection = graph.select(operation_type, identifiers)
        job = Job(
            job_id=str(uuid.uuid4()),
            operation_type=operation_type,
            identifiers=list(identifiers),
            submission_kind=submission_kind,
            submitted=utcnow(),
            job_type=job_type,
            force_run=force_run,
        )
        by_node: dict[NodeKey, Task] = {}
        for key, reason in selection.items():
            node = graph.nodes[key]
            task = Task(
                task_id=str(uuid.uuid4()),
                job_id=job.job_id,
                node=key,
                friendly_name=node.friendly_name,
                reason=reason,
                waiting=[by_node[dep].task_id for dep in node.depends_on if dep in by_node],
            )
            by_node[key] = task
            job.tasks.append(task)
        blockers = [
            other
            for other in self._jobs.values()
            if not other.finished and other.nodes & set(by_node)
        ]
        for task in job.tasks:
            self._state(task.node).record(task)
        job.done = asyncio.Event()
        self._jobs[job.job_id] = job
        job.runner = asyncio.get_running_loop().create_task(
            self._run(job, graph, blockers), name=f"workflow-job-{job.job_id}"
        )
        logger.info(
            "job %s submitted: %s %s, %d tasks, waiting for %d jobs",
            job.job_id,
            operation_type,
            identifiers,
            len(job.tasks),
            len(blockers),
        )
        return job

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: unfinished tasks and the job become ``aborted``. None if unknown."""
        job = await self.job(job_id)
        if job is None:
            return None
        if not job.finished:
            self._abort(job)
            if job.runner is not None:
                job.runner.cancel()
            logger.info("job %s cancelled", job.job_id)
        return job

    # -- running --------------------------------------------------------------------------

    def _state(self, key: NodeKey) -> NodeState:
        return self._nodes.setdefault(key, NodeState())

    def _abort(self, job: Job) -> None:
        """Mark ``job`` and its unfinished tasks aborted (on the event loop)."""
        job.cancelled.set()
        moment = utcnow()
        for task in job.tasks:
            if task.status in ("queued", "running"):
                task.status = "aborted"
                task.ended = moment
                self._state(task.node).record(task)
        if not job.finished:
            job.status = "aborted"
            job.ended = moment
        if job.done is not None:
            job.done.set()

    async def _run(self, job: Job, graph: Graph, blockers: list[Job]) -> None:
        try:
            waits = [b.done.wait() for b in blockers if b.done is not None]
            if waits:
                await asyncio.gather(*waits)
            if job.finished:
                return
            job.status = "running"
            finished = {task.task_id: asyncio.Event() for task in job.tasks}
            by_id = {task.task_id: task for task in job.tasks}
            await asyncio.gather(
                *(
                    self._run_task(job, task, graph.nodes[task.node], by_id, finished)
                    for task in job.tasks
                )
            )
            statuses = {task.status for task in job.tasks}
            if "failed" in statuses:
                job.status = "failed"
            elif statuses == {"skipped"}:
                job.status = "skipped"
            else:
                job.status = "successful"
            job.ended = utcnow()
            logger.info("job %s finished: %s", job.job_id, job.status)
        except asyncio.CancelledError:
            self._abort(job)
            raise
        except Exception:  # a bug here must not leave the job running forever
            logger.exception("job %s crashed", job.job_id)
            self._abort(job)
            job.status = "failed"
        finally:
            if job.done is not None:
                job.done.set()

    async def _run_task(
        self,
        job: Job,
        task: Task,
        node: Node,
        by_id: dict[str, Task],
        finished: dict[str, asyncio.Event],
    ) -> None:
        try:
            for waiting in task.waiting:
                await finished[waiting].wait()
            upstream = [by_id[w] for w in task.waiting]
            unsuccessful = [t.friendly_name for t in upstream if t.status != "successful"]
            task.started = utcnow()
            if unsuccessful:
                self._finish(task, "skipped", [upstream_not_successful(unsuccessful)])
                return
            if node.export is not None and node.export.detached:
                self._finish(task, "skipped", [detached(node.export)])
                return
            task.status = "running"
            self._state(task.node).record(task)
            await asyncio.sleep(self.time_scale * STEPS.get(node.operation_type, 1))
            try:
                await self._work(job, task, node)
            except ExportFailure as failure:
                self._finish(task, "failed", [export_failed(failure)])
                return
            except Exception as error:
                logger.warning("task %s (%s) failed", task.friendly_name, node.key, exc_info=True)
                self._finish(task, "failed", [task_crashed(*node.key, error)])
                return
            self._finish(task, "successful", [])
        finally:
            finished[task.task_id].set()

    def _finish(
        self,
        task: Task,
        status: Literal["successful", "failed", "skipped"],
        errors: list[dict[str, Any]],
    ) -> None:
        if task.status == "aborted":
            return
        task.status = status
        task.errors = errors
        task.ended = utcnow()
        self._state(task.node).record(task)

    async def _work(self, job: Job, task: Task, node: Node) -> None:
        """What a task really does besides taking its time."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(WORKER_SLOTS)
        if node.operation_type == "segmentation":
            async with self._slots:
                count = await asyncio.to_thread(self.source.evaluate_segment, node.identifier)
            logger.debug("segment %s has %s members", node.identifier, count)
        elif node.operation_type == "measures":
            async with self._slots:
                await asyncio.to_thread(self.source.evaluate_measure, node.identifier)
        elif node.export is not None:
            export = node.export
            export.check()
            moment = task.started or utcnow()
            async with self._slots:
                tables = await asyncio.to_thread(load_tables, self.data, export)
                await asyncio.to_thread(
                    write_export,
                    tables,
                    export=export,
                    output_dir=self.output_dir,
                    moment=moment,
                    cancelled=job.cancelled,
                    lake=self.lake,
                    instance_id=self.instance_id,
                )

    # -- schedules firing -----------------------------------------------------------------

    def _start_scheduler(self) -> None:
        if self._scheduler is None and not self._closed and self.run_schedules:
            self._scheduler = asyncio.get_running_loop().create_task(
                self._run_schedules(), name=f"workflow-schedules-{self.instance_id}"
            )

    def _due(self, start: datetime, end: datetime) -> tuple[list[dict[str, Any]], datetime]:
        """Active schedules firing in ``[start, end)``, and when the next one fires."""
        due: list[dict[str, Any]] = []
        wake = end + timedelta(seconds=SCHEDULER_PERIOD)
        for schedule in self._schedules.all():
            if not schedule.get("isActive"):
                continue
            zone = str(schedule.get("timezoneId") or "UTC")
            for text in schedule.get("cronSchedules") or []:
                try:
                    cron = CronExpression.parse(text)
                except CronError:
                    continue
                if next(cron.occurrences(start, end, zone), None) is not None:
                    due.append(schedule)
                following = cron.next_after(end, zone)
                if following is not None:
                    wake = min(wake, following)
        return due, wake

    async def _run_schedules(self) -> None:
        """Submit a ``scheduled`` job whenever an active schedule comes due (wall-clock time)."""
        # occurrences since the emulator started fire once; older backlog does not
        last = max(self.now, utcnow() - timedelta(seconds=SCHEDULER_PERIOD))
        while not self._closed:
            moment = utcnow()
            due, wake = self._due(last, moment)
            last = moment
            for schedule in due:
                try:
                    job = await self.submit(
                        operation_type=str(schedule["operationType"]),
                        identifiers=list(schedule.get("identifiers") or []),
                        job_type="incremental"
                        if schedule.get("jobType") == "incremental"
                        else "full",
                        submission_kind="scheduled",
                    )
                    logger.info("schedule %s started job %s", schedule["scheduleId"], job.job_id)
                except (SelectionError, RuntimeError) as error:
                    logger.warning("schedule %s could not start: %s", schedule["scheduleId"], error)
            delay = (wake - utcnow()).total_seconds()
            with contextlib.suppress(TimeoutError):  # a new schedule wakes the loop early
                await asyncio.wait_for(
                    self._schedules_changed.wait(), min(max(delay, 0.2), SCHEDULER_PERIOD)
                )
            self._schedules_changed.clear()

    # -- shutting down --------------------------------------------------------------------

    def _unfinished(self) -> list[Job]:
        return [job for job in list(self._jobs.values()) if not job.finished]

    def _cancel_all(self) -> list[asyncio.Task[None]]:
        """Abort unfinished jobs and cancel their runners and the scheduler (on the loop)."""
        self._closed = True
        tasks = []
        if self._scheduler is not None:
            self._scheduler.cancel()
            tasks.append(self._scheduler)
        for job in self._unfinished():
            self._abort(job)
            if job.runner is not None:
                job.runner.cancel()
                tasks.append(job.runner)
        return tasks

    async def aclose(self) -> None:
        """Cancel every running job and the scheduler, and wait until they have stopped."""
        tasks = self._cancel_all()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """Stop running jobs; safe from the loop's thread, another thread or after the loop."""
        self._closed = True
        loop = self._loop
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is not None and not loop.is_closed() and current is not loop and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self.aclose(), loop)
            try:
                future.result(timeout=5)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                logger.warning("workflow jobs of %s did not stop within 5 s", self.instance_id)
            return
        # on the loop's own thread, or the loop has stopped: nothing else touches the jobs
        if loop is not None and not loop.is_closed():
            self._cancel_all()
        for job in self._unfinished():
            job.cancelled.set()
            job.status = "aborted"
            job.ended = job.ended or utcnow()
