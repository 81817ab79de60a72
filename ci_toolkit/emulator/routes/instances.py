"""Instances: ``Get-all-instances`` and ``Get-instance-metadata``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.routes._common import iso, json_response, require_instance
from ci_toolkit.emulator.state import InstanceState

__all__ = ["instance_info", "instance_metadata"]

REGION = "westeurope"
SCALE_UNIT = "euwe-prod-su-01"
PLATFORM = "CustomerInsights"


def instance_info(instance: InstanceState) -> dict[str, Any]:
    """The ``InstanceInfo`` of an instance."""
    info: dict[str, Any] = {
        "instanceId": instance.instance_id,
        "name": instance.name,
        "instanceType": instance.instance_type,
        "scaleUnitId": SCALE_UNIT,
        "azureRegion": REGION,
        "platformType": PLATFORM,
    }
    if instance.instance_type == "trial":
        info["expiryTimeUtc"] = iso(instance.created + timedelta(days=30))
        info["maxTrialExtensionsAllowed"] = 1
    return info


def instance_metadata(instance: InstanceState, created_by: str) -> dict[str, Any]:
    """The ``InstanceMetadata`` of an instance."""
    schedule_id = str(uuid.uuid5(uuid.UUID(instance.instance_id), "refresh-schedule"))
    org = instance.name.lower().replace(" ", "")
    return {
        "instanceId": instance.instance_id,
        "name": instance.name,
        "instanceType": instance.instance_type,
        "provisioningState": "active",
        "isB2B": False,
        "isB2C": True,
        "isByoPbi": False,
        "isByoSynapse": False,
        "isCdsMdlOrCdsByodl": False,
        "isRefreshCredentialRequired": False,
        "region": REGION,
        "azureRegion": REGION,
        "platformType": PLATFORM,
        "configuredWorkspaces": ["Main"],
        "refreshSchedule": {
            "isActive": True,
            "timezoneId": "UTC",
            "cronSchedules": ["0 2 * * *"],
            "scheduleId": schedule_id,
            "instanceId": instance.instance_id,
        },
        "cdsOrgInfo": {
            "friendlyName": instance.name,
            "url": f"https://{org}.crm4.dynamics.com",
            "state": "Enabled",
            "location": "europe",
            "environmentSku": "Production" if instance.instance_type == "production" else "Sandbox",
        },
        "version": 1,
        "createdBy": created_by,
        "createdUtc": iso(instance.created),
        "updatedBy": created_by,
        "updatedUtc": iso(instance.created),
    }


@operation("Get-all-instances")
async def get_all_instances(request: Request, ctx: RequestContext) -> Response:
    """Instances on which the caller holds a role."""
    mine = [
        instance_info(instance)
        for instance in ctx.state.instances.values()
        if ctx.principal.object_id in instance.role_assignments
    ]
    return json_response(mine, ctx)


@operation("Get-instance-metadata")
async def get_instance_metadata(request: Request, ctx: RequestContext) -> Response:
    """Metadata of the instance in the path."""
    instance = require_instance(ctx)
    admin = ctx.state.directory.user_for_role("admin")
    return json_response(instance_metadata(instance, admin.upn), ctx)
