"""Entities and their metadata, sizes and data profiles; data sources; relationships;
hierarchies; activity types of a customer and the key ring of a source key."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.errors import ApiError
from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.routes._common import json_response
from ci_toolkit.emulator.routes.data import bool_param, call_store, store_of

__all__: list[str] = []


@operation("Get-all-entity-metadata")
async def get_all_entity_metadata(request: Request, ctx: RequestContext) -> Response:
    """``IC360EntityModel`` with every entity's ``IEntityMetadata``."""
    store = store_of(ctx)
    bool_param(request, "attributesAnnotations")
    bool_param(request, "includeQuarantined")
    entities = await call_store(store.all_entity_metadata)
    return json_response({"instanceId": store.instance_id, "entities": entities}, ctx)


@operation("Get-entity-metadata")
async def get_entity_metadata(request: Request, ctx: RequestContext) -> Response:
    """``IEntityMetadata`` of one entity."""
    store = store_of(ctx)
    bool_param(request, "attributesAnnotations")
    name = str(request.path_params["entityName"])
    return json_response(await call_store(store.entity_metadata, name), ctx)


@operation("Get-entity-size")
async def get_entity_size(request: Request, ctx: RequestContext) -> Response:
    """``EntitySize``: rows and estimated bytes."""
    store = store_of(ctx)
    name = str(request.path_params["entityName"])
    return json_response(await call_store(store.entity_size, name), ctx)


@operation("Get-an-entity-profile")
async def get_entity_profile(request: Request, ctx: RequestContext) -> Response:
    """``EntityDataProfile``, with attribute profiles when ``includeAttributeData=true``."""
    store = store_of(ctx)
    name = str(request.path_params["qualifiedEntityName"])
    include = bool_param(request, "includeAttributeData")
    profile = await call_store(store.entity_profile, name, include_attributes=include)
    return json_response(profile, ctx)


@operation("Get-an-attribute-profile")
async def get_attribute_profile(request: Request, ctx: RequestContext) -> Response:
    """``AttributeDataProfile`` of one attribute."""
    store = store_of(ctx)
    name = str(request.path_params["qualifiedEntityName"])
    attribute = str(request.path_params["attributeName"])
    return json_response(await call_store(store.attribute_profile, name, attribute), ctx)


def _public(info: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in info.items() if k in {"dataSourceMetadata", "model"}}


@operation("Get-all-data-sources")
async def get_all_data_sources(request: Request, ctx: RequestContext) -> Response:
    """``DataSourceInfo`` of every data source."""
    store = store_of(ctx)
    sources = await call_store(store.data_sources)
    return json_response([_public(s) for s in sources], ctx)


#: ``GET .../manage/datasources/v2``: not in the v1 contract, but Microsoft's "OData query
#: examples" page lists it ("Get data source IDs ... check the 'friendlyName' for a specific
#: data source and then use its 'dataSourceId'"). Its route is the contract's
#: ``/manage/datasources/{dataSourceId}``, so ``v2`` arrives as a data source id.
DATA_SOURCES_V2 = "v2"


@operation("Get-data-source")
async def get_data_source(request: Request, ctx: RequestContext) -> Response:
    """``DataSourceInfo`` of one data source (the model only with ``includeModel=true``).

    ``.../manage/datasources/v2`` lists every data source instead, each as its
    ``DataSourceMetadata`` (``dataSourceId``, ``friendlyName``, ``entityNames``...): the
    documented listing whose items carry those two properties at the top (the body is not
    documented beyond that; the v1 ``DataSourceInfo`` nests them under ``dataSourceMetadata``).
    """
    store = store_of(ctx)
    data_source_id = str(request.path_params["dataSourceId"])
    if data_source_id.lower() == DATA_SOURCES_V2:
        sources = await call_store(store.data_sources)
        return json_response([s["dataSourceMetadata"] for s in sources], ctx)
    include_model = bool_param(request, "includeModel")
    source = _public(await call_store(store.data_source, data_source_id))
    if not include_model:
        source.pop("model", None)
    return json_response(source, ctx)


@operation("Get-all-relationships")
async def get_all_relationships(request: Request, ctx: RequestContext) -> Response:
    """User-defined relationships between source tables."""
    user, _ = await call_store(store_of(ctx).relationships)
    return json_response(user, ctx)


@operation("Get-all-system-created-relationships")
async def get_system_relationships(request: Request, ctx: RequestContext) -> Response:
    """Relationships the system created (lineage into Customer, activities, measures...)."""
    _, system = await call_store(store_of(ctx).relationships)
    return json_response(system, ctx)


@operation("Get-a-relationship")
async def get_relationship(request: Request, ctx: RequestContext) -> Response:
    """One relationship by name."""
    name = str(request.path_params["relationshipName"])
    return json_response(await call_store(store_of(ctx).relationship, name), ctx)


@operation("Get-all-hierarchies")
async def get_all_hierarchies(request: Request, ctx: RequestContext) -> Response:
    """``HierarchyMetadata`` of every account hierarchy: none in the demo data.

    Hierarchies relate business accounts to parent accounts (B2B); the demo brand's
    customers are individuals, so the list is empty, as on a real B2C instance.
    """
    store_of(ctx)
    return json_response([], ctx)


@operation("Get-a-hierarchy")
async def get_hierarchy(request: Request, ctx: RequestContext) -> Response:
    """One ``HierarchyMetadata`` by id: 404 for any well-formed id (the demo has none)."""
    store_of(ctx)
    raw = str(request.path_params["hierarchyId"])
    try:
        hierarchy_id = str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(
            400,
            "InvalidParameter",
            f"'{raw}' is not a valid hierarchy id: expected a GUID such as "
            "'00000000-0000-0000-0000-000000000000' (Get-all-hierarchies lists them).",
        ) from None
    raise ApiError(
        404,
        "HierarchyNotFound",
        f"Hierarchy '{hierarchy_id}' was not found; this instance has no hierarchies "
        "(Get-all-hierarchies lists them).",
    )


@operation("Get-Activity-Types-and-Counts")
async def get_activity_types(request: Request, ctx: RequestContext) -> Response:
    """How many activities of each type a customer has (``keyRing``: type -> count)."""
    store = store_of(ctx)
    customer_id = request.query_params.get("customerId")
    if not customer_id:
        raise ApiError(400, "InvalidParameter", "The query parameter 'customerId' is required.")
    counts = await call_store(store.activity_counts, customer_id)
    body = {"instanceId": store.instance_id, "customerId": customer_id, "keyRing": counts}
    return json_response(body, ctx)


@operation("Get-KeyRing")
async def get_key_ring(request: Request, ctx: RequestContext) -> Response:
    """The unified profile and all source keys of the profile with a given source key."""
    store = store_of(ctx)
    missing = [
        p for p in ("dataSourceName", "entityName", "key") if not request.query_params.get(p)
    ]
    if missing:
        raise ApiError(
            400, "InvalidParameter", f"Missing query parameter(s): {', '.join(missing)}."
        )
    q = request.query_params
    ring = await call_store(store.key_ring, q["dataSourceName"], q["entityName"], q["key"])
    return json_response({"instanceId": store.instance_id, **ring}, ctx)
