"""Per-instance data: the demo tables in DuckDB, entity metadata, segments and measures.

One in-memory DuckDB database per instance. Reads use a cursor per thread and run in
parallel; changes (segment and measure evaluation, definitions) are serialised by one
re-entrant lock and swap tables atomically (``CREATE OR REPLACE``), so readers always see a
whole table. Every public method may be called from any thread.

:class:`DataStore` is the facade the routes and the workflow engine call; the work is done
in rooms of their own:

- :mod:`.pages` turns OData query options into a page (:mod:`.paging`: what a page is),
  by the key-range fast path of :mod:`.keyrange` or by SQL;
- :mod:`.segment_store` and :mod:`.measure_store` keep the definitions (both through
  :mod:`.definitions`: names, uniqueness without case, audit stamps) and their tables;
- :mod:`.persistence` reads and writes the definitions in ``data_dir``.

Example
-------
>>> store = DataStore(instance_id="i", profiles=100, seed=1, now=datetime.now(UTC))
>>> store.segment_names()  # doctest: +SKIP
['HighValueCustomers', ...]
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ci_toolkit.emulator.data import entities as ent
from ci_toolkit.emulator.data.definitions import DefinitionError, NotFoundError, iso
from ci_toolkit.emulator.data.demo import DATA_SOURCES, build_demo
from ci_toolkit.emulator.data.keyrange import KeyRangeReader
from ci_toolkit.emulator.data.measure_store import MeasureStore
from ci_toolkit.emulator.data.odata import ODataQueryError, quote_ident
from ci_toolkit.emulator.data.pages import PageReader
from ci_toolkit.emulator.data.paging import ODataPage
from ci_toolkit.emulator.data.persistence import DEFINITIONS_FILE, read_definitions, write_json
from ci_toolkit.emulator.data.profiles import attribute_profile
from ci_toolkit.emulator.data.segment_store import SegmentStore, segment_relation

__all__ = ["DataStore", "DefinitionError", "NotFoundError", "ODataPage", "ODataQueryError"]

logger = logging.getLogger(__name__)

#: The tables segment and measure definitions refer to.
_DEFINITION_SCHEMAS = ("Customer", "Customer_Measure", "UnifiedActivity")


class DataStore:
    """All data of one emulated instance.

    Parameters
    ----------
    instance_id
        The instance's id (it appears in metadata).
    profiles
        Number of unified ``Customer`` profiles to generate.
    seed
        Seed of the deterministic demo data.
    now
        The emulator's start time; history and activities lie before it.
    data_dir
        Folder where segment and measure definitions persist (``segments-and-measures.json``);
        ``None`` keeps them in memory only.

    Raises
    ------
    DataDirError
        When ``data_dir`` holds a definitions file that cannot be read (it is left as it is).
    """

    def __init__(
        self,
        *,
        instance_id: str,
        profiles: int,
        seed: int,
        now: datetime,
        data_dir: Path | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.profiles = profiles
        self.seed = seed
        self.now = (now if now.tzinfo else now.replace(tzinfo=UTC)).replace(microsecond=0)
        self.data_dir = data_dir
        started = time.perf_counter()
        persisted = read_definitions(data_dir)  # first: a bad file stops us before any work
        self._con = duckdb.connect(":memory:")
        self._local = threading.local()
        self._cursors: list[Any] = []
        self._cursor_lock = threading.Lock()
        # _lock serialises changes (they run DuckDB work and may take seconds); each kind of
        # definition has its own short lock for reads, so reads never wait for an evaluation.
        self._lock = threading.RLock()
        self._columns: dict[str, dict[str, str]] = {}
        self._profiles: dict[str, dict[str, Any]] = {}
        self._closed = False
        self._key_ranges = KeyRangeReader(cursor=self.cursor)
        self._pages = PageReader(self, key_ranges=self._key_ranges)
        self._static_entities = {e.name: e for e in ent.system_entities()}
        self._static_entities.update({e.name: e for e in ent.source_entities()})
        self._segments = SegmentStore(
            instance_id=instance_id, seed=seed, now=self.now, lock=self._lock,
            cursor=self.cursor, schemas=self._schemas, changed=self._invalidate,
            save=self._save, other_names=self._entity_kinds,
        )  # fmt: skip
        self._measures = MeasureStore(
            instance_id=instance_id, seed=seed, now=self.now, lock=self._lock,
            cursor=self.cursor, columns=self.columns, changed=self._invalidate, save=self._save,
        )  # fmt: skip
        try:
            build_demo(self._con, profiles=profiles, seed=seed, now=self.now)
            with self._lock:
                self._measures.start(persisted)
                self._segments.start(persisted)
        except BaseException:
            self.close()
            raise
        logger.info(
            "instance %s: %s profiles ready in %.2f s",
            instance_id,
            profiles,
            time.perf_counter() - started,
        )

    # ------------------------------------------------------------------------------------------
    # plumbing
    # ------------------------------------------------------------------------------------------

    def cursor(self) -> Any:
        """This thread's DuckDB cursor (each thread has its own, so reads run in parallel)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            with self._cursor_lock:
                cur = self._con.cursor()
                self._cursors.append(cur)
            self._local.cursor = cur
        return cur

    def close(self) -> None:
        """Release the database."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with self._cursor_lock:
                for cur in self._cursors:
                    with contextlib.suppress(duckdb.Error):
                        cur.close()
                self._con.close()

    def _save(self) -> None:
        """Write every definition to ``data_dir`` (nothing without one)."""
        if self.data_dir is None:
            return
        payload = {**self._segments.saved(), **self._measures.saved()}
        write_json(self.data_dir / DEFINITIONS_FILE, payload)

    @contextlib.contextmanager
    def _table_of(self, name: str) -> Iterator[None]:
        """Turn "this table does not exist" into :class:`NotFoundError` for entity ``name``.

        A segment deleted by another request between the lookup and the query is not there
        any more, which is what the caller is told (never a 500).
        """
        try:
            yield
        except duckdb.CatalogException as exc:
            logger.debug("the table of %s is gone: %s", name, exc)
            raise NotFoundError("entity", name) from None

    # ------------------------------------------------------------------------------------------
    # entities
    # ------------------------------------------------------------------------------------------

    def _entity_map(self) -> dict[str, ent.EntityInfo]:
        out = dict(self._static_entities)
        for name in self._segments.evaluated():
            out[name] = ent.EntityInfo(
                name, segment_relation(name), "segment", "segment", "segmentation", "CustomerId"
            )
        return out

    def _entity_kinds(self) -> dict[str, str]:
        """Names a new segment may not take (it would be an entity of the same name)."""
        return {name: "an entity" for name in self._static_entities}

    def entity_names(self) -> list[str]:
        """Names of all entities (system, source tables and evaluated segments)."""
        return list(self._entity_map())

    def entity(self, name: str) -> ent.EntityInfo:
        """The entity called ``name``; raises :class:`NotFoundError`."""
        info = self._entity_map().get(name)
        if info is None:
            raise NotFoundError("entity", name)
        return info

    def columns(self, name: str) -> dict[str, str]:
        """Column name -> DuckDB type of an entity."""
        info = self.entity(name)
        cached = self._columns.get(name)
        if cached is not None:
            return cached
        with self._table_of(name):
            rows = self.cursor().execute(f"DESCRIBE SELECT * FROM {info.relation}").fetchall()
        cols = {str(r[0]): str(r[1]) for r in rows}
        self._columns[name] = cols
        return cols

    def known_columns(self, name: str) -> dict[str, str] | None:
        """The columns of an entity if described already (no database work), else ``None``."""
        return self._columns.get(name)

    def _schemas(self) -> dict[str, dict[str, str]]:
        return {n: self.columns(n) for n in _DEFINITION_SCHEMAS}

    def entity_metadata(self, name: str) -> dict[str, Any]:
        """``IEntityMetadata`` of one entity."""
        info = self.entity(name)
        meta = ent.entity_metadata(
            info, self.columns(name), instance_id=self.instance_id, refreshed=self._refreshed(name)
        )
        return meta

    def _refreshed(self, name: str) -> datetime:
        evaluated = self._segments.evaluated_at(name)
        return self.now if evaluated is None else evaluated

    def all_entity_metadata(self) -> list[dict[str, Any]]:
        """``IEntityMetadata`` of every entity (one deleted meanwhile is left out)."""
        out = []
        for name in self.entity_names():
            with contextlib.suppress(NotFoundError):
                out.append(self.entity_metadata(name))
        return out

    def entity_size(self, name: str) -> dict[str, Any]:
        """``EntitySize``: row count and an estimate of the stored bytes."""
        info = self.entity(name)
        with self._table_of(name):
            rows = int(
                self.cursor().execute(f"SELECT count(*) FROM {info.relation}").fetchall()[0][0]
            )
        width = sum(
            8 if not t.upper().startswith("VARCHAR") else 20 for t in self.columns(name).values()
        )
        return {"qualifiedEntityName": name, "rowCount": rows, "size": rows * width}

    def entity_profile(self, name: str, *, include_attributes: bool) -> dict[str, Any]:
        """``EntityDataProfile`` of an entity (attribute profiles when asked)."""
        info = self.entity(name)
        cols = self.columns(name)
        with self._table_of(name):
            rows = int(
                self.cursor().execute(f"SELECT count(*) FROM {info.relation}").fetchall()[0][0]
            )
        profile: dict[str, Any] = {
            "qualifiedEntityName": name,
            "rowCount": rows,
            "quarantineRowCount": 0,
            "profilingDate": iso(self._refreshed(name)),
            "profiledAttributes": ",".join(cols),
            "corruptAttributes": "",
        }
        if include_attributes:
            profile["attributeDataProfiles"] = [self.attribute_profile(name, c) for c in cols]
        return profile

    def attribute_profile(self, name: str, attribute: str) -> dict[str, Any]:
        """``AttributeDataProfile`` of one attribute (cached until the entity changes)."""
        info = self.entity(name)
        cols = self.columns(name)
        if attribute not in cols:
            raise NotFoundError("attribute", f"{name}.{attribute}")
        cache_key = f"{name}\x1f{attribute}"
        cached = self._profiles.get(cache_key)
        if cached is not None:
            return cached
        with self._table_of(name):
            result = attribute_profile(
                self.cursor(), info.relation, name, attribute, cols[attribute], key=info.key,
                profiled=self._refreshed(name),
            )  # fmt: skip
        self._profiles[cache_key] = result
        return result

    def _invalidate(self, name: str) -> None:
        self._columns.pop(name, None)
        relation = self._static_entities[name].relation if name in self._static_entities else None
        self._key_ranges.forget(relation or segment_relation(name))
        for key in list(self._profiles):  # a snapshot: other threads may add entries
            if key.split("\x1f")[0] == name:
                self._profiles.pop(key, None)

    @property
    def searchable_attributes(self) -> list[str]:
        """Attributes of ``Customer`` that ``$search`` looks at."""
        return list(ent.SEARCHABLE["Customer"])

    # ------------------------------------------------------------------------------------------
    # data sources, relationships, activities, key ring
    # ------------------------------------------------------------------------------------------

    def data_sources(self) -> list[dict[str, Any]]:
        """``DataSourceInfo`` dicts; each also carries ``dataSourceId`` and ``name`` on top."""
        out = []
        for name, tables in DATA_SOURCES.items():
            ds_id = ent.data_source_id(self.instance_id, name)
            created = self.now - timedelta(days=400)
            meta = {
                "kind": "powerQuery",
                "isActive": True,
                "entityNames": [t.name for t in tables],
                "entitiesCount": len(tables),
                "dataSourceId": ds_id,
                "name": name,
                "friendlyName": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name),
                "entityInformation": [
                    {
                        "entityName": t.name,
                        "primaryKey": t.primary_key,
                        "entityType": "unspecified" if t.kind == "profile" else "activity",
                        "timestampFieldName": "ModifiedOn" if t.kind == "profile" else "EventTime",
                    }
                    for t in tables
                ],
                "provisioningState": "active",
                "lastRefresh": iso(self.now - timedelta(hours=3)),
                "refreshState": "updated",
                "version": 3,
                "createdBy": "admin@contoso.example",
                "createdUtc": iso(created),
                "updatedBy": "admin@contoso.example",
                "updatedUtc": iso(self.now - timedelta(days=14)),
                "instanceId": self.instance_id,
            }
            model = {
                "name": name,
                "description": f"{name} data ingested with Power Query",
                "version": "1.0",
                "culture": "en-US",
                "modifiedTime": iso(self.now - timedelta(days=14)),
                "entities": [{"name": t.name, "description": t.table} for t in tables],
                "relationships": [],
                "annotations": [],
            }
            out.append(
                {"dataSourceId": ds_id, "name": name, "dataSourceMetadata": meta, "model": model}
            )
        return out

    def data_source(self, data_source_id: str) -> dict[str, Any]:
        """One ``DataSourceInfo`` by id (or name); raises :class:`NotFoundError`."""
        for ds in self.data_sources():
            if data_source_id.lower() in {ds["dataSourceId"], ds["name"].lower()}:
                return ds
        raise NotFoundError("data source", data_source_id)

    def relationships(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(user relationships, system-created relationships)``."""
        segments = self._segments.evaluated()
        return ent.relationships(self.instance_id, self.now - timedelta(days=400), segments)

    def relationship(self, name: str) -> dict[str, Any]:
        """One relationship by name; raises :class:`NotFoundError`."""
        user, system = self.relationships()
        for rel in user + system:
            if rel["name"] == name:
                return rel
        raise NotFoundError("relationship", name)

    def activity_counts(self, customer_id: str) -> dict[str, int]:
        """ActivityType -> number of activities of one customer."""
        cur = self.cursor()
        found = cur.execute("SELECT 1 FROM Customer WHERE CustomerId = ?", [customer_id]).fetchall()
        if not found:
            raise NotFoundError("customer", customer_id)
        rows = cur.execute(
            "SELECT ActivityType, count(*) FROM UnifiedActivity WHERE CustomerId = ? "
            "GROUP BY 1 ORDER BY 1",
            [customer_id],
        ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def key_ring(self, data_source: str, entity: str, key: str) -> dict[str, Any]:
        """The unified ``CustomerId`` and every source key of the profile with this key."""
        table = next(
            (t for t in DATA_SOURCES.get(data_source, []) if entity in {t.name, t.table}), None
        )
        if table is None or table.kind != "profile":
            raise NotFoundError("profile table", f"{data_source}/{entity}")
        keys = [t for ts in DATA_SOURCES.values() for t in ts if t.kind == "profile"]
        cols = ", ".join(quote_ident(t.alternate_key) for t in keys)
        rows = (
            self.cursor()
            .execute(
                f"SELECT CustomerId, {cols} FROM Customer "
                f"WHERE {quote_ident(table.alternate_key)} = ?",
                [key],
            )
            .fetchall()
        )
        if not rows:
            raise NotFoundError("key", key)
        row = rows[0]
        ring = [
            {"dataSourceName": t.data_source, "entityName": t.name, "key": value}
            for t, value in zip(keys, row[1:], strict=True)
            if value is not None
        ]
        return {"customerId": row[0], "keyRing": {"CustomerId": row[0], "keys": ring}}

    # ------------------------------------------------------------------------------------------
    # OData
    # ------------------------------------------------------------------------------------------

    def segment_relation(self, name: str) -> str | None:
        """The member table of an evaluated segment (for ``IsMemberOfSegment``), or ``None``."""
        return self._segments.relation(name)

    def odata_page(self, entity_name: str, options: Mapping[str, str]) -> ODataPage:
        """One page of ``GET /data/{entity}`` with OData query ``options`` (``$filter``...).

        Raises
        ------
        NotFoundError
            When the entity does not exist.
        ODataQueryError
            When the options are malformed or a combination the service rejects.
        """
        with self._table_of(entity_name):
            page = self._pages.page(entity_name, options)
        assert page is not None  # only memory_only gives None
        return page

    def memory_page(self, entity_name: str, options: Mapping[str, str]) -> ODataPage | None:
        """The page :meth:`odata_page` gives, if it can be cut from memory alone; else ``None``.

        A key-range page whose rows are in the cache of rendered rows (the pages of a bulk
        pull after the first of each block) needs no database work: the data route serves
        it without handing the request to a worker thread. Anything else (a page that would
        read DuckDB, build an index or describe a table) gives ``None``.

        Raises
        ------
        NotFoundError, ODataQueryError
            As :meth:`odata_page`.
        """
        return self._pages.page(entity_name, options, memory_only=True)

    def export_table(self, source: str) -> pa.Table:
        """All rows of a segment (by name) or of an entity (by name) as an Arrow table."""
        relation = self._segments.relation(source)
        if relation is None:
            relation = self.entity(source).relation
        with self._cursor_lock:
            cur = self._con.cursor()
        try:
            with self._table_of(source):
                table: pa.Table = cur.sql(f"SELECT * FROM {relation}").to_arrow_table()
        finally:
            cur.close()
        return table

    # ------------------------------------------------------------------------------------------
    # segments
    # ------------------------------------------------------------------------------------------

    def segment_names(self) -> list[str]:
        """Names of all segments (active and inactive)."""
        return self._segments.records.names()

    def evaluate_segment(self, name: str) -> int:
        """Recompute a segment's members now; returns the member count.

        Updates ``evaluationStatus`` and today's point of the size history.
        """
        return self._segments.evaluate(name)

    def segments(
        self,
        *,
        include_history: bool = False,
        history_days: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """``SegmentMetadata`` of every segment (with size history when asked)."""
        return self._segments.segments(
            include_history=include_history, history_days=history_days, limit=limit
        )

    def segment(
        self, name: str, *, include_history: bool = False, history_days: int | None = None
    ) -> dict[str, Any]:
        """``SegmentMetadata`` of one segment; raises :class:`NotFoundError`."""
        return self._segments.segment(
            name, include_history=include_history, history_days=history_days
        )

    def create_segment(self, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Create and evaluate a segment from a ``SegmentMetadata`` body.

        Raises
        ------
        DefinitionError
            When the body is invalid, or a segment or entity has the name without regard to
            case (see :mod:`~ci_toolkit.emulator.data.definitions`).
        """
        return self._segments.create(body, actor=actor)

    def update_segment(self, name: str, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Replace a segment's definition and re-evaluate it."""
        return self._segments.update(name, body, actor=actor)

    def set_segment_state(self, name: str, active: bool, *, actor: str = "ci-emulator") -> bool:
        """Activate (and evaluate) or deactivate a segment."""
        return self._segments.set_state(name, active, actor=actor)

    def delete_segment(self, name: str) -> None:
        """Delete a segment and its member table."""
        self._segments.delete(name)

    # ------------------------------------------------------------------------------------------
    # measures
    # ------------------------------------------------------------------------------------------

    def measure_names(self) -> list[str]:
        """Names of all measures."""
        return self._measures.records.names()

    def evaluate_measure(self, name: str) -> None:
        """Recompute a measure now (profile measures rebuild ``Customer_Measure``)."""
        self._measures.evaluate(name)

    def measure(
        self, name: str, *, include_history: bool = False, history_days: int | None = None
    ) -> dict[str, Any]:
        """``MeasureMetadata`` of one measure; raises :class:`NotFoundError`."""
        return self._measures.measure(
            name, include_history=include_history, history_days=history_days
        )

    def measures(self) -> list[dict[str, Any]]:
        """``MeasureMetadata`` of every measure."""
        return self._measures.measures()

    def create_measure(self, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Create and evaluate a measure from a ``MeasureMetadata`` body.

        Raises
        ------
        DefinitionError
            When the body is invalid, or a measure (or ``CustomerId``) has the name without
            regard to case.
        """
        return self._measures.create(body, actor=actor)

    def update_measure(self, name: str, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Replace a measure's definition and re-evaluate it."""
        return self._measures.update(name, body, actor=actor)

    def delete_measure(self, name: str) -> None:
        """Delete a measure (its ``Customer_Measure`` column goes too)."""
        self._measures.delete(name)
