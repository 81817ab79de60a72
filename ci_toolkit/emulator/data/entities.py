"""Entity catalogue of an instance: which entities exist and how the contract describes them.

The column names and types come from DuckDB (so they always match the rows served); this
module adds what the service reports around them: entity types, data sources, keys,
semantic types, searchable attributes and relationships.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ci_toolkit.emulator.data.demo import DATA_SOURCES, source_tables
from ci_toolkit.emulator.data.odata import kind_of

__all__ = [
    "DATA_TYPES",
    "SEARCHABLE",
    "EntityInfo",
    "attribute_metadata",
    "data_source_id",
    "entity_metadata",
    "iso",
    "relationships",
]

_NAMESPACE = uuid.UUID("0b5f2c3e-7a61-4d1e-8f0c-5e2d9b7a4c11")

#: Value kind -> the ``dataType`` reported in ``IAttributeMetadata`` (CDM model.json names).
DATA_TYPES: dict[str, str] = {
    "string": "string",
    "int": "int64",
    "double": "double",
    "bool": "boolean",
    "datetime": "dateTime",
    "date": "date",
}

#: Semantic types of well-known attributes (``IAttributeMetadata.semanticType``).
SEMANTIC_TYPES: dict[str, str] = {
    "CustomerId": "Customer",
    "FirstName": "PersonFirstName",
    "LastName": "PersonLastName",
    "FullName": "PersonFullName",
    "Email": "IdentityServiceEmail",
    "Phone": "IdentityServicePhone",
    "City": "LocationCity",
    "Country": "LocationCountry",
    "CreatedOn": "MeasurementDateCreation",
    "ModifiedOn": "MeasurementDateModify",
    "Channel": "Channel",
}

#: Attributes that ``$search`` looks at, per entity kind.
SEARCHABLE: dict[str, list[str]] = {
    "Customer": ["FirstName", "LastName", "FullName", "Email", "Phone", "City", "Country"],
    "UnifiedActivity": ["ActivityType", "ActivityTypeDisplay", "Title", "Channel"],
    "segment": ["FirstName", "LastName", "FullName", "Email"],
}


def iso(value: datetime) -> str:
    """An aware or naive-UTC datetime as ISO 8601 with ``Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def data_source_id(instance_id: str, data_source: str) -> str:
    """The stable id of a data source of an instance."""
    return str(uuid.uuid5(_NAMESPACE, f"{instance_id}:datasource:{data_source}"))


@dataclass(frozen=True)
class EntityInfo:
    """One entity: its OData name, the relation that holds its rows and what it is."""

    name: str
    relation: str
    kind: str  # "system" | "source" | "segment"
    entity_type: str
    dataflow_type: str
    key: str
    data_source: str | None = None
    timestamp: str | None = None

    @property
    def searchable(self) -> list[str]:
        """Attributes ``$search`` looks at."""
        if self.kind == "segment":
            return SEARCHABLE["segment"]
        return SEARCHABLE.get(self.name, [])

    @property
    def search_columns(self) -> list[str]:
        """The columns a search scans: FirstName and LastName are inside FullName already."""
        names = self.searchable
        if "FullName" in names:
            names = [n for n in names if n not in {"FirstName", "LastName"}]
        return names


def system_entities() -> list[EntityInfo]:
    """The unified entities every instance has."""
    return [
        EntityInfo("Customer", "Customer", "system", "profile", "conflationResolveConflicts",
                   "CustomerId", timestamp="CreatedOn"),
        EntityInfo("UnifiedActivity", "UnifiedActivity", "system", "unifiedActivity",
                   "unifiedActivity", "ActivityId", timestamp="ActivityTime"),
        EntityInfo("Customer_Measure", "Customer_Measure", "system", "profileKpi", "kpi",
                   "CustomerId"),
    ]  # fmt: skip


def source_entities() -> list[EntityInfo]:
    """The ingested source tables ``<DataSource>_<Table>``."""
    out = []
    for t in source_tables():
        out.append(
            EntityInfo(
                t.name,
                f'"{t.name}"',
                "source",
                "unspecified" if t.kind == "profile" else "activity",
                "powerQuery",
                t.primary_key,
                data_source=t.data_source,
                timestamp="ModifiedOn" if t.kind == "profile" else "EventTime",
            )
        )
    return out


def attribute_metadata(name: str, sql_type: str, *, searchable: bool) -> dict[str, Any]:
    """``IAttributeMetadata`` of one column."""
    attr: dict[str, Any] = {
        "name": name,
        "friendlyName": _friendly(name),
        "baseName": name,
        "dataType": DATA_TYPES[kind_of(sql_type)],
        "searchProperties": {
            "isSearchable": searchable,
            "isFilterable": True,
            "isFacetable": kind_of(sql_type) in {"string", "bool"},
            "isSortable": True,
        },
    }
    if name in SEMANTIC_TYPES:
        attr["semanticType"] = SEMANTIC_TYPES[name]
    return attr


def _friendly(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if i and ch.isupper() and not name[i - 1].isupper() and name[i - 1] != "_":
            out.append(" ")
        out.append(" " if ch == "_" else ch)
    return "".join(out)


def entity_metadata(
    entity: EntityInfo,
    columns: dict[str, str],
    *,
    instance_id: str,
    refreshed: datetime,
    base_url: str = "https://ciemulator.blob.core.windows.net",
) -> dict[str, Any]:
    """``IEntityMetadata`` of an entity with the given columns."""
    searchable = set(entity.searchable)
    attributes = [attribute_metadata(n, t, searchable=n in searchable) for n, t in columns.items()]
    by_name = {a["name"]: a for a in attributes}
    folder = f"{base_url}/{instance_id}/{entity.name}"
    meta: dict[str, Any] = {
        "name": entity.name,
        "qualifiedEntityName": entity.name,
        "dataflowType": entity.dataflow_type,
        "entityType": entity.entity_type,
        "attributes": attributes,
        "keys": [[by_name[entity.key]]] if entity.key in by_name else [],
        "relationships": [],
        "refreshTime": iso(refreshed),
        "shouldUseSparkSasAuth": False,
        "partitions": [
            {
                "name": f"{entity.name}-part-0",
                "location": f"{folder}/{entity.name}.csv",
                "refreshTime": iso(refreshed),
                "isCIGenerated": entity.kind != "source",
                "hasHeader": True,
            }
        ],
        "fullPartitionsParquet": [
            {
                "name": f"{entity.name}-parquet-0",
                "location": f"{folder}/{entity.name}.parquet",
                "refreshTime": iso(refreshed),
                "isCIGenerated": entity.kind != "source",
            }
        ],
        "annotations": [{"name": "kind", "value": entity.kind}],
    }
    if entity.data_source is not None:
        meta["dataSourceName"] = entity.data_source
        meta["datasourceId"] = data_source_id(instance_id, entity.data_source)
    if entity.timestamp is not None and entity.timestamp in by_name:
        meta["timestampAttribute"] = by_name[entity.timestamp]
    if entity.name == "Customer":
        meta["semanticType"] = "Customer"
    return meta


def relationships(
    instance_id: str, created: datetime, segment_names: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(user relationships, system-created relationships)`` as ``RelationshipMetadata``."""
    stamp = {
        "version": 1,
        "createdBy": "ci-emulator",
        "createdUtc": iso(created),
        "updatedBy": "ci-emulator",
        "updatedUtc": iso(created),
        "instanceId": instance_id,
    }

    def rel(name: str, frm: tuple[str, str], to: tuple[str, str], card: str, src: str,
            rtype: str, friendly: str) -> dict[str, Any]:  # fmt: skip
        return {
            "name": name,
            "friendlyName": friendly,
            "description": friendly,
            "relationshipType": rtype,
            "fromEntityName": frm[0],
            "fromAttributeName": frm[1],
            "toEntityName": to[0],
            "toAttributeName": to[1],
            "cardinality": card,
            "source": src,
            **stamp,
        }

    user: list[dict[str, Any]] = []
    for ds, tables in DATA_SOURCES.items():
        profile = next((t for t in tables if t.kind == "profile"), None)
        for t in tables:
            if t.kind == "activity" and profile is not None:
                user.append(
                    rel(
                        f"{t.name}_{profile.name}",
                        (t.name, "CustomerRef"),
                        (profile.name, profile.primary_key),
                        "manyToOne",
                        "user",
                        "singleKeyRelationshipOrigin",
                        f"{ds}: {t.table} belong to {profile.table}",
                    )
                )
    system: list[dict[str, Any]] = []
    for t in source_tables():
        if t.kind == "profile":
            system.append(
                rel(
                    f"{t.name}_Customer",
                    (t.name, t.primary_key),
                    ("Customer", t.alternate_key),
                    "oneToOne",
                    "system",
                    "dataSourceLineageOrigin",
                    f"{t.name} unified into Customer",
                )
            )
    system.append(
        rel("UnifiedActivity_Customer", ("UnifiedActivity", "CustomerId"),
            ("Customer", "CustomerId"), "manyToOne", "system", "singleKeyRelationshipOrigin",
            "Activities of a customer")
    )  # fmt: skip
    system.append(
        rel("Customer_Measure_Customer", ("Customer_Measure", "CustomerId"),
            ("Customer", "CustomerId"), "oneToOne", "system", "singleKeyRelationshipOrigin",
            "Measures of a customer")
    )  # fmt: skip
    for seg in segment_names:
        system.append(
            rel(f"{seg}_Customer", (seg, "CustomerId"), ("Customer", "CustomerId"), "oneToOne",
                "system", "singleKeyRelationshipOrigin", f"Members of segment {seg}")
        )  # fmt: skip
    return user, system
