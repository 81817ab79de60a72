"""Helpers for the workflow tests: paths, polling jobs, checking error bodies."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from ci_toolkit.emulator.contract import load_spec

__all__ = [
    "FINISHED",
    "assert_api_error",
    "parse_time",
    "wait_for_job",
    "workflow",
]

FINISHED = {"successful", "failed", "skipped", "aborted", "timedOut", "deleted"}


def workflow(instance_id: str, name: str = "main") -> str:
    """``/instances/<id>/workflows/<name>``."""
    return f"/instances/{instance_id}/workflows/{name}"


def parse_time(text: str) -> datetime:
    """A contract date-time (``...Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait_for_job(api: httpx.Client, instance_id: str, job_id: str, timeout: float = 30) -> Any:
    """Poll the job (with tasks) until it has finished; returns its last ``GraphJobInfo``."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"{workflow(instance_id)}/jobs/{job_id}", params={"includeTasks": True})
        assert response.status_code == 200, response.text
        job = response.json()
        if job["jobStatus"] in FINISHED:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['jobStatus']}"
        time.sleep(0.05)


def assert_api_error(response: httpx.Response, status: int, fragment: str) -> None:
    """The response has ``status`` and an ``ApiErrorResult`` body whose message has ``fragment``.

    (Used for statuses the contract does not declare for the operation, such as 400, where
    ``assert_matches_contract`` cannot apply; the body is checked against ``ApiErrorResult``.)
    """
    assert response.status_code == status, response.text
    schema = load_spec()["components"]["schemas"]["ApiErrorResult"]
    plain = {k: v for k, v in schema.items() if k != "properties"}
    properties = dict(schema["properties"])
    properties.pop("ciResults", None)  # a $ref list; always [] in the emulator's errors
    validator = OAS30Validator(
        {**plain, "properties": properties}, format_checker=oas30_format_checker
    )
    body = response.json()
    errors = list(validator.iter_errors(body))
    assert not errors, errors[0].message
    assert body["httpStatusCode"] == str(status)
    assert fragment in body["message"], body["message"]
