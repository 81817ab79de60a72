"""Workflow operations on ``/instances/{instanceId}/workflows/{workflowName}/...``.

Only the workflow ``main`` exists; other names answer 404. The work happens in the
instance's :class:`~ci_toolkit.emulator.workflows.engine.WorkflowEngine`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ci_toolkit.emulator.errors import ApiError
from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.workflows.engine import WorkflowEngine
from ci_toolkit.emulator.workflows.graph import SelectionError
from ci_toolkit.emulator.workflows.model import OPERATION_TYPES, canonical_operation_type
from ci_toolkit.emulator.workflows.schedules import ScheduleError
from ci_toolkit.emulator.workflows.timezones import supported_timezones

__all__ = ["WORKFLOW_NAME"]

#: The one workflow of an instance.
WORKFLOW_NAME = "main"
#: How many jobs / task runs a list returns when ``top`` is not given.
DEFAULT_TOP_JOBS = 50
DEFAULT_TOP_HISTORY = 200


def _respond(body: Any, ctx: RequestContext) -> JSONResponse:
    return JSONResponse(body, headers={"x-ms-request-id": ctx.request_id})


def _engine(request: Request, ctx: RequestContext, *, any_name: bool = False) -> WorkflowEngine:
    """The instance's engine, after checking the workflow name.

    The contract documents the schedule and time zone operations as taking "any workflow
    name" (and gives them no 404), so ``any_name`` skips the check for them.
    """
    name = str(request.path_params.get("workflowName", ""))
    if name != WORKFLOW_NAME and not any_name:
        raise ApiError(
            404,
            "WorkflowNotFound",
            f"Workflow '{name}' was not found; instances have one workflow, '{WORKFLOW_NAME}'.",
        )
    if ctx.instance is None:
        raise ApiError(400, "InvalidInstanceId", "The request names no instance.")
    return ctx.instance.workflows


def _bool(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ApiError(
            400, "InvalidQueryParameter", f"{name} must be true or false, not {value!r}."
        )
    return lowered in ("true", "1")


def _top(request: Request, default: int) -> int:
    value = request.query_params.get("top")
    if value is None or value == "":
        return default
    try:
        top = int(value)
    except ValueError:
        raise ApiError(
            400, "InvalidQueryParameter", f"top must be a whole number, not {value!r}."
        ) from None
    if top < 1:
        raise ApiError(400, "InvalidQueryParameter", f"top must be at least 1, not {top}.")
    return top


def _job_id(request: Request) -> str:
    raw = str(request.path_params.get("jobId", ""))
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(
            400,
            "InvalidJobId",
            f"'{raw}' is not a valid job id: expected a GUID such as "
            "'00000000-0000-0000-0000-000000000000'.",
        ) from None


async def _json(request: Request, *, required: bool) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(400, "InvalidRequestBody", "The request body is empty; expected JSON.")
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ApiError(
            400, "InvalidRequestBody", f"The request body is not JSON: {error}."
        ) from None


def _identifiers(request: Request) -> list[str]:
    """``identifiers`` given repeated (``identifiers=a&identifiers=b``) or comma-separated."""
    found: list[str] = []
    for value in request.query_params.getlist("identifiers"):
        # Microsoft's examples quote the id (``identifiers='{dataSourceId}'``): quotes go.
        found.extend(
            part.strip().strip("'\"").strip() for part in value.split(",") if part.strip("'\" ")
        )
    return found


@operation("Submit-a-workflow-job")
async def submit_job(request: Request, ctx: RequestContext) -> Response:
    """Start a job; query parameters win over an ``OnDemandJobRequest`` body."""
    engine = _engine(request, ctx)
    body = await _json(request, required=False)
    if body is not None and not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestBody", "The body must be an OnDemandJobRequest object.")
    body = body or {}
    operation_type = request.query_params.get("operationType") or body.get("operationType")
    given_type = str(operation_type or "all")
    operation_type = canonical_operation_type(given_type)
    if operation_type is None:
        raise ApiError(
            400,
            "InvalidOperationType",
            f"operationType {given_type!r} is not an operation type; use one of: "
            + ", ".join(OPERATION_TYPES),
        )
    identifiers = _identifiers(request)
    if not identifiers:
        given = body.get("identifiers") or []
        if not isinstance(given, list) or not all(isinstance(i, str) for i in given):
            raise ApiError(400, "InvalidRequestBody", "identifiers must be a list of strings.")
        identifiers = list(given)
    force = _bool(request, "forceRunRequested", bool(body.get("forceRunRequested", False)))
    job_type: Literal["full", "incremental"] = "full"
    if body.get("jobType") in (None, "full", "incremental"):
        job_type = body.get("jobType") or "full"
    else:
        raise ApiError(400, "InvalidRequestBody", "jobType must be 'full' or 'incremental'.")
    kind: Literal["onDemand", "scheduled"] = "onDemand"
    if body.get("submissionKind") in (None, "onDemand", "scheduled"):
        kind = body.get("submissionKind") or "onDemand"
    else:
        raise ApiError(400, "InvalidRequestBody", "submissionKind must be onDemand or scheduled.")
    try:
        job = await engine.submit(
            operation_type=operation_type,
            identifiers=identifiers,
            force_run=force,
            job_type=job_type,
            submission_kind=kind,
        )
    except SelectionError as error:
        raise ApiError(400, "InvalidWorkflowJobRequest", str(error)) from None
    return _respond(job.to_json(include_tasks=True), ctx)


@operation("Get-list-of-recent-workflow-jobs")
async def list_jobs(request: Request, ctx: RequestContext) -> Response:
    """Recent jobs, newest first."""
    engine = _engine(request, ctx)
    include = _bool(request, "includeTasks", False)
    jobs = await engine.jobs(top=_top(request, DEFAULT_TOP_JOBS))
    return _respond([job.to_json(include_tasks=include) for job in jobs], ctx)


async def _known_job(request: Request, ctx: RequestContext, *, cancel: bool) -> Response:
    engine = _engine(request, ctx)
    job_id = _job_id(request)
    job = await (engine.cancel(job_id) if cancel else engine.job(job_id))
    if job is None:
        raise ApiError(404, "JobNotFound", f"Job '{job_id}' of workflow 'main' was not found.")
    include = True if cancel else _bool(request, "includeTasks", False)
    return _respond(job.to_json(include_tasks=include), ctx)


@operation("Get-a-workflow-job-information")
async def get_job(request: Request, ctx: RequestContext) -> Response:
    """One job."""
    return await _known_job(request, ctx, cancel=False)


@operation("Cancel-a-workflow-job")
async def cancel_job(request: Request, ctx: RequestContext) -> Response:
    """Cancel a job; a finished job is returned unchanged."""
    return await _known_job(request, ctx, cancel=True)


@operation("Get-list-of-workflow-task-information-history")
async def list_history(request: Request, ctx: RequestContext) -> Response:
    """Task runs of all jobs, newest first."""
    engine = _engine(request, ctx)
    tasks = await engine.history(top=_top(request, DEFAULT_TOP_HISTORY))
    return _respond([task.to_json() for task in tasks], ctx)


@operation("Get-workflow-status")
async def get_status(request: Request, ctx: RequestContext) -> Response:
    """The refresh graph with each node's latest status."""
    engine = _engine(request, ctx)
    return _respond(await engine.status(), ctx)


@operation("Get-workflow-schedules")
async def list_schedules(request: Request, ctx: RequestContext) -> Response:
    """Every schedule."""
    engine = _engine(request, ctx, any_name=True)
    return _respond(await engine.schedules(), ctx)


@operation("Create-workflow-refresh-schedule")
async def create_schedule(request: Request, ctx: RequestContext) -> Response:
    """Create one schedule."""
    engine = _engine(request, ctx, any_name=True)
    body = await _json(request, required=True)
    try:
        (stored,) = await engine.create_schedules([body])
    except ScheduleError as error:
        raise ApiError(400, "InvalidSchedule", str(error)) from None
    return _respond(stored, ctx)


@operation("Create-a-batch-of-workflow-refresh-schedules")
async def create_schedules(request: Request, ctx: RequestContext) -> Response:
    """Create several schedules, all or none."""
    engine = _engine(request, ctx, any_name=True)
    body = await _json(request, required=True)
    if not isinstance(body, list):
        raise ApiError(
            400, "InvalidRequestBody", "The body must be a JSON array of WorkflowRefreshSchedule."
        )
    try:
        stored = await engine.create_schedules(body)
    except ScheduleError as error:
        raise ApiError(400, "InvalidSchedule", str(error)) from None
    return _respond(stored, ctx)


@operation("Get-supported-timezones")
async def list_timezones(request: Request, ctx: RequestContext) -> Response:
    """Time zones schedules accept (any workflow name is fine here, as in the contract)."""
    return _respond(supported_timezones(), ctx)
