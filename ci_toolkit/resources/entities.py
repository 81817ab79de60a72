"""Entities (tables), their attributes, size and data profile; data sources.

API operations (function -> returns: operation):

``entities()`` -> DataFrame, one row per entity
    ``GET /instances/{instanceId}/manage/entities`` (Get-all-entity-metadata)
``attributes(entity)`` -> DataFrame, one row per attribute
    ``GET /instances/{instanceId}/manage/entities/{entityName}`` (Get-entity-metadata)
``entity_size(entity)`` -> Series (qualifiedEntityName, size, rowCount)
    ``GET /instances/{instanceId}/manage/entities/{entityName}/entitysize`` (Get-entity-size)
``data_profile(entity)`` -> DataFrame, one row per profiled attribute
    ``GET /instances/{instanceId}/dataprofile/{qualifiedEntityName}?includeAttributeData=true``
    (Get-an-entity-profile)
``data_sources()`` -> DataFrame, one row per data source
    ``GET /instances/{instanceId}/manage/datasources`` (Get-all-data-sources)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ci_toolkit.resources._base import ResourceBase, segment

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.frames import Kind

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "DATA_PROFILE_COLUMNS",
    "DATA_SOURCE_COLUMNS",
    "ENTITY_COLUMNS",
    "EntitiesMixin",
]

logger = logging.getLogger(__name__)

ENTITY_COLUMNS: list[tuple[str, str, Kind]] = [
    ("name", "name", "str"),
    ("qualifiedEntityName", "qualifiedEntityName", "str"),
    ("entityType", "entityType", "str"),
    ("dataSourceName", "dataSourceName", "str"),
    ("dataflowType", "dataflowType", "str"),
    ("semanticType", "semanticType", "str"),
    ("attributeCount", "attributeCount", "int"),
    ("refreshTime", "refreshTime", "datetime"),
    ("datasourceId", "datasourceId", "str"),
]

ATTRIBUTE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("name", "name", "str"),
    ("friendlyName", "friendlyName", "str"),
    ("dataType", "dataType", "str"),
    ("semanticType", "semanticType", "str"),
    ("baseName", "baseName", "str"),
    ("isKey", "isKey", "bool"),
    ("isTimestamp", "isTimestamp", "bool"),
    ("isSearchable", "searchProperties.isSearchable", "bool"),
]

DATA_PROFILE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("attributeName", "attributeName", "str"),
    ("count", "count", "int"),
    ("missingCount", "missingCount", "int"),
    ("errorCount", "errorCount", "int"),
    ("uniqueValueCount", "uniqueValueCount", "int"),
    ("min", "min", "object"),
    ("max", "max", "object"),
    ("mean", "moments.mean", "float"),
    ("standardDeviation", "moments.standardDeviation", "float"),
    ("p1", "quantiles.p1", "float"),
    ("p25", "quantiles.p25", "float"),
    ("p50", "quantiles.p50", "float"),
    ("p75", "quantiles.p75", "float"),
    ("p99", "quantiles.p99", "float"),
    ("topValues", "topValues", "object"),
    ("isSuggestedPrimaryKey", "isSuggestedPrimaryKey", "bool"),
    ("profilingDate", "profilingDate", "datetime"),
]

DATA_SOURCE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("dataSourceId", "dataSourceMetadata.dataSourceId", "str"),
    ("name", "dataSourceMetadata.name", "str"),
    ("friendlyName", "dataSourceMetadata.friendlyName", "str"),
    ("kind", "dataSourceMetadata.kind", "str"),
    ("isActive", "dataSourceMetadata.isActive", "bool"),
    ("entitiesCount", "dataSourceMetadata.entitiesCount", "int"),
    ("entityNames", "dataSourceMetadata.entityNames", "object"),
    ("provisioningState", "dataSourceMetadata.provisioningState", "str"),
    ("refreshState", "dataSourceMetadata.refreshState", "str"),
    ("lastRefresh", "dataSourceMetadata.lastRefresh", "datetime"),
]


def _attribute_rows(meta: dict[str, Any]) -> list[dict[str, Any]]:
    keys = {
        attr.get("name")
        for key in meta.get("keys") or []
        for attr in (key or [])
        if isinstance(attr, dict)
    }
    timestamp = (meta.get("timestampAttribute") or {}).get("name")
    rows = []
    for attr in meta.get("attributes") or []:
        rows.append(
            {
                **attr,
                "isKey": attr.get("name") in keys,
                "isTimestamp": timestamp is not None and attr.get("name") == timestamp,
            }
        )
    return rows


class EntitiesMixin(ResourceBase):
    """Entity metadata, size and profile; data sources."""

    def _entity_metadata(self, entity: str) -> dict[str, Any]:
        """``IEntityMetadata`` of an entity, fetched once per instance and cached."""
        key = (self.instance_id, entity)
        if key not in self._entity_cache:
            body = self._get(self._path(f"manage/entities/{segment(entity)}")) or {}
            self._entity_cache[key] = body
        return self._entity_cache[key]

    def _entity_types(self, entity: str) -> dict[str, str]:
        """Attribute name -> ``dataType`` of an entity (cached metadata)."""
        meta = self._entity_metadata(entity)
        return {
            str(a["name"]): str(a.get("dataType") or "String")
            for a in meta.get("attributes") or []
            if a.get("name")
        }

    def entities(self) -> pd.DataFrame:
        """List the entities (tables) of the instance.

        Returns
        -------
        pandas.DataFrame
            ``name``, ``qualifiedEntityName``, ``entityType``, ``dataSourceName``,
            ``dataflowType``, ``semanticType``, ``attributeCount``, ``refreshTime`` (UTC),
            ``datasourceId``; the ``IC360EntityModel`` JSON in ``.attrs["raw"]``.

        Examples
        --------
        >>> ci.entities().query("entityType == 'profile'")  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._path("manage/entities")) or {}
        rows = [
            {**e, "attributeCount": len(e.get("attributes") or [])}
            for e in body.get("entities") or []
        ]
        return frames.records_frame(rows, ENTITY_COLUMNS, raw=body)

    def attributes(self, entity: str) -> pd.DataFrame:
        """The attributes (columns) of one entity.

        Parameters
        ----------
        entity : str
            Entity name, e.g. ``"Customer"``.

        Returns
        -------
        pandas.DataFrame
            ``name``, ``friendlyName``, ``dataType``, ``semanticType``, ``baseName``,
            ``isKey``, ``isTimestamp``, ``isSearchable``; the ``IEntityMetadata`` JSON in
            ``.attrs["raw"]``.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            For an unknown entity.

        Examples
        --------
        >>> ci.attributes("Customer")[["name", "dataType"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        meta = self._entity_metadata(entity)
        return frames.records_frame(_attribute_rows(meta), ATTRIBUTE_COLUMNS, raw=meta)

    def entity_size(self, entity: str) -> pd.Series:
        """Size of one entity in bytes and rows.

        Parameters
        ----------
        entity : str
            Entity name.

        Returns
        -------
        pandas.Series
            ``qualifiedEntityName``, ``size`` (bytes), ``rowCount``.

        Examples
        --------
        >>> ci.entity_size("Customer")["rowCount"]  # doctest: +SKIP
        1000
        """
        from ci_toolkit import frames

        body = self._get(self._path(f"manage/entities/{segment(entity)}/entitysize")) or {}
        spec: list[tuple[str, str, Kind]] = [
            ("qualifiedEntityName", "qualifiedEntityName", "str"),
            ("size", "size", "int"),
            ("rowCount", "rowCount", "int"),
        ]
        return frames.record_series(body, spec)

    def data_profile(self, entity: str) -> pd.DataFrame:
        """The data profile of an entity: per attribute counts, missing values, stats.

        Parameters
        ----------
        entity : str
            Entity (qualified) name.

        Returns
        -------
        pandas.DataFrame
            One row per profiled attribute: ``attributeName``, ``count``,
            ``missingCount``, ``errorCount``, ``uniqueValueCount``, ``min``, ``max``,
            ``mean``, ``standardDeviation``, quantiles ``p1`` ... ``p99``, ``topValues``
            (list of (value, count)), ``isSuggestedPrimaryKey``, ``profilingDate``; the
            ``EntityDataProfile`` JSON in ``.attrs["raw"]`` (``rowCount`` also in
            ``.attrs["rowCount"]``).

        Examples
        --------
        >>> ci.data_profile("Customer").set_index("attributeName")["missingCount"]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = (
            self._get(
                self._path(f"dataprofile/{segment(entity)}"),
                params={"includeAttributeData": "true"},
            )
            or {}
        )
        rows = []
        for prof in body.get("attributeDataProfiles") or []:
            top = [
                (vc.get("value"), vc.get("count"))
                for vc in prof.get("valueCounts") or []
                if isinstance(vc, dict)
            ]
            rows.append({**prof, "topValues": top})
        frame = frames.records_frame(rows, DATA_PROFILE_COLUMNS, raw=body)
        frame.attrs["rowCount"] = body.get("rowCount")
        return frame

    def data_sources(self) -> pd.DataFrame:
        """List the data sources of the instance.

        Returns
        -------
        pandas.DataFrame
            ``dataSourceId``, ``name``, ``friendlyName``, ``kind``, ``isActive``,
            ``entitiesCount``, ``entityNames`` (list), ``provisioningState``,
            ``refreshState``, ``lastRefresh`` (UTC).

        Examples
        --------
        >>> ci.data_sources()[["name", "kind", "lastRefresh"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._path("manage/datasources")) or []
        return frames.records_frame(body, DATA_SOURCE_COLUMNS)
