"""Profile store state (``Get-profile-store-state``) and search configuration
(``Get-search-configuration``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.routes._common import iso, json_response, require_instance
from ci_toolkit.emulator.state import InstanceState

__all__ = ["DEFAULT_SEARCHABLE", "search_configuration"]

#: ``Customer`` attributes with full-text search when the data store names none itself.
DEFAULT_SEARCHABLE = ("FirstName", "LastName", "FullName", "Email", "Phone", "City", "Country")
#: Attributes that can be filtered, sorted and faceted but not searched.
DEFAULT_FILTERABLE = ("CustomerId", "Gender", "BirthDate", "LoyaltyTier", "EmailOptIn")
#: Rough bytes per unified profile in the profile store (for ``size``).
BYTES_PER_PROFILE = 1_450


def _searchable(instance: InstanceState) -> tuple[str, ...]:
    named = getattr(instance.data, "searchable_attributes", None)
    if isinstance(named, Sequence) and named and all(isinstance(n, str) for n in named):
        return tuple(named)
    return DEFAULT_SEARCHABLE


def search_configuration(instance: InstanceState, updated_by: str) -> dict[str, Any]:
    """The ``InstanceSearchConfiguration`` of an instance."""
    searchable = _searchable(instance)
    filterable = [name for name in DEFAULT_FILTERABLE if name not in searchable]
    attributes: list[dict[str, Any]] = [
        {
            "name": name,
            "properties": {
                "isSearchable": True,
                "isFilterable": True,
                "isFacetable": name in {"City", "Country"},
                "isSortable": True,
            },
        }
        for name in searchable
    ]
    attributes += [
        {
            "name": name,
            "properties": {
                "isSearchable": False,
                "isFilterable": True,
                "isFacetable": name in {"Gender", "LoyaltyTier"},
                "isSortable": True,
            },
        }
        for name in filterable
    ]
    return {
        "entityConfig": [{"qualifiedEntityName": "Customer", "attributes": attributes}],
        "isSystemGenerated": True,
        "version": 1,
        "createdBy": updated_by,
        "createdUtc": iso(instance.created),
        "updatedBy": updated_by,
        "updatedUtc": iso(instance.created),
        "instanceId": instance.instance_id,
    }


def _profile_count(instance: InstanceState) -> int:
    count = getattr(instance.data, "profiles", 0)
    return count if isinstance(count, int) else 0


@operation("Get-profile-store-state")
async def get_profile_store_state(request: Request, ctx: RequestContext) -> Response:
    """The profile store holds the merged profiles and is queryable."""
    instance = require_instance(ctx)
    rows = _profile_count(instance)
    hydration = {"merge": "hydrated", "segmentation": "hydrated", "measures": "hydrated"}
    body = {
        "instanceId": instance.instance_id,
        "ingestionTime": iso(ctx.state.now),
        "primaryInfo": {
            "currentState": "queryable" if rows else "empty",
            "rowCount": rows,
            "size": rows * BYTES_PER_PROFILE,
            "profileStoreHydrationStateInfo": hydration,
        },
        "secondaryInfo": {
            "currentState": "empty",
            "rowCount": 0,
            "size": 0,
            "profileStoreHydrationStateInfo": {"merge": "nothingToHydrate"},
        },
    }
    return json_response(body, ctx)


@operation("Get-search-configuration")
async def get_search_configuration(request: Request, ctx: RequestContext) -> Response:
    """Which ``Customer`` attributes are searchable, filterable, facetable and sortable."""
    instance = require_instance(ctx)
    admin = ctx.state.directory.user_for_role("admin")
    return json_response(search_configuration(instance, admin.upn), ctx)
