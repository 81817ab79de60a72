"""Segments: list (with size history), create, update, activate, deactivate and delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.routes._common import json_body, json_response
from ci_toolkit.emulator.routes.data import bool_param, call_store, int_param, store_of

__all__: list[str] = []


@operation("Get-all-segments")
async def get_all_segments(request: Request, ctx: RequestContext) -> Response:
    """``SegmentMetadata`` of every segment; ``evaluationStatusHistory`` when asked."""
    store = store_of(ctx)
    segments = await call_store(
        store.segments,
        include_history=bool_param(request, "includeHistoricStats"),
        history_days=int_param(request, "historicStatsDays"),
        limit=int_param(request, "numberOfSegments"),
    )
    return json_response(segments, ctx)


@operation("Create-a-segment")
async def create_segment(request: Request, ctx: RequestContext) -> Response:
    """Create a segment from a ``SegmentMetadata`` body and evaluate it (201)."""
    store = store_of(ctx)
    body = await json_body(request)
    created = await call_store(store.create_segment, body, actor=ctx.principal.name)
    return json_response(created, ctx, status=201)


@operation("Update-a-segment")
async def update_segment(request: Request, ctx: RequestContext) -> Response:
    """Replace a segment's definition (name stays) and re-evaluate it."""
    store = store_of(ctx)
    body = await json_body(request)
    name = str(request.path_params["segmentName"])
    updated = await call_store(store.update_segment, name, body, actor=ctx.principal.name)
    return json_response(updated, ctx)


@operation("Activate-segment")
async def activate_segment(request: Request, ctx: RequestContext) -> Response:
    """Set a segment active and evaluate it."""
    store = store_of(ctx)
    name = str(request.path_params["segmentName"])
    done = await call_store(store.set_segment_state, name, True, actor=ctx.principal.name)
    return json_response(done, ctx)


@operation("Deactivate-segment")
async def deactivate_segment(request: Request, ctx: RequestContext) -> Response:
    """Set a segment inactive (its last members stay queryable)."""
    store = store_of(ctx)
    name = str(request.path_params["segmentName"])
    done = await call_store(store.set_segment_state, name, False, actor=ctx.principal.name)
    return json_response(done, ctx)


@operation("Delete-segment")
async def delete_segment(request: Request, ctx: RequestContext) -> Response:
    """Delete a segment and its member table."""
    store = store_of(ctx)
    await call_store(store.delete_segment, str(request.path_params["segmentName"]))
    return json_response({"statusCode": 200}, ctx)
