"""Waiting on refresh jobs and export runs under 10% injected faults: the true final state.

Each test switches on the same faults as the pull soak (10% of API requests: 429 with
``Retry-After``, 503, dropped connection, slow response), with a seed chosen so that the job
submission itself (the POST) gets the fault under test. The job is then waited for, with a
poll every 0.1 s (each poll another draw of the faults). The emulator's own state, read with
a plain client once the faults are off, is the ground truth: exactly one job was created
(a submission is never duplicated), and its final status is the one ``wait()`` reported.
The demo's Google Ads export always fails: its run must be *reported* as failed, not turned
into an exception by the faults.

The emulator's faults never lose the answer of a job it created (they strike before the
request reaches the service), so a small fake service (``httpx.MockTransport``) covers that
case: the job is adopted, never submitted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ci_toolkit.client import CustomerInsights, JobHandle
from ci_toolkit.emulator import Emulator, EmulatorConfig
from ci_toolkit.exceptions import ServiceUnreachableError
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession
from ci_toolkit.resources.jobs import FINAL_STATUSES
from tests.reliability.conftest import (
    FAULT_KINDS,
    FAULT_RATE,
    FaultLog,
    connect,
    faults_off,
    raw_api,
    seed_faulting,
    seed_where,
)

FAILING_EXPORT = "googleads-high-value"
WORKING_EXPORT = "sftp-call-centre"
POST_FAULTS = [None, *FAULT_KINDS]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """Small demo data, jobs of a few seconds (dozens of polls), 60-second tokens."""
    with Emulator(EmulatorConfig(profiles=2_000, seed=31, time_scale=0.6, token_lifetime=60)) as e:
        yield e


@pytest.fixture
def ci(emu: Emulator) -> Iterator[CustomerInsights]:
    faults_off(emu)
    client = connect(emu)
    client.exports()  # sign in and warm up before the faults start
    yield client
    faults_off(emu)
    client.close()


def _jobs(emu: Emulator) -> dict[str, dict[str, Any]]:
    """Every job the emulator holds, by id (read through its API, faults off)."""
    faults_off(emu)
    with raw_api(emu) as api:
        path = f"instances/{emu.settings.instance_id}/workflows/main/jobs"
        body = api.get(path, params={"top": 1000, "includeTasks": "true"}).json()
    return {str(job["jobId"]): job for job in body}


def _faults_on(emu: Emulator, post_at: int, kind: str | None) -> None:
    """10% faults from now on; the ``post_at``-th API request (the POST) gets ``kind``."""
    emu.set_faults(
        fault_rate=FAULT_RATE,
        kinds=FAULT_KINDS,
        retry_after=1,
        slow_seconds=0.5,
        seed=seed_faulting(post_at, kind),
    )


def _wait(job: JobHandle) -> str:
    started = time.monotonic()
    status = job.wait(timeout=60, poll_interval=0.1, progress=False)
    assert time.monotonic() - started < 60
    return status


def _check_one_new_job(
    emu: Emulator, before: dict[str, dict[str, Any]], job: JobHandle, status: str
) -> dict[str, Any]:
    after = _jobs(emu)
    created = set(after) - set(before)
    assert created == {job.job_id}, f"{len(created)} jobs were created"  # never duplicated
    truth = after[job.job_id]
    assert status == job.status == truth["jobStatus"]
    assert status in FINAL_STATUSES
    # every task of the emulator's job ended, as the handle's last poll saw it
    assert {t["taskId"]: t["taskStatus"] for t in truth["tasks"]} == dict(
        zip(job.tasks["taskId"], job.tasks["taskStatus"], strict=True)
    )
    return truth


@pytest.mark.parametrize("post_fault", POST_FAULTS, ids=lambda k: f"post-{k or 'clean'}")
def test_refresh_job_is_submitted_once_and_waited_for_under_faults(
    emu: Emulator, ci: CustomerInsights, fault_log: FaultLog, post_fault: str | None
) -> None:
    before = _jobs(emu)
    _faults_on(emu, post_at=2, kind=post_fault)  # 1: the jobs listed before, 2: the POST
    job = ci.refresh("segmentation", identifiers=["HighValueCustomers"], force=True)
    status = _wait(job)
    faults_off(emu)
    truth = _check_one_new_job(emu, before, job, status)
    tasks = {t["friendlyName"]: t["taskStatus"] for t in truth["tasks"]}
    assert tasks["HighValueCustomers"] == "successful"
    if post_fault is not None:
        assert fault_log.requests[(post_fault, "POST")] == 1  # the submission did get it


def test_failing_export_is_reported_failed_not_raised_under_faults(
    emu: Emulator, ci: CustomerInsights, fault_log: FaultLog
) -> None:
    before = _jobs(emu)
    # 1: the refresh graph (export lookup), 2: the jobs listed before, 3: the POST
    _faults_on(emu, post_at=3, kind="unavailable")
    job = ci.run_export(FAILING_EXPORT, force=True)
    status = _wait(job)
    faults_off(emu)
    truth = _check_one_new_job(emu, before, job, status)
    assert status == "failed"
    assert not job.succeeded
    [task] = [t for t in truth["tasks"] if t["taskStatus"] == "failed"]
    assert "Google Ads" in task["friendlyName"]
    assert job.tasks["error"].notna().any()  # the reason is reported with the status
    assert fault_log.requests[("unavailable", "POST")] == 1


def test_working_export_is_reported_successful_under_faults(
    emu: Emulator, ci: CustomerInsights, fault_log: FaultLog
) -> None:
    before = _jobs(emu)
    _faults_on(emu, post_at=3, kind="drop")
    job = ci.run_export(WORKING_EXPORT, force=True)
    status = _wait(job)
    faults_off(emu)
    _check_one_new_job(emu, before, job, status)
    assert status == "successful"
    assert job.succeeded
    assert fault_log.requests[("drop", "POST")] == 1


def test_polls_meeting_every_kind_of_fault_never_end_a_wait_early(
    emu: Emulator, ci: CustomerInsights, fault_log: FaultLog
) -> None:
    # A whole refresh runs for several seconds: dozens of polls. The seed makes the first
    # eight requests after the submission (polls and their retries, a few seconds with the
    # waits the faults ask for) meet each kind of fault.
    def wanted(draws: list[str | None]) -> bool:
        return draws[:2] == [None, None] and set(FAULT_KINDS) <= set(draws[2:])

    before = _jobs(emu)
    emu.set_faults(
        fault_rate=FAULT_RATE, kinds=FAULT_KINDS, retry_after=1, slow_seconds=0.5,
        seed=seed_where(10, wanted),
    )  # fmt: skip
    job = ci.refresh("all", force=True)
    status = _wait(job)
    faults_off(emu)
    _check_one_new_job(emu, before, job, status)
    for kind in FAULT_KINDS:  # the polls met every kind of fault, and rode them out
        assert fault_log.requests[(kind, "GET")] >= 1, fault_log.requests


# -- what the emulator cannot do on demand: a job created, and its answer lost --------------------


class FakeJobs:
    """``.../workflows/main/jobs`` of a fake service whose first POST goes wrong on purpose.

    The first submission fails with ``failure``, after creating its job when ``created``;
    later ones create a job and answer normally. GET lists the jobs, newest first.
    """

    def __init__(self, failure: Callable[[httpx.Request], BaseException], *, created: bool) -> None:
        self.failure = failure
        self.created = created
        self.jobs: list[dict[str, Any]] = []
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return httpx.Response(200, json=self.jobs)
        self.posts += 1
        job = {
            "jobId": f"job-{self.posts}",
            "operationType": "segmentation",
            "idList": request.url.params.get_list("identifiers"),
            "jobStatus": "running",
        }
        if self.posts > 1 or self.created:
            self.jobs.insert(0, job)
        if self.posts == 1:
            raise self.failure(request)
        return httpx.Response(200, json=job)  # fmt: skip


def _refresh(service: FakeJobs) -> JobHandle:
    policy = RetryPolicy(sleep=lambda seconds: None)
    client = httpx.Client(base_url="https://ci.example/v1/", transport=httpx.MockTransport(service))
    ci = CustomerInsights(ApiSession(client, retry_policy=policy), instance_id="i1")
    return ci.refresh("segmentation", identifiers=["HighValueCustomers"])


def _dropped(request: httpx.Request) -> BaseException:
    return httpx.RemoteProtocolError("Server disconnected without sending a response.")


def test_a_job_created_whose_answer_was_lost_is_adopted_not_submitted_again() -> None:
    service = FakeJobs(_dropped, created=True)
    job = _refresh(service)
    assert service.posts == 1  # never sent twice
    assert [j["jobId"] for j in service.jobs] == [job.job_id] == ["job-1"]  # the one created


def test_a_submission_that_created_nothing_is_sent_again_once() -> None:
    service = FakeJobs(_dropped, created=False)
    job = _refresh(service)
    assert service.posts == 2
    assert [j["jobId"] for j in service.jobs] == [job.job_id] == ["job-2"]


def test_a_submission_that_timed_out_is_never_sent_again() -> None:
    service = FakeJobs(lambda r: httpx.ReadTimeout("timed out", request=r), created=False)
    with pytest.raises(ServiceUnreachableError, match=r"ci\.jobs\(\)"):
        _refresh(service)
    assert service.posts == 1  # the service may still be creating it: the caller decides
