"""The Customer Insights tables in Dataverse, as SQL over the demo instance's own tables.

Each table is a query over the demo data of the production instance (``Customer``,
``UnifiedActivity``, ``Customer_Measure``, the evaluated segments), so the same customers
are the same rows on the v1 and the Dataverse paths; nothing is copied. Names, keys and
column types are those of Microsoft's entity reference (DATAVERSE-NOTES section 4): all are
elastic, user-owned tables; profile columns are ``"msdynci_" + attribute.lower()``.

Each table is built on first use as a DuckDB table (:func:`materialize`, again when a
source it reads was replaced) holding the visible columns, ``@odata.etag``, and ``_sk``:
the sort key of the primary key (:mod:`~ci_toolkit.emulator.dataverse.guids`), by which
the rows are stored, ordered and paged.

Example
-------
>>> [t.entity_set for t in TABLES.values()][:2]
['msdynci_customerprofiles', 'msdynci_unifiedactivities']
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ci_toolkit.emulator.data.demo import source_tables
from ci_toolkit.emulator.data.odata import quote_ident
from ci_toolkit.emulator.dataverse.guids import GuidOrder, guid_sql, table_guid

if TYPE_CHECKING:
    from ci_toolkit.emulator.data.store import DataStore

__all__ = [
    "ETAG",
    "SORT_KEY",
    "TABLES",
    "Column",
    "Table",
    "by_entity_set",
    "columns_of",
    "materialize",
    "source_signature",
]

logger = logging.getLogger(__name__)

#: Hidden column holding the primary key's sort key (never returned to clients).
SORT_KEY = "_sk"
#: The row annotation every row carries.
ETAG = "@odata.etag"
#: The lookup every table but the profile has to its customer profile.
CUSTOMER_LOOKUP = "msdynci_lookupfield_customer"

#: Dataverse AttributeType -> (DuckDB type, Edm type, AttributeTypeName value).
ATTRIBUTE_TYPES: dict[str, tuple[str, str, str]] = {
    "String": ("VARCHAR", "Edm.String", "StringType"),
    "Memo": ("VARCHAR", "Edm.String", "MemoType"),
    "EntityName": ("VARCHAR", "Edm.String", "EntityNameType"),
    "Uniqueidentifier": ("VARCHAR", "Edm.Guid", "UniqueidentifierType"),
    "Lookup": ("VARCHAR", "Edm.Guid", "LookupType"),
    "Owner": ("VARCHAR", "Edm.Guid", "OwnerType"),
    "DateTime": ("TIMESTAMP", "Edm.DateTimeOffset", "DateTimeType"),
    "Integer": ("INTEGER", "Edm.Int32", "IntegerType"),
    "BigInt": ("BIGINT", "Edm.Int64", "BigIntType"),
    "Double": ("DOUBLE", "Edm.Double", "DoubleType"),
    "Boolean": ("BOOLEAN", "Edm.Boolean", "BooleanType"),
}

#: Dataverse AttributeTypeCode values (the enum's member values).
ATTRIBUTE_TYPE_CODES: dict[str, int] = {
    "Boolean": 0, "Customer": 1, "DateTime": 2, "Decimal": 3, "Double": 4, "Integer": 5,
    "Lookup": 6, "Memo": 7, "Money": 8, "Owner": 9, "PartyList": 10, "Picklist": 11,
    "State": 12, "Status": 13, "String": 14, "Uniqueidentifier": 15, "CalendarRules": 16,
    "Virtual": 17, "BigInt": 18, "ManagedProperty": 19, "EntityName": 20,
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column: its logical name, Dataverse type and the SQL giving its value.

    ``name`` is the Web API property (``_<logical>_value`` for lookups and owners).
    """

    logical: str
    attribute_type: str
    sql: str
    max_length: int | None = None
    target: str | None = None

    @property
    def name(self) -> str:
        """The property name in rows, ``$select`` and ``$filter``."""
        if self.attribute_type in {"Lookup", "Owner"}:
            return f"_{self.logical}_value"
        return self.logical

    @property
    def sql_type(self) -> str:
        """The DuckDB type of the values."""
        return ATTRIBUTE_TYPES[self.attribute_type][0]

    @property
    def edm_type(self) -> str:
        """The CSDL type (``Edm.String``...)."""
        return ATTRIBUTE_TYPES[self.attribute_type][1]

    @property
    def is_guid(self) -> bool:
        """Whether the values are GUIDs (ordered as SQL Server orders them)."""
        return self.edm_type == "Edm.Guid"


@dataclass(frozen=True)
class Table:
    """A Customer Insights table in Dataverse (names from Microsoft's entity reference)."""

    logical: str
    entity_set: str
    collection: str
    primary_id: str
    primary_name: str
    display: str
    object_type_code: int

    @property
    def metadata_id(self) -> str:
        """The table's ``MetadataId`` (deterministic)."""
        return table_guid("EntityMetadata", self.logical)


TABLES: dict[str, Table] = {
    t.logical: t
    for t in (
        Table("msdynci_customerprofile", "msdynci_customerprofiles", "msdynci_customerprofiles",
              "msdynci_customerprofileid", "msdynci_customerid", "Customer Profile", 10650),
        Table("msdynci_unifiedactivity", "msdynci_unifiedactivities",
              "msdynci_unifiedactivities", "msdynci_unifiedactivityid", "msdynci_activityid",
              "Unified Activity", 10651),
        Table("msdynci_customermeasure", "msdynci_customermeasures", "msdynci_customermeasures",
              "msdynci_customermeasureid", "msdynci_identifier", "Customer Measure", 10652),
        Table("msdynci_segmentmembership", "msdynci_segmentmemberships",
              "msdynci_segmentmemberships", "msdynci_segmentmembershipid", "msdynci_identifier",
              "Segment Membership", 10653),
        Table("msdynci_alternatekey", "msdynci_alternatekeys", "msdynci_alternatekeies",
              "msdynci_alternatekeyid", "msdynci_identifier", "Alternate Key", 10654),
    )
}  # fmt: skip


def by_entity_set(name: str) -> Table | None:
    """The table whose EntitySetName is ``name`` (case sensitive, as Dataverse)."""
    for table in TABLES.values():
        if table.entity_set == name:
            return table
    return None


# ------------------------------------------------------------------------------------------
# columns and SQL
# ------------------------------------------------------------------------------------------

_DUCK_TO_ATTRIBUTE = {
    "VARCHAR": "String",
    "TIMESTAMP": "DateTime",
    "BOOLEAN": "Boolean",
    "BIGINT": "BigInt",
    "INTEGER": "Integer",
    "DOUBLE": "Double",
}
#: Profile tables of the demo data sources (their keys become alternate keys).
_PROFILE_SOURCES = [t for t in source_tables() if t.kind == "profile"]
_MEMO = 1_048_576


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _system_columns(store: DataStore, created_sql: str) -> list[Column]:
    """The columns every elastic, user-owned table has."""
    owner = _literal(table_guid("systemuser", f"{store.instance_id}|customer-insights"))
    unit = _literal(table_guid("businessunit", store.instance_id))
    version = _literal(str(int(store.now.timestamp())))
    return [
        Column("createdon", "DateTime", created_sql),
        Column("modifiedon", "DateTime", _timestamp(store.now)),
        Column("versionnumber", "BigInt", f"CAST({version} AS BIGINT)"),
        Column("partitionid", "String", "CAST(NULL AS VARCHAR)", 100),
        Column("ttlinseconds", "Integer", "CAST(NULL AS INTEGER)"),
        Column("importsequencenumber", "Integer", "CAST(NULL AS INTEGER)"),
        Column("overriddencreatedon", "DateTime", "CAST(NULL AS TIMESTAMP)"),
        Column("ownerid", "Owner", owner, target="systemuser"),
        Column("owninguser", "Lookup", owner, target="systemuser"),
        Column("owningbusinessunit", "Lookup", unit, target="businessunit"),
        Column("createdby", "Lookup", owner, target="systemuser"),
        Column("modifiedby", "Lookup", owner, target="systemuser"),
    ]


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.replace(tzinfo=None).isoformat(sep=' ')}'"


def _customer_lookup() -> list[Column]:
    profile = guid_sql("md5('msdynci_customerprofile|' || CustomerId)")
    return [
        Column(CUSTOMER_LOOKUP, "Lookup", profile, target="msdynci_customerprofile"),
        Column("msdynci_lookupfield_customerpid", "String", "CustomerId", 100),
    ]


def _segment_members(store: DataStore) -> str:
    """``(CustomerId, Segment)`` of every evaluated segment (an empty relation when none)."""
    parts = []
    for name in store.segment_names():
        try:
            relation = store.entity(name).relation
        except KeyError:  # not evaluated yet: no table
            continue
        parts.append(f"SELECT CustomerId, {_literal(name)} AS Segment FROM {relation}")
    if not parts:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS CustomerId, CAST(NULL AS VARCHAR) AS Segment LIMIT 0"
        )
    return " UNION ALL ".join(parts)


def _source(table: Table, store: DataStore) -> tuple[str, str, list[Column]]:
    """(FROM clause, identifier SQL, own columns) of ``table`` over the demo tables."""
    if table.logical == "msdynci_customerprofile":
        own = [
            Column(
                f"msdynci_{name.lower()}",
                _DUCK_TO_ATTRIBUTE.get(sql_type.upper(), "String"),
                quote_ident(name),
                4000 if sql_type.upper() == "VARCHAR" else None,
            )
            for name, sql_type in store.columns("Customer").items()
        ]
        return "Customer", "CustomerId", [*own, *_system_columns(store, '"CreatedOn"')]
    now = _timestamp(store.now)
    if table.logical == "msdynci_unifiedactivity":
        own = [
            Column("msdynci_customerid", "String", "CustomerId", 100),
            Column("msdynci_activityid", "String", "ActivityId", 100),
            Column("msdynci_entityname", "String", "SourceEntity", 4000),
            Column("msdynci_actualactivityid", "String", "ActivityId", 4000),
            Column("msdynci_activityforeignkey", "String", "CAST(NULL AS VARCHAR)", 100),
            Column("msdynci_activitytype", "String", "ActivityType", 4000),
            Column("msdynci_activitytypedisplay", "String", "ActivityType", 4000),
            Column("msdynci_activitytime", "DateTime", "ActivityTime"),
            Column("msdynci_title", "String", "Title", 4000),
            Column("msdynci_activityname", "String", "Title", 4000),
            Column("msdynci_externalurl", "String", "CAST(NULL AS VARCHAR)", 4000),
            Column(
                "msdynci_semanticdata",
                "Memo",
                "CAST(to_json({'Amount': Amount, 'Channel': Channel}) AS VARCHAR)",
                _MEMO,
            ),
            Column(
                "msdynci_rangeindex", "String", "CAST(epoch(ActivityTime) AS BIGINT)::VARCHAR", 4000
            ),
        ]
        return (
            "UnifiedActivity",
            "ActivityId",
            [*own, *_customer_lookup(), *_system_columns(store, now)],
        )
    if table.logical == "msdynci_customermeasure":
        measures = [c for c in store.columns("Customer_Measure") if c != "CustomerId"]
        fields = ", ".join(f"{_literal(c)}: {quote_ident(c)}" for c in measures)
        relation = store.entity("Customer_Measure").relation
        own = [
            Column("msdynci_customerid", "String", "CustomerId", 100),
            Column("msdynci_measures", "Memo", f"CAST(to_json({{{fields}}}) AS VARCHAR)", _MEMO),
            Column("msdynci_identifier", "String", "'Customer_Measure|' || CustomerId", 4000),
        ]
        return relation, "'Customer_Measure|' || CustomerId", [
            *own, *_customer_lookup(), *_system_columns(store, now)
        ]  # fmt: skip
    if table.logical == "msdynci_segmentmembership":
        source = (
            "(SELECT CustomerId, CAST(to_json(list(Segment ORDER BY Segment)) AS VARCHAR) AS "
            f"Segments FROM ({_segment_members(store)}) GROUP BY CustomerId)"
        )
        identifier = "CustomerId || '|CustomerInsights|Customer|SegmentMembership'"
        own = [
            Column("msdynci_customerid", "String", "CustomerId", 100),
            Column("msdynci_segmentprovider", "String", "'CustomerInsights'", 4000),
            Column("msdynci_segmentmembershiptype", "String", "'Customer'", 4000),
            Column("msdynci_segments", "Memo", "Segments", _MEMO),
            Column("msdynci_identifier", "String", identifier, 4000),
        ]
        return source, identifier, [*own, *_customer_lookup(), *_system_columns(store, now)]
    if table.logical == "msdynci_alternatekey":
        parts = [
            f"SELECT CustomerId, {_literal(t.data_source)} AS DataSource, {_literal(t.table)} "
            f"AS TableName, {quote_ident(t.alternate_key)} AS KeyValue FROM Customer "
            f"WHERE {quote_ident(t.alternate_key)} IS NOT NULL"
            for t in _PROFILE_SOURCES
        ]
        source = "(" + " UNION ALL ".join(parts) + ")"
        identifier = "DataSource || '|' || TableName || '|' || KeyValue"
        keyring = (
            "CAST(to_json([{'dataSourceName': DataSource, 'tableName': TableName, "
            "'preferredKey': KeyValue, 'keys': [KeyValue]}]) AS VARCHAR)"
        )
        own = [
            Column("msdynci_datasourcename", "String", "DataSource", 4000),
            Column("msdynci_entityname", "String", "TableName", 4000),
            Column("msdynci_alternatevalue", "String", "KeyValue", 4000),
            Column("msdynci_keyring", "Memo", keyring, _MEMO),
            Column("msdynci_customerid", "String", "CustomerId", 100),
            Column("msdynci_identifier", "String", identifier, 4000),
        ]
        return source, identifier, [*own, *_customer_lookup(), *_system_columns(store, now)]
    raise KeyError(table.logical)


def columns_of(table: Table, store: DataStore) -> list[Column]:
    """Every column of ``table``, the primary key first."""
    _, _, own = _source(table, store)
    return [Column(table.primary_id, "Uniqueidentifier", "_pk"), *own]


#: (start, length) in the digest of each part of the SQL Server sort key, in key order.
_KEY_PARTS = ((21, 12), (17, 4), (15, 2), (13, 2), (11, 2), (9, 2), (7, 2), (5, 2), (3, 2), (1, 2))


def _sort_key_of_digest(order: GuidOrder) -> str:
    """SQL for the sort key of the GUID formatted from the ``_m`` digest column."""
    if order == "lexicographic":
        return guid_sql("_m")
    return "(" + " || ".join(f"substr(_m, {a}, {n})" for a, n in _KEY_PARTS) + ")"


def _digest_of_sort_key(order: GuidOrder) -> str:
    """SQL giving the 32 hex digits of the GUID back from the ``_sk`` column."""
    if order == "lexicographic":
        return f"replace({SORT_KEY}, '-', '')"
    offsets = []
    position = 1
    for start, length in _KEY_PARTS:
        offsets.append((start, position, length))
        position += length
    pieces = sorted(offsets)  # by the part's place in the digest
    return "(" + " || ".join(f"substr({SORT_KEY}, {p}, {n})" for _, p, n in pieces) + ")"


def materialize(cursor: Any, table: Table, store: DataStore, *, order: GuidOrder) -> str:
    """Build ``table``'s rows, sorted by ``_sk``, as a DuckDB table; the query reading them.

    The stored table is the source rows (``Customer``, ``UnifiedActivity``...) with ``_sk``
    in front, sorted by it: the digest is computed once per row, and a page is a range
    scan of a sorted table. The Dataverse columns are computed when rows are read (the
    returned query), so nothing but the key is stored twice. The table is called
    ``dataverse__<logical name>``; ``CREATE OR REPLACE`` swaps it whole for readers.
    """
    source, identifier, own = _source(table, store)
    name = f"dataverse__{table.logical}"
    stage = quote_ident(f"{name}__stage")
    digest = f"md5({_literal(table.logical + '|')} || ({identifier}))"
    cursor.execute(f"CREATE OR REPLACE TABLE {stage} AS SELECT {digest} AS _m, * FROM {source}")
    try:
        cursor.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT "
            f"{_sort_key_of_digest(order)} AS {SORT_KEY}, * EXCLUDE (_m) FROM {stage} "
            f"ORDER BY {SORT_KEY}"
        )
    finally:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
    columns = ", ".join(f"{c.sql} AS {quote_ident(c.name)}" for c in own)
    return (
        f"(SELECT {guid_sql(_digest_of_sort_key(order))} AS {quote_ident(table.primary_id)}, "
        f"{columns}, 'W/\"' || CAST(\"versionnumber\" AS VARCHAR) || '\"' AS "
        f"{quote_ident(ETAG)}, {SORT_KEY} FROM {quote_ident(name)})"
    )


def source_signature(cursor: Any, table: Table, store: DataStore) -> tuple[Any, ...]:
    """What ``table``'s rows depend on: its SQL and the identity of the tables it reads.

    A source replaced by ``CREATE OR REPLACE`` (a segment or measure re-evaluated) gets a
    new ``table_oid``, so the signature changes and the table is built again.
    """
    source, identifier, own = _source(table, store)
    stage_sql = " ".join([source, identifier, *(c.sql for c in own)])
    rows = cursor.execute(
        "SELECT table_name, table_oid FROM duckdb_tables() WHERE NOT starts_with(table_name, "
        "'dataverse__') ORDER BY table_name"
    ).fetchall()
    used = tuple(
        (str(n), int(oid)) for n, oid in rows if re.search(rf"\b{re.escape(n)}\b", stage_sql)
    )
    return stage_sql, used
