"""The emulator's ASGI app: every contract operation under ``/v1``, plus the emulated Azure AD.

Each operation of the contract gets a route (paths exactly as in the contract). A request
passes the gateway (credentials, throttling, faults), then :func:`_dispatch` resolves
``{instanceId}``, checks the caller's role on that instance and calls the handler registered
in ``routes.HANDLERS``; operations without one answer 501 with an ``ApiErrorResult``.

Example
-------
>>> from ci_toolkit.emulator.config import EmulatorConfig
>>> from ci_toolkit.emulator.state import EmulatorState
>>> app = build_app(EmulatorState(EmulatorConfig(profiles=10)))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
import uuid
from dataclasses import replace
from functools import cache

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from ci_toolkit.emulator import routes
from ci_toolkit.emulator.aad import AzureAD
from ci_toolkit.emulator.contract import Operation, load_spec, operations
from ci_toolkit.emulator.dataverse import DATAVERSE_ROOTS, DataverseService
from ci_toolkit.emulator.errors import ApiError, gateway_error
from ci_toolkit.emulator.gateway import (
    PRINCIPAL_KEY,
    FaultInjector,
    FaultSettings,
    GatewayMiddleware,
    RequestIdMiddleware,
    request_id_of,
)
from ci_toolkit.emulator.identity import ROLES, Principal, Role
from ci_toolkit.emulator.routes import RequestContext
from ci_toolkit.emulator.state import EmulatorState, InstanceState

__all__ = ["ADMIN_ONLY_OPERATIONS", "build_app", "required_role"]

logger = logging.getLogger(__name__)

#: Route modules of the platform part (always present) and of the other parts (optional).
ROUTE_MODULES = ("instances", "rbac", "misc")
OPTIONAL_ROUTE_MODULES = ("data", "entities", "segments", "measures", "workflows")

#: Operations only an admin may call (permissions and the instance lifecycle).
ADMIN_ONLY_OPERATIONS = frozenset(
    {
        "Update-a-role-assignment",
        "Deletes-a-role-assignment",
        "Create-an-instance",
        "Update-an-instance",
        "Delete-an-instance",
        "Copy-an-instance",
        "Reset-an-instance",
    }
)

_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}


def load_route_modules() -> list[str]:
    """Import the route modules so their handlers register; return the ones found."""
    loaded: list[str] = []
    for name in ROUTE_MODULES:
        importlib.import_module(f"{routes.__name__}.{name}")
        loaded.append(name)
    for name in OPTIONAL_ROUTE_MODULES:
        module = f"{routes.__name__}.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            logger.debug("Route module %s is not there (yet)", module)
        else:
            loaded.append(name)
    return loaded


def required_role(op: Operation) -> Role:
    """The least role that may call ``op``: reads need viewer, changes contributor or admin."""
    if op.operation_id in ADMIN_ONLY_OPERATIONS:
        return "admin"
    if op.method == "GET":
        return "viewer"
    return "contributor"


@cache
def _odata_operations() -> frozenset[str]:
    """Operations whose error responses are ``ODataError`` (the data endpoints)."""
    found: set[str] = set()
    for item in load_spec()["paths"].values():
        for method, spec in item.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            for response in spec.get("responses", {}).values():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref", "").endswith("/ODataError"):
                    found.add(spec["operationId"])
    return frozenset(found)


def _route_path(path: str) -> str:
    return path.replace("{relativePath}", "{relativePath:path}")


def _specificity(op: Operation) -> tuple[int, ...]:
    """Sort key: literal segments before parameters, ``:path`` parameters last."""
    key = []
    for segment in _route_path(op.path).strip("/").split("/"):
        key.append(2 if segment.endswith(":path}") else 1 if segment.startswith("{") else 0)
    return tuple(key)


def _resolve_instance(state: EmulatorState, instance_id: str, *, odata: bool) -> InstanceState:
    try:
        canonical = str(uuid.UUID(instance_id))
    except ValueError:
        raise ApiError(
            400,
            "InvalidInstanceId",
            f"'{instance_id}' is not a valid instance id: expected a GUID such as "
            "'00000000-0000-0000-0000-000000000000'.",
            odata=odata,
        ) from None
    instance = state.instances.get(canonical)
    if instance is None:
        raise ApiError(
            404, "InstanceNotFound", f"Instance '{canonical}' was not found.", odata=odata
        )
    return instance


def _check_role(op: Operation, principal: Principal, instance: InstanceState | None) -> Principal:
    """The principal with its role on ``instance``; 403 when the role is too weak."""
    odata = op.operation_id in _odata_operations()
    role: str | None = principal.role
    if instance is not None:
        role = instance.role_assignments.get(principal.object_id)
        if role not in _RANK:
            raise ApiError(
                403,
                "Forbidden",
                f"Principal '{principal.name}' ({principal.object_id}) has no role on instance "
                f"'{instance.instance_id}'. An admin can assign one.",
                odata=odata,
            )
    assert role in _RANK
    needed = required_role(op)
    if _RANK[role] > _RANK[needed]:
        where = f" on instance '{instance.instance_id}'" if instance else ""
        raise ApiError(
            403,
            "Forbidden",
            f"The role '{role}' of '{principal.name}'{where} does not allow '{op.operation_id}'"
            f" ({op.method} {op.path}); it needs the '{needed}' role"
            f"{' or higher' if needed != 'admin' else ''}.",
            odata=odata,
        )
    return replace(principal, role=role) if role != principal.role else principal  # type: ignore[arg-type]


def _endpoint(state: EmulatorState, op: Operation) -> Route:
    odata = op.operation_id in _odata_operations()

    async def dispatch(request: Request) -> Response:
        rid = request_id_of(request.scope)
        try:
            principal = request.scope.get(PRINCIPAL_KEY)
            if not isinstance(principal, Principal):
                raise ApiError(401, "Unauthorized", "No authenticated principal.", odata=odata)
            ctx = RequestContext(state=state, principal=principal, request_id=rid)
            instance_id = request.path_params.get("instanceId")
            if instance_id is not None:
                ctx.instance = _resolve_instance(state, str(instance_id), odata=odata)
            ctx.principal = _check_role(op, principal, ctx.instance)
            handler = routes.HANDLERS.get(op.operation_id)
            if handler is None:
                raise ApiError(
                    501,
                    "NotImplemented",
                    f"The emulator does not implement the operation '{op.operation_id}' "
                    f"({op.method} /v1{op.path}).",
                    culprit="system",
                    odata=odata,
                )
            return await handler(request, ctx)
        except ApiError as exc:
            return exc.response(rid)
        except RecursionError:
            # Only input nested beyond reason gets here (a JSON body of thousands of levels,
            # a $filter of thousands of nested 'not'): the request's fault, never a 500.
            logger.info("Request %s to %s is nested too deeply", rid, op.operation_id)
            return ApiError(
                400,
                "RequestTooComplex",
                "The request is nested too deeply (its JSON body or its $filter); "
                "send it with fewer nested levels.",
                odata=odata,
            ).response(rid)
        except Exception:
            logger.exception("Handler of %s failed (request %s)", op.operation_id, rid)
            return ApiError(
                500,
                "InternalServerError",
                f"The emulator failed while handling '{op.operation_id}'. Request id: {rid}.",
                culprit="system",
                odata=odata,
            ).response(rid)

    dispatch.__name__ = op.operation_id.replace("-", "_")
    return Route(_route_path(op.path), dispatch, methods=[op.method], name=op.operation_id)


async def _not_found(request: Request, exc: Exception) -> Response:
    """What the API Management gateway answers when no operation matches."""
    return gateway_error(404, "Resource not found", request_id_of(request.scope))


def build_api(state: EmulatorState) -> Starlette:
    """The ``/v1`` app without the gateway: one route per contract operation."""
    load_route_modules()
    ops = sorted(operations(), key=_specificity)
    api_routes: list[BaseRoute] = [_endpoint(state, op) for op in ops]
    return Starlette(routes=api_routes, exception_handlers={HTTPException: _not_found})


def build_app(state: EmulatorState, *, faults: FaultInjector | None = None) -> Starlette:
    """The whole emulator: gateway + API under ``/v1``, Dataverse and the emulated Azure AD.

    Parameters
    ----------
    state
        The emulated world the handlers serve.
    faults
        The fault injector the gateway uses; one built from ``state.config`` when ``None``.

    Returns
    -------
    Starlette
        The ASGI app; ``app.state.faults`` is the fault injector, ``app.state.aad`` the
        emulated Azure AD, ``app.state.dataverse`` the Dataverse Web API.
    """
    config = state.config
    if faults is None:
        faults = FaultInjector(
            FaultSettings(
                latency_ms=config.latency_ms,
                rate_limit=config.rate_limit,
                fault_rate=config.fault_rate,
                seed=config.seed,
            )
        )
    aad = AzureAD(state)
    gateway = GatewayMiddleware(build_api(state), state, faults)
    dataverse = DataverseService.from_config(state, faults, issuer=gateway.expected_issuer)
    app = Starlette(
        routes=[
            Mount("/v1", app=gateway),
            *(Mount(root, app=dataverse) for root in DATAVERSE_ROOTS),
            *aad.routes(),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
    )
    app.state.faults = faults
    app.state.dataverse = dataverse
    app.state.aad = aad
    app.state.emulator = state
    return app
