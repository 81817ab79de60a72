"""The Customer Insights tables in Dataverse and how their columns map to v1 attribute names.

Table facts come from the generated Dataverse entity reference and ``tables.md`` (see
DATAVERSE-NOTES sections 4.1-4.8). Column names on Dataverse are the lower-case logical names
with the ``msdynci_`` prefix; the v1 API calls the same columns by their unified attribute
names (``msdynci_firstname`` is ``FirstName``). :func:`v1_name` gives the v1 name of a column:
the documented name of the table's fixed columns (:data:`V1_NAMES`), else the column's
``SchemaName`` without the prefix when it keeps the attribute's case (Dataverse builds the
logical name by lower-casing the schema name), else the logical name without the prefix.

Example
-------
>>> TABLES["msdynci_customerprofile"].entity_set
'msdynci_customerprofiles'
>>> v1_name("msdynci_unifiedactivity", "msdynci_activitytime")
'ActivityTime'
>>> v1_name("msdynci_customerprofile", "msdynci_firstname", schema_name="msdynci_FirstName")
'FirstName'
"""

from __future__ import annotations

from dataclasses import dataclass

from ci_toolkit import _defaults

__all__ = [
    "COMMON_ATTRIBUTES",
    "SYSTEM_COLUMNS",
    "TABLES",
    "V1_NAMES",
    "TableInfo",
    "table_for_v1_entity",
    "v1_name",
    "v1_to_logical",
]

_PREFIX = _defaults.DATAVERSE_TABLE_PREFIX


@dataclass(frozen=True)
class TableInfo:
    """One Customer Insights table in Dataverse.

    Parameters
    ----------
    logical_name : str
        ``msdynci_customerprofile``.
    entity_set : str
        The Web API collection, ``msdynci_customerprofiles`` (always use this, not the
        LogicalCollectionName).
    primary_id : str
        The GUID primary key column.
    v1_entity : str or None
        The v1 entity holding the same rows (``Customer``), if any.
    holds : str
        What the table holds, in a few words.
    """

    logical_name: str
    entity_set: str
    primary_id: str
    v1_entity: str | None
    holds: str


def _table(name: str, entity_set: str, v1: str | None, holds: str) -> TableInfo:
    logical = f"{_PREFIX}{name}"
    return TableInfo(logical, f"{_PREFIX}{entity_set}", f"{logical}id", v1, holds)


TABLES: dict[str, TableInfo] = {
    t.logical_name: t
    for t in (
        _table("customerprofile", "customerprofiles", "Customer", "unified customer profiles"),
        _table("unifiedactivity", "unifiedactivities", "UnifiedActivity", "unified activities"),
        _table("customermeasure", "customermeasures", "Customer_Measure",
               "customer-attribute measures (JSON per customer)"),
        _table("segmentmembership", "segmentmemberships", None,
               "segments of each customer (JSON list per customer)"),
        _table("alternatekey", "alternatekeys", None, "source ids of each customer"),
        _table("enrichment", "enrichments", None, "enrichment results (JSON per customer)"),
        _table("prediction", "predictions", None, "prediction model results"),
        _table("contactprofile", "contactprofiles", None, "B2B contact profiles"),
        _table("customerprofilesegment", "customerprofilesegments", None,
               "segment names per customer profile"),
    )
}  # fmt: skip
"""The documented Customer Insights tables, by logical name."""

_COMMON = {"msdynci_customerid": "CustomerId", "msdynci_identifier": "Identifier"}

V1_NAMES: dict[str, dict[str, str]] = {
    "msdynci_customerprofile": {"msdynci_customerprofileid": "CustomerProfileId"},
    "msdynci_unifiedactivity": {
        "msdynci_activityid": "ActivityId",
        "msdynci_entityname": "SourceEntityName",
        "msdynci_actualactivityid": "SourceActivityId",
        "msdynci_activitytype": "ActivityType",
        "msdynci_activitytypedisplay": "ActivityTypeDisplay",
        "msdynci_activitytime": "ActivityTime",
        "msdynci_title": "Title",
        "msdynci_activityname": "Description",
        "msdynci_externalurl": "URL",
        "msdynci_semanticdata": "SemanticData",
        "msdynci_rangeindex": "RangeIndex",
        "msdynci_unifiedactivityid": "UnifiedActivityId",
    },
    "msdynci_customermeasure": {
        "msdynci_measures": "Measures",
        "msdynci_customermeasureid": "CustomerMeasureId",
    },
    "msdynci_segmentmembership": {
        "msdynci_segmentprovider": "SegmentProvider",
        "msdynci_segmentmembershiptype": "SegmentMembershipType",
        "msdynci_segments": "Segments",
        "msdynci_segmentmembershipid": "SegmentMembershipId",
    },
    "msdynci_alternatekey": {
        "msdynci_datasourcename": "DataSourceName",
        "msdynci_entityname": "TableName",
        "msdynci_alternatevalue": "AlternateValue",
        "msdynci_keyring": "KeyRing",
        "msdynci_alternatekeyid": "AlternateKeyId",
    },
    "msdynci_enrichment": {
        "msdynci_enrichmentprovider": "EnrichmentProvider",
        "msdynci_enrichmenttype": "EnrichmentType",
        "msdynci_values": "Values",
        "msdynci_enrichmentid": "EnrichmentId",
    },
    "msdynci_prediction": {
        "msdynci_modelprovider": "ModelProvider",
        "msdynci_model": "Model",
        "msdynci_values": "Values",
        "msdynci_predictionid": "PredictionId",
    },
}
"""Documented columns per table -> their v1 (``tables.md``) names; ``msdynci_customerid`` is
``CustomerId`` and ``msdynci_identifier`` is ``Identifier`` on every table."""

COMMON_ATTRIBUTES: tuple[str, ...] = (
    "FirstName", "MiddleName", "LastName", "FullName", "Name", "Email", "PrimaryEmail",
    "Phone", "PrimaryPhone", "MobilePhone", "Gender", "BirthDate", "DateOfBirth", "Address",
    "Address1", "Street", "StreetAddress", "City", "State", "StateOrProvince", "Country",
    "CountryOrRegion", "CountryCode", "PostalCode", "ZipCode", "JobTitle", "Company",
    "CreatedOn", "ModifiedOn", "EmailOptIn", "LoyaltyTier", "Headline", "Industry",
)  # fmt: skip
"""Common unified attribute names: give a lower-case profile column its v1 case
(``msdynci_fullname`` -> ``FullName``) when neither the schema name nor the v1 API tells."""

SYSTEM_COLUMNS = frozenset(
    {
        "partitionid", "ttlinseconds", "versionnumber", "createdon", "modifiedon",
        "_createdby_value", "_modifiedby_value", "_createdonbehalfby_value",
        "_modifiedonbehalfby_value", "_owningbusinessunit_value", "_owninguser_value",
        "_owningteam_value", "_ownerid_value", "owneridtype", "owneridname", "owneridyominame",
        "importsequencenumber", "overriddencreatedon", "statecode", "statuscode",
        "timezoneruleversionnumber", "utcconversiontimezonecode",
        "_msdynci_lookupfield_customer_value", "msdynci_lookupfield_customerpid",
    }
)  # fmt: skip
"""Dataverse bookkeeping columns every elastic table has (not Customer Insights data): left
out when a read asks for v1 names."""


def v1_name(table: str, column: str, *, schema_name: str | None = None) -> str:
    """The v1 attribute name of a Dataverse column.

    Parameters
    ----------
    table : str
        The table's logical name.
    column : str
        The column's logical name (a lookup's ``_x_value`` stays as it is).
    schema_name : str, optional
        The column's ``SchemaName`` from the table metadata (keeps the attribute's case).

    Returns
    -------
    str
        The documented name, else the schema name without ``msdynci_``, else the logical
        name without it.

    Examples
    --------
    >>> v1_name("msdynci_alternatekey", "msdynci_entityname")
    'TableName'
    >>> v1_name("msdynci_customerprofile", "msdynci_loyaltytier")
    'loyaltytier'
    """
    known = V1_NAMES.get(table, {}).get(column) or _COMMON.get(column)
    if known:
        return known
    if schema_name and schema_name.lower() == column and schema_name != column:
        name = schema_name
    else:
        name = column
    if name.lower().startswith(_PREFIX):
        return name[len(_PREFIX) :]
    return name


def table_for_v1_entity(entity: str) -> TableInfo | None:
    """The Dataverse table holding a v1 entity's rows (``Customer`` -> customer profiles).

    Examples
    --------
    >>> table_for_v1_entity("UnifiedActivity").logical_name
    'msdynci_unifiedactivity'
    >>> table_for_v1_entity("Orders") is None
    True
    """
    for info in TABLES.values():
        if info.v1_entity == entity:
            return info
    return None


def v1_to_logical(name: str) -> str:
    """The Dataverse logical name of a v1 attribute (``FirstName`` -> ``msdynci_firstname``).

    Documented names map back through :data:`V1_NAMES`; other names follow the rule
    ``"msdynci_" + name.lower()``.

    Examples
    --------
    >>> v1_to_logical("ActivityTime"), v1_to_logical("LoyaltyTier")
    ('msdynci_activitytime', 'msdynci_loyaltytier')
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"expected an attribute name, got {name!r}")
    for mapping in (_COMMON, *V1_NAMES.values()):
        for logical, v1 in mapping.items():
            if v1 == name:
                return logical
    return f"{_PREFIX}{name.lower()}"
