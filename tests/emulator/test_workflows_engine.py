"""The workflow engine in-process over a fake DataStore (HTTPS tests use the real one)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from ci_toolkit.emulator.workflows.engine import WorkflowEngine
from ci_toolkit.emulator.workflows.graph import SelectionError
from ci_toolkit.emulator.workflows.history import HISTORY_DAYS
from ci_toolkit.emulator.workflows.model import Job
from ci_toolkit.emulator.workflows.schedules import SCHEDULES_FILE, ScheduleError

T = TypeVar("T")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeData:
    """The DataStore methods the engine calls, recording what it was asked."""

    instance_id = "6f2c1f43-9a2e-4f43-8a55-1b5d3c0e7a11"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.evaluated: list[str] = []
        self.measured: list[str] = []
        self.lock = threading.Lock()

    def data_sources(self) -> list[dict[str, Any]]:
        return [
            {"dataSourceId": "0d9b7c1e-1111-4c1a-9b1e-000000000001", "name": "eCommerce"},
            {"dataSourceId": "0d9b7c1e-1111-4c1a-9b1e-000000000002", "name": "POS"},
        ]

    def segment_names(self) -> list[str]:
        return ["GoldMembers", "ChurnRisk", "HighValue", "Newsletter", "WinBack", "Recent"]

    def evaluate_segment(self, name: str) -> int:
        time.sleep(self.delay)
        with self.lock:
            self.evaluated.append(name)
        return 3

    def measure_names(self) -> list[str]:
        return ["TotalSpend"]

    def evaluate_measure(self, name: str) -> None:
        with self.lock:
            self.measured.append(name)

    def entity_names(self) -> list[str]:
        return ["Customer", "UnifiedActivity"]

    def export_table(self, source: str) -> pa.Table:
        return pa.table({"CustomerId": [f"{source}-{i}" for i in range(4)], "n": [1, 2, 3, 4]})


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def make_engine(
    tmp_path: Path, *, data: FakeData | None = None, scale: float = 0.002, now: datetime = NOW
) -> WorkflowEngine:
    engine = WorkflowEngine(
        data=data or FakeData(),  # type: ignore[arg-type]
        time_scale=scale,
        output_dir=tmp_path / "out",
        seed=3,
        now=now,
        data_dir=tmp_path / "data",
    )
    engine.run_schedules = False  # tests submit their own jobs; see test_due_schedules
    return engine


async def finish(job: Job) -> Job:
    assert job.done is not None
    await asyncio.wait_for(job.done.wait(), 10)
    return job


def test_full_refresh_runs_in_dependency_order(tmp_path: Path) -> None:
    data = FakeData()
    engine = make_engine(tmp_path, data=data)

    async def scenario() -> Job:
        return await finish(await engine.submit(operation_type="all", identifiers=[]))

    job = run(scenario())
    by_id = {task.task_id: task for task in job.tasks}
    assert job.status == "failed"  # the Google Ads export always fails
    for task in job.tasks:
        for waiting in task.waiting:
            upstream = by_id[waiting]
            assert upstream.ended is not None
            assert task.started is not None
            assert upstream.ended <= task.started, (upstream.friendly_name, task.friendly_name)
    statuses = {task.friendly_name: task.status for task in job.tasks}
    assert statuses["Google Ads: High-value audience for Google Ads"] == "failed"
    assert statuses["Braze: Win-back campaign to Braze"] == "skipped"
    assert statuses["Merge: Customer"] == "successful"
    assert sorted(data.evaluated) == sorted(data.segment_names())
    assert data.measured == ["TotalSpend"]


def test_ingestion_of_one_source_runs_it_and_what_depends_on_it(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)

    async def scenario() -> Job:
        return await finish(await engine.submit(operation_type="ingestion", identifiers=["POS"]))

    job = run(scenario())
    kinds = [task.operation_type for task in job.tasks]
    assert kinds.count("ingestion") == 1
    assert {"match", "merge", "measures", "segmentation", "export"} <= set(kinds)
    assert job.tasks[0].reason == "requested"
    assert all(task.reason == "upstreamRerunning" for task in job.tasks[1:])


def test_export_writes_the_rows_of_its_source(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    data = FakeData()

    async def scenario() -> Job:
        job = await engine.submit(
            operation_type="export", identifiers=["adls-customer-profiles", "braze-gold-members"]
        )
        return await finish(job)

    job = run(scenario())
    assert job.status == "successful"
    # the data-out export writes a CDM folder (model.json + CSV partitions) in the container
    (model,) = (tmp_path / "out" / "customerinsights").glob("CustomerInsights_*/*/model.json")
    entity, activity = json.loads(model.read_text(encoding="utf-8"))["entities"]
    assert (entity["name"], activity["name"]) == ("Customer", "UnifiedActivity")
    (partition,) = entity["partitions"]
    (csv_file,) = model.parent.glob("Customer/*/*/*/*/Customer_1.csv")
    assert partition["location"].endswith(csv_file.relative_to(model.parents[2]).as_posix())
    rows = pa_csv.read_csv(
        csv_file, read_options=pa_csv.ReadOptions(column_names=["CustomerId", "n"])
    )
    assert rows.equals(data.export_table("Customer"))
    (csv,) = (tmp_path / "out" / "braze-gold-members").glob("*/GoldMembers.csv")
    assert pa_csv.read_csv(csv).column("CustomerId").to_pylist() == [
        f"GoldMembers-{i}" for i in range(4)
    ]


def test_unknown_identifiers_and_operation_types_are_rejected(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)

    async def scenario() -> None:
        with pytest.raises(SelectionError, match="NoSuchSegment"):
            await engine.submit(operation_type="segmentation", identifiers=["NoSuchSegment"])
        with pytest.raises(SelectionError, match="enrichment"):
            await engine.submit(operation_type="enrichment", identifiers=[])
        with pytest.raises(SelectionError, match="not allowed"):
            await engine.submit(operation_type="all", identifiers=["x"])

    run(scenario())


def test_cancel_aborts_running_and_remaining_tasks(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, scale=0.05)

    async def scenario() -> Job:
        job = await engine.submit(operation_type="all", identifiers=[])
        await asyncio.sleep(0.08)
        assert job.status == "running"
        await engine.cancel(job.job_id)
        await asyncio.sleep(0.1)
        return job

    job = run(scenario())
    assert job.status == "aborted"
    statuses = {task.status for task in job.tasks}
    assert "aborted" in statuses
    assert statuses <= {"successful", "aborted"}
    assert job.ended is not None


def test_conflicting_job_waits_for_the_running_one(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)

    async def scenario() -> tuple[Job, Job, Job]:
        first = await engine.submit(operation_type="segmentation", identifiers=["ChurnRisk"])
        second = await engine.submit(operation_type="segmentation", identifiers=["ChurnRisk"])
        other = await engine.submit(operation_type="segmentation", identifiers=["Recent"])
        assert second.status == "queued"
        await asyncio.gather(finish(first), finish(second), finish(other))
        return first, second, other

    first, second, other = run(scenario())
    assert first.ended is not None
    assert second.tasks[0].started is not None
    assert first.ended <= second.tasks[0].started
    assert other.tasks[0].started is not None
    assert other.tasks[0].started < first.ended


def test_seeded_history_has_failures_skips_and_realistic_times(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    jobs = run(engine.jobs())
    assert all(job.submission_kind == "scheduled" for job in jobs)
    oldest = min(job.submitted for job in jobs)
    assert (NOW - oldest).days in (HISTORY_DAYS - 1, HISTORY_DAYS)
    assert {job.status for job in jobs} >= {"successful", "failed", "skipped"}
    tasks = run(engine.history())
    errors = {e["errorCode"] for t in tasks for e in t.errors}
    assert {
        "ExportConnectionCredentialExpired",
        "ExportDetached",
        "DataSourceRefreshFailed",
    } <= errors
    # the Google Ads export never succeeded; the others did
    status = {node["identifier"]: node for node in run(engine.status())}
    assert status["googleads-high-value"]["taskStatus"] == "failed"
    assert "lastSuccessfulTimestamp" not in status["googleads-high-value"]
    assert "lastSuccessfulTimestamp" in status["braze-gold-members"]


@pytest.mark.parametrize("minutes", [0, 5, 30, 60, 180])
def test_the_seeded_past_holds_only_runs_that_ended_before_now(
    tmp_path: Path, minutes: int
) -> None:
    """Started minutes after the 02:00 UTC full refresh, the emulator seeded that refresh as
    finished in the future (an export's last run at 02:43 when it was 02:32), and a test
    comparing last-run times before and after a run failed in that window."""
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    engine = make_engine(tmp_path, now=now)
    jobs = run(engine.jobs())
    assert jobs
    assert all(job.ended is not None and job.ended <= now for job in jobs)
    for node in run(engine.status()):
        for field in ("lastRunTimestamp", "endTimestamp", "lastSuccessfulTimestamp"):
            if node.get(field):
                assert datetime.fromisoformat(str(node[field])) <= now, (node, field)
    today = [job for job in jobs if job.operation_type == "all" and job.submitted.day == 23]
    if minutes == 180:  # long over by then: seeded as before
        assert today


def test_schedules_are_validated_and_persisted(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    body = {
        "operationType": "segmentation",
        "identifiers": ["churnrisk"],
        "cronSchedules": ["0 4 * * 1-5"],
        "timezoneId": "Europe/Paris",
    }
    (stored,) = run(engine.create_schedules([body]))
    assert stored["identifiers"] == ["ChurnRisk"]
    assert stored["isActive"] is True
    saved = json.loads((tmp_path / "data" / SCHEDULES_FILE).read_text())
    assert stored["scheduleId"] in {s["scheduleId"] for s in saved}
    with pytest.raises(ScheduleError, match="timezoneId"):
        run(engine.create_schedules([dict(body, timezoneId="Mars/Base")]))
    with pytest.raises(ScheduleError, match="cronSchedules"):
        run(engine.create_schedules([dict(body, cronSchedules=["every day"])]))
    again = make_engine(tmp_path)
    assert stored["scheduleId"] in {s["scheduleId"] for s in run(again.schedules())}


def test_close_from_another_thread_stops_running_jobs(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, data=FakeData(delay=0.05), scale=0.05)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        job = asyncio.run_coroutine_threadsafe(
            engine.submit(operation_type="all", identifiers=[]), loop
        ).result(5)
        time.sleep(0.1)
        engine.close()
        assert job.status == "aborted"
        assert job.runner is not None
        assert job.runner.done()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_due_schedules_fire_once_per_window(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    body = {"operationType": "export", "identifiers": ["braze-gold-members"]}
    every_minute, inactive = run(
        engine.create_schedules(
            [
                dict(body, cronSchedules=["* * * * *"]),
                dict(body, cronSchedules=["* * * * *"], isActive=False),
            ]
        )
    )
    start = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)
    due, wake = engine._due(start, start + timedelta(minutes=3))
    ids = [s["scheduleId"] for s in due]
    assert ids.count(every_minute["scheduleId"]) == 1
    assert inactive["scheduleId"] not in ids
    assert wake == datetime(2026, 11, 23, 12, 4, tzinfo=UTC)
    # the nightly refresh (02:00 UTC) is not due at noon
    assert all(s["operationType"] == "export" for s in due)


def test_scheduler_submits_scheduled_jobs(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    engine.now = datetime.now(UTC) - timedelta(minutes=2)

    async def scenario() -> list[Job]:
        await engine.create_schedules(
            [
                {
                    "operationType": "export",
                    "identifiers": ["braze-gold-members"],
                    "cronSchedules": ["* * * * *"],
                }
            ]
        )
        engine.run_schedules = True
        await engine.graph()  # starts the scheduler: the last minute holds one occurrence
        for _ in range(100):
            await asyncio.sleep(0.02)
            jobs = [j for j in await engine.jobs(top=5) if j.submitted > engine.now]
            if jobs:
                await finish(jobs[0])
                await engine.aclose()
                return jobs
        await engine.aclose()
        return []

    jobs = run(scenario())
    assert [job.submission_kind for job in jobs] == ["scheduled"]
    assert jobs[0].identifiers == ["braze-gold-members"]
    assert jobs[0].status == "successful"
