"""Workflow ``main`` over real HTTPS: jobs, cancel, history, the status graph, schedules."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from ci_toolkit.emulator import Emulator
from ci_toolkit.emulator.workflows.exports import CONNECTION_TYPES
from tests.emulator.contract import assert_matches_contract
from tests.emulator.workflow_helpers import (
    FINISHED,
    assert_api_error,
    parse_time,
    wait_for_job,
    workflow,
)


class Spy:
    """Wraps the engine's DataStore view and records the segment and measure evaluations."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.segments: list[str] = []
        self.measures: list[str] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def evaluate_segment(self, name: str) -> int:
        with self.lock:
            self.segments.append(name)
        count: int = self.inner.evaluate_segment(name)
        return count

    def evaluate_measure(self, name: str) -> None:
        with self.lock:
            self.measures.append(name)
        self.inner.evaluate_measure(name)


@pytest.fixture
def spy(emulator: Emulator, instance_id: str, monkeypatch: pytest.MonkeyPatch) -> Spy:
    engine = emulator.state.instances[instance_id].workflows
    recorder = Spy(engine.source)
    monkeypatch.setattr(engine, "source", recorder)
    return recorder


def submit(api: httpx.Client, instance_id: str, **params: Any) -> dict[str, Any]:
    response = api.post(f"{workflow(instance_id)}/jobs", params=params)
    assert_matches_contract(response, "Submit-a-workflow-job")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_dependency_order(job: dict[str, Any]) -> None:
    tasks = {task["taskId"]: task for task in job["tasks"]}
    for task in job["tasks"]:
        for waiting in task["waitingTaskIds"]:
            upstream = tasks[waiting]
            if task["taskStatus"] in ("successful", "failed"):
                assert upstream["taskStatus"] == "successful"
                assert parse_time(upstream["endTimestamp"]) <= parse_time(
                    task["submittedTimestamp"]
                ), (upstream["friendlyName"], task["friendlyName"])


def test_full_refresh_runs_every_node_in_dependency_order(
    api: httpx.Client, instance_id: str, emulator: Emulator, spy: Spy
) -> None:
    data = emulator.state.instances[instance_id].data
    job = submit(api, instance_id, operationType="all", forceRunRequested=True)
    assert job["jobStatus"] in ("queued", "running")
    assert job["jobSubmissionKind"] == "onDemand"
    assert job["shouldForceRunRequestedNodes"] is True
    done = wait_for_job(api, instance_id, job["jobId"])
    response = api.get(f"{workflow(instance_id)}/jobs/{job['jobId']}", params={"includeTasks": 1})
    assert_matches_contract(response, "Get-a-workflow-job-information")
    assert_dependency_order(done)
    kinds = [task["operationType"] for task in done["tasks"]]
    assert kinds.count("ingestion") == len(data.data_sources())
    assert kinds.count("segmentation") == len(data.segment_names())
    # ingestion before match before merge before segments before exports
    order = ["ingestion", "match", "merge", "measures", "segmentation", "export"]
    firsts = [kinds.index(kind) for kind in order if kind in kinds]
    assert firsts == sorted(firsts)
    assert sorted(spy.segments) == sorted(data.segment_names())
    assert sorted(spy.measures) == sorted(data.measure_names())
    # the Google Ads export fails on every run, so the job does too
    assert done["jobStatus"] == "failed"
    failed = [t for t in done["tasks"] if t["taskStatus"] == "failed"]
    assert [t["friendlyName"].split(": ")[0] for t in failed] == ["Google Ads"]
    assert failed[0]["ciError"]["errorCode"] == "ExportConnectionCredentialExpired"


def test_ingestion_of_one_source_refreshes_it_and_its_dependants(
    api: httpx.Client, instance_id: str, emulator: Emulator
) -> None:
    source = emulator.state.instances[instance_id].data.data_sources()[0]
    job = submit(api, instance_id, operationType="ingestion", identifiers=source["dataSourceId"])
    done = wait_for_job(api, instance_id, job["jobId"])
    ingestion = [t for t in done["tasks"] if t["operationType"] == "ingestion"]
    assert [t["friendlyName"] for t in ingestion] == [source["name"]]
    assert {"match", "merge", "segmentation"} <= {t["operationType"] for t in done["tasks"]}
    assert done["idList"] == [source["dataSourceId"]]
    assert_dependency_order(done)


def test_segment_job_evaluates_the_named_segments(
    api: httpx.Client, instance_id: str, emulator: Emulator, spy: Spy
) -> None:
    names = emulator.state.instances[instance_id].data.segment_names()[:2]
    job = submit(api, instance_id, operationType="segmentation", identifiers=",".join(names))
    done = wait_for_job(api, instance_id, job["jobId"])
    segments = [t for t in done["tasks"] if t["operationType"] == "segmentation"]
    assert sorted(t["friendlyName"] for t in segments) == sorted(names)
    assert all(t["taskStatus"] == "successful" for t in segments)
    assert set(names) <= set(spy.segments)
    assert {t["operationType"] for t in done["tasks"]} <= {"segmentation", "export"}


def test_body_of_an_on_demand_request_is_accepted(api: httpx.Client, instance_id: str) -> None:
    body = {"operationType": "export", "identifiers": ["sftp-call-centre"], "jobType": "full"}
    response = api.post(f"{workflow(instance_id)}/jobs", json=body)
    assert_matches_contract(response, "Submit-a-workflow-job")
    assert response.json()["operationType"] == "export"
    assert [t["friendlyName"] for t in response.json()["tasks"]] == [
        "SFTP: Follow-up list for the call centre"
    ]
    wait_for_job(api, instance_id, response.json()["jobId"])


def test_cancel_aborts_the_job_and_its_unfinished_tasks(
    api: httpx.Client, instance_id: str
) -> None:
    job = submit(api, instance_id, operationType="all")
    response = api.post(f"{workflow(instance_id)}/jobs/{job['jobId']}/cancel")
    assert_matches_contract(response, "Cancel-a-workflow-job")
    assert response.json()["jobStatus"] == "aborted"
    done = wait_for_job(api, instance_id, job["jobId"])
    statuses = [t["taskStatus"] for t in done["tasks"]]
    assert done["jobStatus"] == "aborted"
    assert "aborted" in statuses
    assert set(statuses) <= {"successful", "aborted"}
    assert "endTimestamp" in done
    # cancelling again changes nothing
    again = api.post(f"{workflow(instance_id)}/jobs/{job['jobId']}/cancel")
    assert again.json()["endTimestamp"] == done["endTimestamp"]


def test_a_conflicting_job_is_queued_until_the_first_finishes(
    api: httpx.Client, instance_id: str, emulator: Emulator
) -> None:
    name = emulator.state.instances[instance_id].data.segment_names()[0]
    first = submit(api, instance_id, operationType="segmentation", identifiers=name)
    second = submit(api, instance_id, operationType="segmentation", identifiers=name)
    assert second["jobStatus"] == "queued"
    first_done = wait_for_job(api, instance_id, first["jobId"])
    second_done = wait_for_job(api, instance_id, second["jobId"])
    started = min(parse_time(t["submittedTimestamp"]) for t in second_done["tasks"])
    assert parse_time(first_done["endTimestamp"]) <= started


def test_recent_jobs_top_and_include_tasks(api: httpx.Client, instance_id: str) -> None:
    response = api.get(f"{workflow(instance_id)}/jobs", params={"top": 5})
    assert_matches_contract(response, "Get-list-of-recent-workflow-jobs")
    jobs = response.json()
    assert len(jobs) == 5
    assert all("tasks" not in job for job in jobs)
    submitted = [parse_time(job["submittedTimestamp"]) for job in jobs]
    assert submitted == sorted(submitted, reverse=True)
    response = api.get(f"{workflow(instance_id)}/jobs", params={"top": 3, "includeTasks": "true"})
    assert_matches_contract(response, "Get-list-of-recent-workflow-jobs")
    assert all(job["tasks"] for job in response.json())


def test_seeded_history_shows_weeks_of_runs_with_failures_and_skips(
    api: httpx.Client, instance_id: str
) -> None:
    response = api.get(f"{workflow(instance_id)}/jobs", params={"top": 1000})
    assert_matches_contract(response, "Get-list-of-recent-workflow-jobs")
    scheduled = [job for job in response.json() if job["jobSubmissionKind"] == "scheduled"]
    assert len(scheduled) > 100
    span = parse_time(scheduled[0]["submittedTimestamp"]) - parse_time(
        scheduled[-1]["submittedTimestamp"]
    )
    assert span.days >= 20
    assert {"successful", "failed", "skipped"} <= {job["jobStatus"] for job in scheduled}

    response = api.get(f"{workflow(instance_id)}/history", params={"top": 2000})
    assert_matches_contract(response, "Get-list-of-workflow-task-information-history")
    tasks = response.json()
    codes = {t["ciError"]["errorCode"] for t in tasks if "ciError" in t}
    assert {"ExportConnectionCredentialExpired", "ExportDetached", "DataSourceRefreshFailed"} <= (
        codes
    )
    skipped = [t for t in tasks if t["taskStatus"] == "skipped"]
    assert any(t["ciError"]["errorCode"] == "UpstreamTaskNotSuccessful" for t in skipped)


def test_history_reflects_a_new_run(api: httpx.Client, instance_id: str) -> None:
    job = submit(api, instance_id, operationType="export", identifiers="braze-gold-members")
    wait_for_job(api, instance_id, job["jobId"])
    response = api.get(f"{workflow(instance_id)}/history", params={"top": 50})
    assert_matches_contract(response, "Get-list-of-workflow-task-information-history")
    mine = [t for t in response.json() if job["jobId"] in t["jobIds"]]
    assert [t["friendlyName"] for t in mine] == ["Braze: Gold members to Braze"]
    assert mine[0]["taskStatus"] == "successful"


def test_status_graph_lists_every_node_with_its_last_run(
    api: httpx.Client, instance_id: str, emulator: Emulator
) -> None:
    response = api.get(f"{workflow(instance_id)}/status")
    assert_matches_contract(response, "Get-workflow-status")
    nodes = response.json()
    data = emulator.state.instances[instance_id].data
    by_type: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        by_type.setdefault(node["operationType"], []).append(node)
    assert {n["identifier"] for n in by_type["segmentation"]} == set(data.segment_names())
    assert {n["identifier"] for n in by_type["ingestion"]} == {
        s["dataSourceId"] for s in data.data_sources()
    }
    assert len(by_type["match"]) == len(by_type["merge"]) == 1
    exports = by_type["export"]
    assert {n["friendlyName"].split(": ", 1)[0] for n in exports} == set(CONNECTION_TYPES)
    assert all(n["taskStatus"] in FINISHED | {"queued", "running", "needsUpdate"} for n in nodes)
    assert "lastSuccessfulTimestamp" in by_type["merge"][0]
    assert all(n["additionalInfo"]["kind"] == "export" for n in exports)

    # running the Google Ads and the detached export updates their nodes
    job = submit(
        api,
        instance_id,
        operationType="export",
        identifiers="googleads-high-value,braze-winback",
    )
    wait_for_job(api, instance_id, job["jobId"])
    response = api.get(f"{workflow(instance_id)}/status")
    assert_matches_contract(response, "Get-workflow-status")
    status = {n["identifier"]: n for n in response.json() if n["operationType"] == "export"}
    google, detached = status["googleads-high-value"], status["braze-winback"]
    assert google["taskStatus"] == "failed"
    assert google["jobIds"] == [job["jobId"]]
    assert "lastSuccessfulTimestamp" not in google
    assert detached["taskStatus"] == "skipped"
    assert detached["ciError"]["errorCode"] == "ExportDetached"
    assert detached["selectionReason"] == {"code": "requested"}


def test_schedules_list_create_and_batch(api: httpx.Client, instance_id: str) -> None:
    path = f"{workflow(instance_id)}/schedules"
    response = api.get(path)
    assert_matches_contract(response, "Get-workflow-schedules")
    schedules = response.json()
    exports = [s for s in schedules if s["operationType"] == "export"]
    assert len(exports) >= 6
    assert [s["identifiers"] for s in exports if not s["isActive"]] == [["braze-winback"]]
    assert any(s["operationType"] == "all" and s["isActive"] for s in schedules)

    body = {
        "operationType": "export",
        "identifiers": ["adls-customer-profiles"],
        "cronSchedules": ["15 */6 * * *"],
        "timezoneId": "Asia/Tokyo",
        "isActive": True,
    }
    created = api.post(path, json=body)
    assert_matches_contract(created, "Create-workflow-refresh-schedule")
    schedule = created.json()
    assert schedule["instanceId"] == instance_id
    assert schedule["cronSchedules"] == ["15 */6 * * *"]

    batch = api.post(
        f"{path}/batch",
        json=[dict(body, timezoneId="UTC"), {**body, "operationType": "all", "identifiers": []}],
    )
    assert_matches_contract(batch, "Create-a-batch-of-workflow-refresh-schedules")
    assert len(batch.json()) == 2
    ids = {s["scheduleId"] for s in api.get(path).json()}
    assert {schedule["scheduleId"], *(s["scheduleId"] for s in batch.json())} <= ids

    bad = api.post(f"{path}/batch", json=[body, dict(body, cronSchedules=["0 25 * * *"])])
    assert_api_error(bad, 400, "hour")
    assert len(api.get(path).json()) == len(ids)  # all or nothing
    assert_api_error(api.post(path, json=dict(body, timezoneId="Mars/Base")), 400, "Mars/Base")
    assert_api_error(api.post(path, json=dict(body, identifiers=["nope"])), 400, "nope")


def test_supported_timezones(api: httpx.Client, instance_id: str) -> None:
    response = api.get(f"{workflow(instance_id)}/schedules/supportedTimezones")
    assert_matches_contract(response, "Get-supported-timezones")
    zones = {zone["id"]: zone["name"] for zone in response.json()}
    assert zones["Europe/Berlin"] == "(UTC+01:00) Europe/Berlin"
    assert "UTC" in zones


def test_bad_requests_are_answered_with_api_errors(api: httpx.Client, instance_id: str) -> None:
    base = workflow(instance_id)
    response = api.get(f"{workflow(instance_id, 'nightly')}/status")
    assert_matches_contract(response, "Get-workflow-status")
    assert response.status_code == 404
    assert "nightly" in response.json()["message"]

    missing = "3f5b0c2e-0000-4000-8000-000000000000"
    response = api.get(f"{base}/jobs/{missing}")
    assert_matches_contract(response, "Get-a-workflow-job-information")
    assert response.status_code == 404
    response = api.post(f"{base}/jobs/{missing}/cancel")
    assert_matches_contract(response, "Cancel-a-workflow-job")
    assert response.status_code == 404

    assert_api_error(api.get(f"{base}/jobs/not-a-guid"), 400, "not-a-guid")
    assert_api_error(api.post(f"{base}/jobs", params={"operationType": "reboot"}), 400, "reboot")
    assert_api_error(
        api.post(f"{base}/jobs", params={"operationType": "enrichment"}), 400, "enrichment"
    )
    assert_api_error(
        api.post(f"{base}/jobs", params={"operationType": "segmentation", "identifiers": "Nope"}),
        400,
        "Nope",
    )
    assert_api_error(api.get(f"{base}/jobs", params={"top": "many"}), 400, "top")
    assert_api_error(api.post(f"{base}/jobs", content=b"{oops"), 400, "not JSON")


def test_viewer_reads_but_cannot_submit(emulator: Emulator, instance_id: str) -> None:
    settings = emulator.settings
    headers = {
        "Authorization": f"Bearer {emulator.mint_token(role='viewer')}",
        "Ocp-Apim-Subscription-Key": settings.subscription_key,
    }
    with httpx.Client(
        base_url=settings.base_url, verify=settings.ssl_context(), headers=headers, timeout=30
    ) as viewer:
        assert viewer.get(f"{workflow(instance_id)}/status").status_code == 200
        response = viewer.post(f"{workflow(instance_id)}/jobs", params={"operationType": "all"})
        assert response.status_code == 403
