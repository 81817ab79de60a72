"""Handlers for the contract's operations, one module per resource.

A handler is registered for an ``operationId`` of the contract with :func:`operation`::

    @operation("Get-all-segments")
    async def list_segments(request: Request, ctx: RequestContext) -> Response: ...

Operations without a handler answer 501 with an ``ApiErrorResult`` naming them (see ``app``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.contract import operations

if TYPE_CHECKING:
    from ci_toolkit.emulator.identity import Principal
    from ci_toolkit.emulator.state import EmulatorState, InstanceState

__all__ = ["HANDLERS", "Handler", "RequestContext", "operation"]


@dataclass
class RequestContext:
    """What the gateway established about a request before its handler runs."""

    state: EmulatorState
    principal: Principal
    request_id: str
    #: The instance named by ``{instanceId}`` in the path, resolved and checked; None otherwise.
    instance: InstanceState | None = None


Handler = Callable[[Request, RequestContext], Awaitable[Response]]

HANDLERS: dict[str, Handler] = {}


def operation(operation_id: str) -> Callable[[Handler], Handler]:
    """Register ``func`` as the handler of the contract operation ``operation_id``."""
    known = {op.operation_id for op in operations()}
    if operation_id not in known:
        raise ValueError(f"{operation_id!r} is not an operationId of the contract")

    def register(func: Handler) -> Handler:
        if operation_id in HANDLERS:
            raise ValueError(f"{operation_id!r} already has a handler")
        HANDLERS[operation_id] = func
        return func

    return register
