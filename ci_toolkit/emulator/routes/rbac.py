"""Permissions: role definitions, the caller's role and role assignments of an instance."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.errors import ApiError
from ci_toolkit.emulator.identity import ROLE_DESCRIPTIONS, ROLES
from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.routes._common import json_body, json_response, require_instance
from ci_toolkit.emulator.state import InstanceState

__all__ = ["role_assignments"]

PRINCIPAL_TYPES = ("user", "group", "app")


def _assignment(instance: InstanceState, object_id: str) -> dict[str, Any]:
    return {
        "principalId": object_id,
        "principalType": instance.principal_types.get(object_id, "user"),
        "roles": [instance.role_assignments[object_id]],
        "instanceId": instance.instance_id,
    }


def role_assignments(instance: InstanceState) -> list[dict[str, Any]]:
    """All ``RoleAssignment`` objects of an instance."""
    return [_assignment(instance, oid) for oid in instance.role_assignments]


def _principal_id(request: Request) -> str:
    raw = str(request.path_params["principalId"])
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(
            400, "InvalidPrincipalId", f"'{raw}' is not a valid principal id: expected a GUID."
        ) from None


@operation("Get-all-role-definitions")
async def get_role_definitions(request: Request, ctx: RequestContext) -> Response:
    """The three roles of Customer Insights."""
    return json_response(
        [{"roleName": role, "description": ROLE_DESCRIPTIONS[role]} for role in ROLES], ctx
    )


@operation("Get-current-user-role")
async def get_my_role(request: Request, ctx: RequestContext) -> Response:
    """The caller's assignment on the instance."""
    instance = require_instance(ctx)
    return json_response(_assignment(instance, ctx.principal.object_id), ctx)


@operation("Get-all-role-assignments")
async def get_role_assignments(request: Request, ctx: RequestContext) -> Response:
    """Every assignment on the instance."""
    return json_response(role_assignments(require_instance(ctx)), ctx)


@operation("Update-a-role-assignment")
async def update_role_assignment(request: Request, ctx: RequestContext) -> Response:
    """Add or change one principal's role; answers with all assignments."""
    instance = require_instance(ctx)
    principal_id = _principal_id(request)
    body = await json_body(request)
    roles = body.get("roles")
    if (
        not isinstance(roles, list)
        or len(roles) != 1
        or not isinstance(roles[0], str)
        or roles[0].lower() not in ROLES
    ):
        raise ApiError(
            400,
            "InvalidRoleAssignment",
            f"'roles' must list exactly one of {', '.join(ROLES)}; got {roles!r}.",
        )
    kind = body.get("principalType", instance.principal_types.get(principal_id, "user"))
    if kind not in PRINCIPAL_TYPES:
        raise ApiError(
            400,
            "InvalidRoleAssignment",
            f"'principalType' must be one of {', '.join(PRINCIPAL_TYPES)}; got {kind!r}.",
        )
    body_id = body.get("principalId")
    if body_id is not None and str(body_id).lower() != principal_id:
        raise ApiError(
            400,
            "InvalidRoleAssignment",
            f"'principalId' in the body ({body_id}) differs from the path ({principal_id}).",
        )
    role = roles[0].lower()
    _keep_an_admin(instance, principal_id, role)
    instance.role_assignments[principal_id] = role
    instance.principal_types[principal_id] = kind
    ctx.state.save_role_assignments(instance)
    return json_response(role_assignments(instance), ctx)


@operation("Deletes-a-role-assignment")
async def delete_role_assignment(request: Request, ctx: RequestContext) -> Response:
    """Remove one principal's role on the instance."""
    instance = require_instance(ctx)
    principal_id = _principal_id(request)
    if principal_id not in instance.role_assignments:
        raise ApiError(
            404,
            "RoleAssignmentNotFound",
            f"Principal '{principal_id}' has no role on instance '{instance.instance_id}'.",
        )
    _keep_an_admin(instance, principal_id, None)
    del instance.role_assignments[principal_id]
    instance.principal_types.pop(principal_id, None)
    ctx.state.save_role_assignments(instance)
    return Response(status_code=200, headers={"x-ms-request-id": ctx.request_id})


def _keep_an_admin(instance: InstanceState, principal_id: str, new_role: str | None) -> None:
    """Refuse a change that would leave the instance without any admin."""
    if instance.role_assignments.get(principal_id) != "admin" or new_role == "admin":
        return
    admins = [oid for oid, role in instance.role_assignments.items() if role == "admin"]
    if admins == [principal_id]:
        raise ApiError(
            400,
            "LastAdmin",
            "This is the instance's last admin; assign another admin first.",
        )
