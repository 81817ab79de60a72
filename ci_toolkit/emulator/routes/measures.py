"""Measures: list, get (with history), create, update and delete.

Invalid definitions answer 400 with the contract's ``ParsingError`` body.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.data.store import DefinitionError
from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.routes._common import json_body, json_response
from ci_toolkit.emulator.routes.data import bool_param, call_store, int_param, store_of

__all__: list[str] = []


def _parsing_error(exc: DefinitionError, ctx: RequestContext) -> Response:
    code = exc.code if exc.code in _CODES else "invalidArgument"
    body: dict[str, Any] = {"code": code, "messages": [{"message": exc.message}]}
    return json_response(body, ctx, status=400)


_CODES = {
    "unknown", "parsingFailed", "entityNotFound", "attributeNotFound", "unsupportedSyntax",
    "invalidOperation", "incorrectArgumentCount", "incorrectIntervalType", "invalidArgument",
}  # fmt: skip


@operation("Get-a-list-of-measures-metadata")
async def get_measures(request: Request, ctx: RequestContext) -> Response:
    """``MeasureMetadata`` of every measure with its latest output."""
    store = store_of(ctx)
    bool_param(request, "templateSummaryIncluded")
    return json_response(await call_store(store.measures), ctx)


@operation("Get-metadata-for-a-measure")
async def get_measure(request: Request, ctx: RequestContext) -> Response:
    """``MeasureMetadata`` of one measure; daily ``outputHistory`` when asked."""
    store = store_of(ctx)
    measure = await call_store(
        store.measure,
        str(request.path_params["measureName"]),
        include_history=bool_param(request, "includeHistoricStats"),
        history_days=int_param(request, "historicStatsDays"),
    )
    return json_response(measure, ctx)


@operation("Create-a-measure")
async def create_measure(request: Request, ctx: RequestContext) -> Response:
    """Create a measure from a ``MeasureMetadata`` body and evaluate it."""
    store = store_of(ctx)
    body = await json_body(request)
    try:
        created = await call_store(
            store.create_measure, body, actor=ctx.principal.name, raise_definition_errors=True
        )
    except DefinitionError as exc:
        return _parsing_error(exc, ctx)
    return json_response(created, ctx)


@operation("Update-a-measure")
async def update_measure(request: Request, ctx: RequestContext) -> Response:
    """Replace a measure's definition (name stays) and re-evaluate it."""
    store = store_of(ctx)
    body = await json_body(request)
    name = str(request.path_params["measureName"])
    try:
        updated = await call_store(
            store.update_measure, name, body, actor=ctx.principal.name,
            raise_definition_errors=True,
        )  # fmt: skip
    except DefinitionError as exc:
        return _parsing_error(exc, ctx)
    return json_response(updated, ctx)


@operation("Delete-a-measure")
async def delete_measure(request: Request, ctx: RequestContext) -> Response:
    """Delete a measure (its ``Customer_Measure`` column goes too)."""
    store = store_of(ctx)
    await call_store(store.delete_measure, str(request.path_params["measureName"]))
    return json_response({"statusCode": 200}, ctx)
