"""Refresh jobs: list, get, submit, wait, cancel; history, refresh graph and schedules."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from ci_toolkit.client import CustomerInsights, JobHandle, JobTimeoutError
from ci_toolkit.exceptions import NotFoundError
from ci_toolkit.resources.jobs import FINAL_STATUSES, describe_cron

DATETIME = pd.api.types.is_datetime64_any_dtype


def test_jobs_columns_and_values(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.jobs(top=5)
    assert list(df.columns) == [
        "jobId",
        "operationType",
        "jobStatus",
        "identifiers",
        "jobType",
        "jobSubmissionKind",
        "submittedTimestamp",
        "endTimestamp",
        "taskCount",
        "failedTaskCount",
    ]
    assert 0 < len(df) <= 5
    assert DATETIME(df["submittedTimestamp"])
    assert str(df["taskCount"].dtype) == "Int64"
    body = raw.get(
        f"instances/{iid}/workflows/main/jobs", params={"top": 5, "includeTasks": "true"}
    ).json()
    assert df["jobId"].tolist() == [j["jobId"] for j in body]
    assert df["taskCount"].tolist() == [len(j.get("tasks") or []) for j in body]
    first = body[0]
    assert df["submittedTimestamp"][0] == pd.Timestamp(first["submittedTimestamp"])


def test_jobs_rejects_bad_top(ci: CustomerInsights) -> None:
    with pytest.raises(ValueError, match="top"):
        ci.jobs(top=0)


def test_refresh_and_wait_segmentation(ci: CustomerInsights) -> None:
    job = ci.refresh("segmentation", identifiers=["HighValueCustomers"], force=True)
    assert isinstance(job, JobHandle)
    assert job.operation_type == "segmentation"
    status = job.wait(timeout=60, poll_interval=0.05, progress=True)
    assert status in FINAL_STATUSES
    assert status == job.status
    assert job.done
    tasks = job.tasks
    assert list(tasks.columns[:4]) == ["taskId", "operationType", "friendlyName", "taskStatus"]
    assert DATETIME(tasks["endTimestamp"])
    segment_task = tasks[tasks["operationType"] == "segmentation"]
    assert segment_task["friendlyName"].tolist() == ["HighValueCustomers"]
    assert segment_task["taskStatus"].tolist() == ["successful"]
    # Downstream exports of the segment run too; the demo's Google Ads export always fails.
    failed = tasks[tasks["taskStatus"] == "failed"]
    assert status == ("failed" if len(failed) else "successful")
    assert job.succeeded == (status == "successful")
    assert failed["error"].notna().all()
    again = ci.job(job.job_id)
    assert again.status == status
    assert len(again.tasks) == len(tasks)
    assert again.job_id in set(ci.jobs(top=10)["jobId"])


def test_refresh_all_then_cancel(ci: CustomerInsights) -> None:
    job = ci.refresh("all", force=True)
    cancelled = job.cancel()
    assert cancelled is job
    final = job.wait(timeout=60, poll_interval=0.05, progress=False)
    assert final in {"aborted", "successful", "failed"}
    if final == "aborted":
        assert (job.tasks["taskStatus"] != "running").all()


def test_wait_timeout_raises_clear_error(ci: CustomerInsights) -> None:
    job = ci.refresh("all", force=True)
    try:
        with pytest.raises(JobTimeoutError, match="still") as info:
            job.wait(timeout=0.0, poll_interval=0.05, progress=False)
        assert info.value.job_id == job.job_id
        assert isinstance(info.value, TimeoutError)
    finally:
        job.cancel()
        job.wait(timeout=60, poll_interval=0.05, progress=False)


def test_refresh_rejects_unknown_operation(ci: CustomerInsights) -> None:
    with pytest.raises(ValueError, match="operation_type"):
        ci.refresh("everything")


def test_unknown_job_is_not_found(ci: CustomerInsights) -> None:
    with pytest.raises(NotFoundError):
        ci.job("00000000-0000-0000-0000-000000000000")


def test_job_history(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.job_history(top=50)
    assert 0 < len(df) <= 50
    assert DATETIME(df["endTimestamp"])
    body = raw.get(f"instances/{iid}/workflows/main/history", params={"top": 50}).json()
    assert df["taskId"].tolist() == [t["taskId"] for t in body]
    failed = df[df["taskStatus"] == "failed"]
    assert failed["error"].notna().all()


def test_refresh_graph(ci: CustomerInsights, raw: httpx.Client, iid: str) -> None:
    df = ci.refresh_graph()
    body = raw.get(f"instances/{iid}/workflows/main/status").json()
    assert len(df) == len(body)
    assert {"ingestion", "segmentation", "measures", "export"} <= set(df["operationType"])
    assert DATETIME(df["lastSuccessfulTimestamp"])
    assert df["identifier"].tolist() == [n["identifier"] for n in body]


def test_schedules(ci: CustomerInsights) -> None:
    df = ci.schedules()
    assert list(df.columns) == [
        "scheduleId",
        "operationType",
        "identifiers",
        "schedule",
        "cronSchedules",
        "timezoneId",
        "isActive",
        "jobType",
    ]
    assert str(df["isActive"].dtype) == "boolean"
    assert not df.empty
    for _, row in df.iterrows():
        assert row["schedule"] == describe_cron(row["cronSchedules"], row["timezoneId"])


@pytest.mark.parametrize(
    ("crons", "tz", "text"),
    [
        (["0 2 * * *"], "UTC", "daily at 02:00 (UTC)"),
        (["0 9 * * 1-5"], None, "weekdays at 09:00"),
        (["0 5 * * 1"], None, "weekly on Mon at 05:00"),
        (["0 3 1 * * *"], None, "daily at 01:03"),
        (["15 4 1 * *"], None, "monthly on day 1 at 04:15"),
        (["*/15 * * * *"], None, "every 15 minutes"),
        (["bad"], None, "cron bad"),
        (["² 3 * * *"], None, "cron ² 3 * * *"),  # "²".isdigit() is true; int() refuses it
        (["0 ³ * * *"], None, "cron 0 ³ * * *"),
        (["0 3 ¹ * *"], None, "cron 0 3 ¹ * *"),
    ],
)
def test_describe_cron(crons: list[str], tz: str | None, text: str) -> None:
    assert describe_cron(crons, tz) == text
