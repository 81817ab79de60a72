"""What Dataverse says about its tables: the CSDL ``$metadata``, ``EntityDefinitions`` and
their ``Attributes``, with the ``$select``/``$filter`` a metadata query takes (no paging).

Example
-------
>>> from ci_toolkit.emulator.dataverse.tables import TABLES
>>> entity_definition(TABLES["msdynci_customerprofile"])["EntitySetName"]
'msdynci_customerprofiles'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from odata_query import ast

from ci_toolkit.emulator.data.odata import ODataQueryError, parse_filter
from ci_toolkit.emulator.dataverse.errors import GENERIC, DataverseError
from ci_toolkit.emulator.dataverse.guids import table_guid
from ci_toolkit.emulator.dataverse.tables import (
    ATTRIBUTE_TYPE_CODES,
    ATTRIBUTE_TYPES,
    Column,
    Table,
)

__all__ = [
    "attribute_definition",
    "csdl",
    "entity_definition",
    "filter_metadata",
    "select_metadata",
]

logger = logging.getLogger(__name__)

NAMESPACE = "Microsoft.Dynamics.CRM"


def _label(text: str) -> dict[str, Any]:
    label = {"Label": text, "LanguageCode": 1033, "IsManaged": True}
    return {"LocalizedLabels": [label], "UserLocalizedLabel": label}


def entity_definition(table: Table) -> dict[str, Any]:
    """The ``EntityMetadata`` of a table (the properties a reader uses)."""
    return {
        "MetadataId": table.metadata_id,
        "LogicalName": table.logical,
        "SchemaName": table.logical,
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.collection,
        "CollectionSchemaName": table.collection,
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ObjectTypeCode": table.object_type_code,
        "TableType": "Elastic",
        "OwnershipType": "UserOwned",
        "IsCustomEntity": True,
        "IsManaged": True,
        "IsActivity": False,
        "IsValidForAdvancedFind": True,
        "DisplayName": _label(table.display),
        "DisplayCollectionName": _label(table.display + "s"),
        "Description": _label(f"Customer Insights - Data output table {table.display}."),
    }


def attribute_definition(table: Table, column: Column) -> dict[str, Any]:
    """The ``AttributeMetadata`` of one column (``@odata.type`` names its derived type)."""
    kind = column.attribute_type
    out: dict[str, Any] = {
        "@odata.type": f"#{NAMESPACE}.{kind}AttributeMetadata",
        "MetadataId": table_guid("AttributeMetadata", f"{table.logical}.{column.logical}"),
        "LogicalName": column.logical,
        "SchemaName": column.logical,
        "EntityLogicalName": table.logical,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": ATTRIBUTE_TYPES[kind][2]},
        "AttributeOf": None,
        "IsPrimaryId": column.logical == table.primary_id,
        "IsPrimaryName": column.logical == table.primary_name,
        "IsCustomAttribute": column.logical.startswith("msdynci_"),
        "IsValidForRead": True,
        "IsValidForCreate": False,
        "IsValidForUpdate": False,
        "IsLogical": False,
        "DisplayName": _label(column.logical),
        "ColumnNumber": None,
    }
    if column.max_length is not None:
        out["MaxLength"] = column.max_length
    if column.target is not None:
        out["Targets"] = [column.target]
    if kind == "DateTime":
        out["Format"] = "DateOnly" if column.logical == "overriddencreatedon" else "DateAndTime"
        out["DateTimeBehavior"] = {"Value": "UserLocal"}
    return out


# ------------------------------------------------------------------------------------------
# $select and $filter on metadata
# ------------------------------------------------------------------------------------------

_ENUM = re.compile(r"Microsoft\.Dynamics\.CRM\.\w+'([^']*)'")


def select_metadata(items: Iterable[Mapping[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """``items`` with only the ``$select``-ed properties (``MetadataId`` always kept)."""
    rows = [dict(item) for item in items]
    if text is None or not text.strip():
        return rows
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if rows and not any(name in row for row in rows):
            raise DataverseError(
                400,
                GENERIC,
                f"Could not find a property named '{name}' on type '{NAMESPACE}.EntityMetadata'.",
            )
    keep = {"MetadataId", "@odata.type", *names}
    return [{k: v for k, v in row.items() if k in keep} for row in rows]


def filter_metadata(
    items: Sequence[Mapping[str, Any]], text: str | None
) -> list[Mapping[str, Any]]:
    """The items matching a metadata ``$filter`` (``eq``/``ne``, ``and``/``or``/``not``).

    Enum literals may be written as Dataverse documents them
    (``Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'``) or as plain strings.
    """
    if text is None or not text.strip():
        return list(items)
    try:
        tree = parse_filter(_ENUM.sub(r"'\1'", text))
    except ODataQueryError as exc:
        raise DataverseError(400, GENERIC, exc.message) from None
    return [item for item in items if _matches(tree, item)]


def _value(node: Any, item: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Identifier):
        value = item.get(node.name)
        if isinstance(value, dict) and "Value" in value:
            return value["Value"]
        return value
    if isinstance(node, ast._Literal):
        return None if isinstance(node, ast.Null) else node.py_val
    raise DataverseError(
        400, GENERIC, "Only comparisons of properties with values are supported on metadata."
    )


def _matches(node: Any, item: Mapping[str, Any]) -> bool:
    if isinstance(node, ast.BoolOp):
        left, right = _matches(node.left, item), _matches(node.right, item)
        return (left and right) if isinstance(node.op, ast.And) else (left or right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _matches(node.operand, item)
    if isinstance(node, ast.Compare) and isinstance(node.comparator, ast.Eq | ast.NotEq):
        left, right = _value(node.left, item), _value(node.right, item)
        if isinstance(left, str) and isinstance(right, str):
            equal = left.lower() == right.lower()
        else:
            equal = left == right
        return equal if isinstance(node.comparator, ast.Eq) else not equal
    raise DataverseError(
        400,
        GENERIC,
        "The emulator supports eq, ne, and, or and not in $filter on metadata entities.",
    )


# ------------------------------------------------------------------------------------------
# CSDL
# ------------------------------------------------------------------------------------------


def _property(column: Column) -> str:
    extra = ' Unicode="false"' if column.edm_type == "Edm.String" else ""
    return f"<Property Name={quoteattr(column.name)} Type={quoteattr(column.edm_type)}{extra}/>"


def csdl(tables: Mapping[Table, Sequence[Column]]) -> str:
    """The ``$metadata`` document (OData CSDL XML, namespace ``Microsoft.Dynamics.CRM``)."""
    types = []
    sets = []
    for table, columns in tables.items():
        props = "".join(_property(c) for c in columns)
        types.append(
            f'<EntityType Name="{table.logical}" BaseType="mscrm.crmbaseentity">'
            f'<Key><PropertyRef Name="{table.primary_id}"/></Key>{props}</EntityType>'
        )
        sets.append(f'<EntitySet Name="{table.entity_set}" EntityType="mscrm.{table.logical}"/>')
    whoami = "".join(
        f'<Property Name="{name}" Type="Edm.Guid" Nullable="false"/>'
        for name in ("BusinessUnitId", "UserId", "OrganizationId")
    )
    codes = "".join(
        f'<Member Name="{name}" Value="{value}"/>' for name, value in ATTRIBUTE_TYPE_CODES.items()
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
        "<edmx:DataServices>"
        f'<Schema Namespace="{NAMESPACE}" Alias="mscrm" '
        'xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        '<EntityType Name="crmbaseentity" Abstract="true"/>'
        f"{''.join(types)}"
        f'<ComplexType Name="WhoAmIResponse">{whoami}</ComplexType>'
        f'<EnumType Name="AttributeTypeCode">{codes}</EnumType>'
        '<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false"/>'
        "</Function>"
        '<EntityContainer Name="System">'
        f"{''.join(sets)}"
        '<FunctionImport Name="WhoAmI" Function="mscrm.WhoAmI" IncludeInServiceDocument="false"/>'
        "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
