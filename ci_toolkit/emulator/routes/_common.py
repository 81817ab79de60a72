"""Small helpers shared by the platform's route modules."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ci_toolkit.emulator.errors import ApiError
from ci_toolkit.emulator.routes import RequestContext
from ci_toolkit.emulator.state import InstanceState

__all__ = ["iso", "json_body", "json_response", "require_instance"]


def iso(moment: datetime) -> str:
    """``2026-01-31T12:00:00Z`` (RFC 3339, UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(body: Any, ctx: RequestContext, status: int = 200) -> JSONResponse:
    """A JSON response carrying the request id."""
    return JSONResponse(body, status_code=status, headers={"x-ms-request-id": ctx.request_id})


def require_instance(ctx: RequestContext) -> InstanceState:
    """The instance the app resolved from the path (always set for instance operations)."""
    if ctx.instance is None:
        raise ApiError(400, "InvalidInstanceId", "The request names no instance.")
    return ctx.instance


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body; 400 ``ApiErrorResult`` when it is not one."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "InvalidRequestBody", "The request body is empty; expected JSON.")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidRequestBody", f"The request body is not JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestBody", "The request body must be a JSON object.")
    return body
