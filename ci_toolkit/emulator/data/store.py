"""Per-instance data: the demo tables in DuckDB, entity metadata, segments and measures.

One in-memory DuckDB database per instance. Reads use a cursor per thread and run in
parallel; changes (segment and measure evaluation, definitions) are serialised by one
re-entrant lock and swap tables atomically (``CREATE OR REPLACE``), so readers always see a
whole table. Every public method may be called from any thread.

Example
-------
>>> store = DataStore(instance_id="i", profiles=100, seed=1, now=datetime.now(UTC))
>>> store.segment_names()  # doctest: +SKIP
['HighValueCustomers', ...]
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ci_toolkit.emulator.data import entities as ent
from ci_toolkit.emulator.data.demo import DATA_SOURCES, build_demo
from ci_toolkit.emulator.data.jsonrows import SQL_ESCAPE, RowRenderer, reference_json, sql_row_json
from ci_toolkit.emulator.data.keyindex import KeyIndex, key_conditions
from ci_toolkit.emulator.data.measures import MeasurePlan, demo_measures, plan_measure
from ci_toolkit.emulator.data.odata import (
    FilterTranslator,
    ODataQueryError,
    SkipToken,
    build_page_query,
    parse_filter,
    parse_non_negative,
    parse_orderby,
    parse_search,
    parse_select,
    query_fingerprint,
    quote_ident,
    to_json_value,
)
from ci_toolkit.emulator.data.profiles import attribute_profile
from ci_toolkit.emulator.data.rowcache import BLOCK_ROWS, RowBlockCache
from ci_toolkit.emulator.data.segments import (
    SegmentDefinitionError,
    demo_segments,
    segment_history,
    segment_sql,
)

__all__ = ["DataStore", "DefinitionError", "NotFoundError", "ODataPage", "ODataQueryError"]

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
#: Tables up to this many rows get a :class:`KeyIndex` (it holds every key in memory).
KEY_INDEX_MAX_ROWS = 2_000_000
#: File in ``data_dir`` holding segment and measure definitions (and segment size history).
DEFINITIONS_FILE = "segments-and-measures.json"
HISTORY_DAYS = 90
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
_SEGMENT_COLUMNS = [
    "CustomerId", "FirstName", "LastName", "FullName", "Email", "Phone", "City", "Country",
    "LoyaltyTier",
]  # fmt: skip
_EXPANDABLE = ("UnifiedActivity", "Customer_Measure")
DefinitionError = SegmentDefinitionError


class NotFoundError(KeyError):
    """An entity, segment, measure, data source, relationship or customer that does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(name)
        self.kind = kind
        self.name = name
        self.message = f"The {kind} '{name}' was not found."

    def __str__(self) -> str:
        return self.message


@dataclass
class ODataPage:
    """One page of an OData query: the rows as JSON text, the count and the next token.

    ``value`` is the JSON array of the rows exactly as the response carries it; ``rows``
    decodes it (for tests and callers that want dicts).
    """

    entity: str
    value: bytes
    count: int | None
    next_token: str | None
    select: list[str] | None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts (decoded from :attr:`value`)."""
        rows: list[dict[str, Any]] = orjson.loads(self.value)
        return rows


@functools.lru_cache(maxsize=512)
def _parsed_filter(text: str) -> Any:
    """``parse_filter(text)``, remembered: pages of one query repeat its ``$filter``."""
    return parse_filter(text)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


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
        self._con = duckdb.connect(":memory:")
        self._local = threading.local()
        self._cursors: list[Any] = []
        self._cursor_lock = threading.Lock()
        # _lock serialises changes (they run DuckDB work and may take seconds); _meta guards
        # the definition dicts for the short moments they are read or changed, so reads never
        # wait for an evaluation.
        self._lock = threading.RLock()
        self._meta = threading.RLock()
        self._columns: dict[str, dict[str, str]] = {}
        self._profiles: dict[str, dict[str, Any]] = {}
        self._segments: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._measures: dict[str, dict[str, Any]] = {}
        self._closed = False
        # Key indexes by relation (None: the table is not stored in key order), built on
        # first use; a table's entry goes when the table is replaced (_invalidate).
        self._key_indexes: dict[str, KeyIndex | None] = {}
        self._index_lock = threading.Lock()
        self._row_blocks = RowBlockCache()
        self._static_entities = {e.name: e for e in ent.system_entities()}
        self._static_entities.update({e.name: e for e in ent.source_entities()})
        build_demo(self._con, profiles=profiles, seed=seed, now=self.now)
        persisted = self._load()
        with self._lock:
            if persisted is None:
                self._init_demo_definitions()
            else:
                self._segments = {s["name"]: s for s in persisted.get("segments", [])}
                self._history = {k: list(v) for k, v in persisted.get("segmentHistory", {}).items()}
                self._measures = {m["name"]: m for m in persisted.get("measures", [])}
            self._evaluate_measures(at=self.now, names=None)
            for name, segment in self._segments.items():
                self._evaluate_segment(name, at=self.now, record=persisted is not None)
                if name not in self._history:
                    self._history[name] = segment_history(
                        name=name,
                        seed=seed,
                        count=segment["evaluationStatus"]["entityCount"],
                        now=self.now,
                        days=HISTORY_DAYS,
                        active=segment["state"] == "active",
                    )
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

    def _load(self) -> dict[str, Any] | None:
        if self.data_dir is None:
            return None
        path = self.data_dir / DEFINITIONS_FILE
        if not path.exists():
            return None
        try:
            loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("ignoring unreadable %s", path)
            return None
        return loaded

    def _save(self) -> None:
        if self.data_dir is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)

        def public(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in record.items() if not k.startswith("_")}

        with self._meta:
            payload = {
                "segments": [public(s) for s in self._segments.values()],
                "segmentHistory": self._history,
                "measures": [public(m) for m in self._measures.values()],
            }
            text = json.dumps(payload, indent=1)
        tmp = self.data_dir / (DEFINITIONS_FILE + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.data_dir / DEFINITIONS_FILE)

    def _stamp(self, actor: str, at: datetime, created: bool) -> dict[str, Any]:
        stamp: dict[str, Any] = {"updatedBy": actor, "updatedUtc": _iso(at)}
        if created:
            stamp.update(createdBy=actor, createdUtc=_iso(at), version=1)
        stamp["instanceId"] = self.instance_id
        return stamp

    # ------------------------------------------------------------------------------------------
    # entities
    # ------------------------------------------------------------------------------------------

    def _entity_map(self) -> dict[str, ent.EntityInfo]:
        out = dict(self._static_entities)
        with self._meta:
            for name, segment in self._segments.items():
                if segment.get("_table"):
                    out[name] = ent.EntityInfo(
                        name, _segment_relation(name), "segment", "segment", "segmentation",
                        "CustomerId",
                    )  # fmt: skip
        return out

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
        rows = self.cursor().execute(f"DESCRIBE SELECT * FROM {info.relation}").fetchall()
        cols = {str(r[0]): str(r[1]) for r in rows}
        self._columns[name] = cols
        return cols

    def _schemas(self) -> dict[str, dict[str, str]]:
        return {n: self.columns(n) for n in ("Customer", "Customer_Measure", "UnifiedActivity")}

    def entity_metadata(self, name: str) -> dict[str, Any]:
        """``IEntityMetadata`` of one entity."""
        info = self.entity(name)
        meta = ent.entity_metadata(
            info, self.columns(name), instance_id=self.instance_id, refreshed=self._refreshed(name)
        )
        return meta

    def _refreshed(self, name: str) -> datetime:
        with self._meta:
            segment = self._segments.get(name)
            if segment is None:
                return self.now
            evaluated = str(segment["evaluationStatus"]["evaluationDate"])
        return datetime.fromisoformat(evaluated.replace("Z", "+00:00"))

    def all_entity_metadata(self) -> list[dict[str, Any]]:
        """``IEntityMetadata`` of every entity."""
        return [self.entity_metadata(n) for n in self.entity_names()]

    def entity_size(self, name: str) -> dict[str, Any]:
        """``EntitySize``: row count and an estimate of the stored bytes."""
        info = self.entity(name)
        rows = int(self.cursor().execute(f"SELECT count(*) FROM {info.relation}").fetchall()[0][0])
        width = sum(
            8 if not t.upper().startswith("VARCHAR") else 20 for t in self.columns(name).values()
        )
        return {"qualifiedEntityName": name, "rowCount": rows, "size": rows * width}

    def entity_profile(self, name: str, *, include_attributes: bool) -> dict[str, Any]:
        """``EntityDataProfile`` of an entity (attribute profiles when asked)."""
        info = self.entity(name)
        cols = self.columns(name)
        rows = int(self.cursor().execute(f"SELECT count(*) FROM {info.relation}").fetchall()[0][0])
        profile: dict[str, Any] = {
            "qualifiedEntityName": name,
            "rowCount": rows,
            "quarantineRowCount": 0,
            "profilingDate": _iso(self._refreshed(name)),
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
        result = attribute_profile(
            self.cursor(), info.relation, name, attribute, cols[attribute], key=info.key,
            profiled=self._refreshed(name),
        )  # fmt: skip
        self._profiles[cache_key] = result
        return result

    def _invalidate(self, name: str) -> None:
        self._columns.pop(name, None)
        relation = self._static_entities[name].relation if name in self._static_entities else None
        relation = relation or _segment_relation(name)
        with self._index_lock:
            self._key_indexes.pop(relation, None)
        self._row_blocks.drop(relation)
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
                "lastRefresh": _iso(self.now - timedelta(hours=3)),
                "refreshState": "updated",
                "version": 3,
                "createdBy": "admin@contoso.example",
                "createdUtc": _iso(created),
                "updatedBy": "admin@contoso.example",
                "updatedUtc": _iso(self.now - timedelta(days=14)),
                "instanceId": self.instance_id,
            }
            model = {
                "name": name,
                "description": f"{name} data ingested with Power Query",
                "version": "1.0",
                "culture": "en-US",
                "modifiedTime": _iso(self.now - timedelta(days=14)),
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
        with self._meta:
            segments = [n for n, s in self._segments.items() if s.get("_table")]
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

    def _segment_relation(self, name: str) -> str | None:
        with self._meta:
            segment = self._segments.get(name)
            if segment is None or not segment.get("_table"):
                return None
        return _segment_relation(name)

    def odata_page(self, entity_name: str, options: Mapping[str, str]) -> ODataPage:
        """One page of ``GET /data/{entity}`` with OData query ``options`` (``$filter``...).

        Raises
        ------
        NotFoundError
            When the entity does not exist.
        ODataQueryError
            When the options are malformed or a combination the service rejects.
        """
        page = self._odata_page(entity_name, options, memory_only=False)
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
        return self._odata_page(entity_name, options, memory_only=True)

    def _odata_page(
        self, entity_name: str, options: Mapping[str, str], *, memory_only: bool
    ) -> ODataPage | None:
        info = self.entity(entity_name)
        known = self._columns.get(entity_name)
        if known is None and memory_only:
            return None
        cols = known if known is not None else self.columns(entity_name)
        opt = {k: v for k, v in options.items()}
        for name in opt:
            if name.startswith("$") and name not in {
                "$filter", "$select", "$orderby", "$top", "$skip", "$count", "$search",
                "$expand", "$skiptoken", "$format",
            }:  # fmt: skip
                raise ODataQueryError(f"The query option '{name}' is not supported.", target=name)
        filter_text = opt.get("$filter")
        search_text = opt.get("$search")
        expand_text = opt.get("$expand")
        select_text = opt.get("$select")
        expand = _parse_expand(expand_text, entity_name)
        if filter_text is not None and info.kind == "source":
            raise ODataQueryError(
                f"$filter is not supported on the ingested source table '{entity_name}'; "
                "filter on a system table such as Customer or UnifiedActivity instead.",
                target="$filter",
            )
        if expand and search_text is not None:
            raise ODataQueryError(
                "$expand cannot be combined with $search; run the search first, then expand "
                "with a $filter on CustomerId.",
                target="$expand",
            )
        select = parse_select(select_text, cols, entity=entity_name)
        if expand and select is not None:
            raise ODataQueryError(
                "$expand cannot be combined with a partial $select; select all properties "
                "(omit $select) when expanding.",
                target="$expand",
            )
        orderby = parse_orderby(opt.get("$orderby"), cols, entity=entity_name)
        top = parse_non_negative(opt.get("$top"), "$top")
        skip = parse_non_negative(opt.get("$skip"), "$skip")
        count_text = (opt.get("$count") or "false").strip().lower()
        if count_text not in {"true", "false"}:
            raise ODataQueryError(
                f"Invalid value '{opt.get('$count')}' for $count; use true or false.",
                target="$count",
            )
        terms = parse_search(search_text)
        tree = None if filter_text is None else _parsed_filter(filter_text)
        where = None
        if tree is not None:
            translator = FilterTranslator(
                cols, entity=entity_name, segment_relation=self._segment_relation
            )
            where = translator.translate(tree)
        fingerprint = query_fingerprint(
            entity_name, filter_text, opt.get("$orderby"), search_text, select_text, expand_text
        )
        token = None
        if opt.get("$skiptoken") is not None:
            token = SkipToken.decode(str(opt["$skiptoken"]), query=fingerprint)
        paging = _Paging(fingerprint, token, skip, top, keyset=not orderby)
        want_count = count_text == "true"
        if not terms and not expand and orderby in ([], [(info.key, False)]):
            conditions = [] if tree is None else key_conditions(tree, info.key)
            if conditions is not None:
                page = self._key_range_page(
                    info, cols, select, conditions, paging, count=want_count,
                    memory_only=memory_only,
                )  # fmt: skip
                if page is not None or memory_only:
                    return page
        if memory_only:
            return None
        plan = build_page_query(
            info.relation, cols, entity=entity_name, key=info.key, select=select, where=where,
            search_terms=terms, search_columns=info.search_columns, orderby=orderby, token=token,
            skip=skip, top=top, page_size=PAGE_SIZE,
        )  # fmt: skip
        cur = self.cursor()
        try:
            result = cur.execute(plan.sql, plan.params)
            names = [d[0] for d in result.description]
            raw = result.fetchall()
            count = None
            if want_count:
                count = int(cur.execute(plan.count_sql, plan.count_params).fetchall()[0][0])
        except duckdb.Error as exc:
            logger.info("OData query failed: %s", exc)
            raise ODataQueryError(
                f"The query could not be evaluated: {str(exc).splitlines()[0]}"
            ) from exc
        more = len(raw) > plan.page_size
        raw = raw[: plan.page_size]
        key_index = names.index(info.key)
        if expand and raw:
            rows = [
                {c: to_json_value(v) for c, v in zip(names, r, strict=True) if c in plan.columns}
                for r in raw
            ]
            self._expand(rows, [r[key_index] for r in raw], expand)
            value = reference_json(rows)
        else:
            value = RowRenderer(plan.columns, [cols[c] for c in plan.columns]).render(raw)
        last = str(raw[-1][key_index]) if raw else None
        next_token = paging.next_token(more=more, last_key=last, size=plan.page_size)
        return ODataPage(entity_name, value, count, next_token, select)

    def _key_index(self, info: ent.EntityInfo) -> KeyIndex | None:
        """The :class:`KeyIndex` of an entity's table (built on first use), if it has one."""
        with self._index_lock:
            if info.relation in self._key_indexes:
                return self._key_indexes[info.relation]
            started = time.perf_counter()
            index = KeyIndex.build(
                self.cursor(), info.relation, info.key, max_rows=KEY_INDEX_MAX_ROWS
            )
            self._key_indexes[info.relation] = index
        logger.debug(
            "key index of %s: %s in %.3f s",
            info.name,
            "none" if index is None else f"{len(index)} keys",
            time.perf_counter() - started,
        )
        return index

    def _key_range_page(
        self,
        info: ent.EntityInfo,
        cols: dict[str, str],
        select: list[str] | None,
        conditions: list[tuple[str, str | None]],
        paging: _Paging,
        *,
        count: bool,
        memory_only: bool = False,
    ) -> ODataPage | None:
        """A page whose rows are a range of keys, read by position; ``None``: use SQL.

        The rows, count and next token are those the SQL of :func:`build_page_query`
        gives (rows after ``$skiptoken``/``$skip``, ``$top``, one row more to see if more).
        ``None`` when the table has no key index, or when the rows read are not the keys
        the index expects (the table was just replaced): the caller then runs the SQL.
        With ``memory_only``, also ``None`` when the page needs any database work.
        """
        index = self._key_indexes.get(info.relation) if memory_only else self._key_index(info)
        if index is None:
            return None
        low, high = index.span(conditions)
        start = low
        token = paging.token
        if paging.keyset and token is not None and token.after is not None:
            start = max(start, index.bisect_right(token.after))
        start += paging.offset
        size = paging.size(PAGE_SIZE)
        available = max(high - start, 0)
        taken = min(size, available)
        columns = select if select is not None else list(cols)
        rows: list[bytes] = []
        if taken:
            # Full pages (the paging pattern) come from blocks of rendered rows; a page that
            # $top makes short (a bulk pull's boundary probe) is read as it is.
            if size == PAGE_SIZE:
                found = self._rendered_rows(
                    info, cols, columns, index, start, start + taken, memory_only=memory_only
                )
            else:
                found = None if memory_only else self._read_rows(
                    info, cols, columns, index, start, start + taken
                )  # fmt: skip
            if found is None:
                return None
            rows = found
        value = b"[" + b",".join(rows) + b"]"
        last = index.key(start + taken - 1) if taken else None
        next_token = paging.next_token(more=available > size, last_key=last, size=size)
        return ODataPage(info.name, value, high - low if count else None, next_token, select)

    def _rendered_rows(
        self,
        info: ent.EntityInfo,
        cols: dict[str, str],
        columns: list[str],
        index: KeyIndex,
        start: int,
        stop: int,
        *,
        memory_only: bool = False,
    ) -> list[bytes] | None:
        """The JSON text of rows ``start`` to ``stop - 1``, from blocks of rendered rows.

        A block not in the cache is read and kept (:meth:`_read_rows`); ``None`` when the
        index is stale, or with ``memory_only`` when a block is not in the cache.
        """
        wanted = tuple(columns)
        out: list[bytes] = []
        for block in range(start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS + 1):
            key = (info.relation, index.version, wanted, block)
            rows = self._row_blocks.get(key)
            first = block * BLOCK_ROWS
            if rows is None:
                if memory_only:
                    return None
                last = min(first + BLOCK_ROWS, len(index))
                rows = self._read_rows(info, cols, columns, index, first, last)
                if rows is None:
                    return None
                self._row_blocks.put(key, rows)
            out.extend(rows[max(start - first, 0) : stop - first])
        return out

    def _read_rows(
        self,
        info: ent.EntityInfo,
        cols: dict[str, str],
        columns: list[str],
        index: KeyIndex,
        start: int,
        stop: int,
    ) -> list[bytes] | None:
        """Rows ``start`` to ``stop - 1`` read by ``rowid`` and rendered, one text per row.

        DuckDB writes the JSON itself where it writes the bytes :class:`RowRenderer` would
        (:func:`~ci_toolkit.emulator.data.jsonrows.sql_row_json`): that query runs without
        the interpreter lock, so the event loop goes on answering other requests while a
        block is rendered (a bulk pull's pages came back 15% sooner). Otherwise the values
        are fetched and rendered by :class:`RowRenderer`. ``None`` when the keys read are not
        those the index expects (the table was replaced since the index was built) or the
        table is gone: the caller uses SQL.
        """
        types = [cols[c] for c in columns]
        expression = sql_row_json(columns, types)
        if expression is not None:
            texts = self._rows_by_position(info, [expression], index, start, stop)
            if texts is None:
                return None
            rendered: list[bytes] = [row[0] for row in texts]
            if not any(SQL_ESCAPE in text for text in rendered):
                return rendered
        values = self._rows_by_position(
            info, [quote_ident(c) for c in columns], index, start, stop
        )  # fmt: skip
        if values is None:
            return None
        return RowRenderer(columns, types).render_each(values)

    def _rows_by_position(
        self, info: ent.EntityInfo, select: list[str], index: KeyIndex, start: int, stop: int
    ) -> list[tuple[Any, ...]] | None:
        """``SELECT <select>, <key>`` of rows ``start`` to ``stop - 1`` by ``rowid``.

        ``None`` when the keys read are not those the index expects, or the table is gone.
        """
        try:
            raw: list[tuple[Any, ...]] = (
                self.cursor()
                .execute(
                    f"SELECT {', '.join(select)}, {quote_ident(info.key)} FROM {info.relation} "
                    "WHERE rowid >= ? AND rowid < ?",
                    [start, stop],
                )
                .fetchall()
            )
        except duckdb.Error as exc:  # the table went away (a segment deleted): use SQL
            logger.debug("key range read of %s failed: %s", info.name, exc)
            return None
        if [r[-1] for r in raw] != index.keys(start, stop):
            logger.debug("key index of %s is stale; reading with SQL", info.name)
            return None
        return raw

    def _expand(self, rows: list[dict[str, Any]], ids: list[Any], expand: list[str]) -> None:
        cur = self.cursor()
        marks = ", ".join("?" for _ in ids)
        if "UnifiedActivity" in expand:
            result = cur.execute(
                f"SELECT * FROM UnifiedActivity WHERE CustomerId IN ({marks}) "
                "ORDER BY CustomerId, ActivityTime DESC",
                ids,
            )
            names = [d[0] for d in result.description]
            grouped: dict[Any, list[dict[str, Any]]] = {}
            for r in result.fetchall():
                item = {c: to_json_value(v) for c, v in zip(names, r, strict=True)}
                grouped.setdefault(item["CustomerId"], []).append(item)
            for row, cid in zip(rows, ids, strict=True):
                row["UnifiedActivity"] = grouped.get(cid, [])
        if "Customer_Measure" in expand:
            result = cur.execute(
                f"SELECT * FROM Customer_Measure WHERE CustomerId IN ({marks})", ids
            )
            names = [d[0] for d in result.description]
            by_id = {
                r[0]: {c: to_json_value(v) for c, v in zip(names, r, strict=True)}
                for r in result.fetchall()
            }
            for row, cid in zip(rows, ids, strict=True):
                row["Customer_Measure"] = by_id.get(cid)

    def export_table(self, source: str) -> pa.Table:
        """All rows of a segment (by name) or of an entity (by name) as an Arrow table."""
        relation = self._segment_relation(source)
        if relation is None:
            relation = self.entity(source).relation
        with self._cursor_lock:
            cur = self._con.cursor()
        try:
            table: pa.Table = cur.sql(f"SELECT * FROM {relation}").to_arrow_table()
        finally:
            cur.close()
        return table

    # ------------------------------------------------------------------------------------------
    # segments
    # ------------------------------------------------------------------------------------------

    def _init_demo_definitions(self) -> None:
        created = self.now - timedelta(days=200)
        for definition in demo_segments(self.seed, self.now):
            record = {**definition, **self._stamp("admin@contoso.example", created, True)}
            self._segments[definition["name"]] = record
        for definition in demo_measures():
            record = {
                **definition,
                "isTemplate": False,
                "isCreatedFromTemplate": False,
                **self._stamp("admin@contoso.example", created, True),
            }
            self._measures[definition["name"]] = record

    def segment_names(self) -> list[str]:
        """Names of all segments (active and inactive)."""
        with self._meta:
            return list(self._segments)

    def _evaluate_segment(self, name: str, *, at: datetime, record: bool) -> int:
        """Rebuild a segment's member table (caller holds ``_lock``); returns its size."""
        with self._meta:
            segment = self._segments[name]
            query = copy.deepcopy(segment.get("segmentQueryExpression") or {})
        run_id = str(uuid.uuid4())
        try:
            sql, params = segment_sql(query, self._schemas(), now=at)
            cols = ", ".join(_SEGMENT_COLUMNS)
            cur = self.cursor()
            cur.execute(
                f"CREATE OR REPLACE TABLE {_segment_relation(name)} AS SELECT {cols} FROM Customer "
                f"WHERE CustomerId IN ({sql}) ORDER BY CustomerId",
                params,
            )
            count = int(
                cur.execute(f"SELECT count(*) FROM {_segment_relation(name)}").fetchall()[0][0]
            )
        except (SegmentDefinitionError, duckdb.Error) as exc:
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            logger.info("segment %s failed to evaluate: %s", name, message)
            with self._meta:
                previous = int(segment.get("evaluationStatus", {}).get("entityCount", 0))
                segment["evaluationStatus"] = {
                    "jobStatus": "CompletedFailure",
                    "evaluationDate": _iso(at),
                    "entityCount": previous,
                    "error": {"key": "apiInternalError", "value": message},
                }
                segment["errorDescription"] = message
                if record:
                    self._record_history(name, segment["evaluationStatus"])
            return previous
        with self._meta:
            segment["_table"] = True
            segment.pop("errorDescription", None)
            segment["evaluationStatus"] = {
                "jobStatus": "CompletedSuccess",
                "evaluationDate": _iso(at),
                "entityCount": count,
                "lastSuccessfulRunId": run_id,
            }
            if record:
                self._record_history(name, segment["evaluationStatus"])
        self._invalidate(name)
        return count

    def _record_history(self, name: str, status: dict[str, Any]) -> None:
        history = self._history.setdefault(name, [])
        point = {k: status[k] for k in ("evaluationDate", "entityCount", "jobStatus")}
        if "error" in status:
            point["error"] = status["error"]
        if history and history[-1]["evaluationDate"][:10] == point["evaluationDate"][:10]:
            history[-1] = point
        else:
            history.append(point)
        del history[:-366]

    def evaluate_segment(self, name: str) -> int:
        """Recompute a segment's members now; returns the member count.

        Updates ``evaluationStatus`` and today's point of the size history.
        """
        with self._lock:
            if name not in self._segments:
                raise NotFoundError("segment", name)
            count = self._evaluate_segment(name, at=_utcnow(), record=True)
            self._save()
            return count

    def segments(
        self,
        *,
        include_history: bool = False,
        history_days: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """``SegmentMetadata`` of every segment (with size history when asked)."""
        with self._meta:
            names = list(self._segments)
            if limit is not None:
                names = names[: max(limit, 0)]
            return [
                self.segment(n, include_history=include_history, history_days=history_days)
                for n in names
            ]

    def segment(
        self, name: str, *, include_history: bool = False, history_days: int | None = None
    ) -> dict[str, Any]:
        """``SegmentMetadata`` of one segment; raises :class:`NotFoundError`."""
        with self._meta:
            segment = self._segments.get(name)
            if segment is None:
                raise NotFoundError("segment", name)
            out = {k: copy.deepcopy(v) for k, v in segment.items() if not k.startswith("_")}
            if include_history:
                days = HISTORY_DAYS if history_days is None else max(history_days, 0)
                history = self._history.get(name, [])
                newest = max([_iso(self.now), *(p["evaluationDate"] for p in history[-1:])])
                reference = datetime.fromisoformat(newest.replace("Z", "+00:00"))
                cutoff = _iso(reference - timedelta(days=days))
                out["evaluationStatusHistory"] = [
                    dict(p) for p in history if p["evaluationDate"] > cutoff
                ]
            return out

    def _check_segment_body(self, body: Any, name: str | None) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise DefinitionError("The request body must be a SegmentMetadata JSON object.")
        segment_name = body.get("name", name)
        if not isinstance(segment_name, str) or not _NAME.match(segment_name):
            raise DefinitionError(
                "The segment needs a 'name' of letters, digits and underscores that starts "
                f"with a letter (got {segment_name!r})."
            )
        if name is not None and segment_name != name:
            raise DefinitionError(
                f"The name in the body ('{segment_name}') differs from the name in the path "
                f"('{name}'); segments cannot be renamed."
            )
        state = body.get("state", "active")
        if state not in {"active", "inactive"}:
            raise DefinitionError(f"Unsupported state '{state}'; use 'active' or 'inactive'.")
        query = body.get("segmentQueryExpression")
        if query is None:
            raise DefinitionError("The segment needs a 'segmentQueryExpression'.")
        segment_sql(query, self._schemas(), now=_utcnow())  # validates
        allowed = {"kind", "friendlyName", "description", "segmentQueryExpression", "endDate"}
        clean = {k: copy.deepcopy(v) for k, v in body.items() if k in allowed}
        clean.update(name=segment_name, state=state)
        clean.setdefault("kind", "default")
        clean.setdefault("friendlyName", segment_name)
        return clean

    def create_segment(self, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Create and evaluate a segment from a ``SegmentMetadata`` body."""
        with self._lock:
            clean = self._check_segment_body(body, None)
            name = clean["name"]
            if name in self._segments:
                raise DefinitionError(f"A segment named '{name}' already exists.")
            if name in self._entity_map():
                raise DefinitionError(f"'{name}' is already the name of an entity.")
            now = _utcnow()
            with self._meta:
                self._segments[name] = {**clean, **self._stamp(actor, now, True)}
            self._evaluate_segment(name, at=now, record=True)
            self._save()
            return self.segment(name)

    def update_segment(self, name: str, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Replace a segment's definition and re-evaluate it."""
        with self._lock:
            current = self._segments.get(name)
            if current is None:
                raise NotFoundError("segment", name)
            if not isinstance(body, Mapping):
                raise DefinitionError("The request body must be a SegmentMetadata JSON object.")
            # What the body leaves out stays as it was.
            unchanged = {"state", "kind", "friendlyName", "description", "segmentQueryExpression"}
            merged = {k: v for k, v in current.items() if k in unchanged}
            merged.update(body)
            clean = self._check_segment_body(merged, name)
            now = _utcnow()
            kept = {"createdBy", "createdUtc", "_table", "evaluationStatus"}
            keep = {k: v for k, v in current.items() if k in kept}
            record = {**keep, **clean, **self._stamp(actor, now, False)}
            record["version"] = int(current.get("version", 1)) + 1
            with self._meta:
                self._segments[name] = record
            self._evaluate_segment(name, at=now, record=True)
            self._save()
            return self.segment(name)

    def set_segment_state(self, name: str, active: bool, *, actor: str = "ci-emulator") -> bool:
        """Activate (and evaluate) or deactivate a segment."""
        with self._lock:
            segment = self._segments.get(name)
            if segment is None:
                raise NotFoundError("segment", name)
            with self._meta:
                segment["state"] = "active" if active else "inactive"
                segment.update(self._stamp(actor, _utcnow(), False))
            if active:
                self._evaluate_segment(name, at=_utcnow(), record=True)
            self._save()
            return True

    def delete_segment(self, name: str) -> None:
        """Delete a segment and its member table."""
        with self._lock:
            if name not in self._segments:
                raise NotFoundError("segment", name)
            with self._meta:
                del self._segments[name]
                self._history.pop(name, None)
            self.cursor().execute(f"DROP TABLE IF EXISTS {_segment_relation(name)}")
            self._invalidate(name)
            self._save()

    # ------------------------------------------------------------------------------------------
    # measures
    # ------------------------------------------------------------------------------------------

    def measure_names(self) -> list[str]:
        """Names of all measures."""
        with self._meta:
            return list(self._measures)

    def _plans(self, at: datetime) -> dict[str, MeasurePlan | SegmentDefinitionError]:
        schemas = {
            "UnifiedActivity": self.columns("UnifiedActivity"),
            "Customer": self.columns("Customer"),
            "Customer_Measure": {"CustomerId": "VARCHAR"},
        }
        with self._meta:
            definitions = {n: copy.deepcopy(m.get("definition")) for n, m in self._measures.items()}
        plans: dict[str, MeasurePlan | SegmentDefinitionError] = {}
        for name, definition in definitions.items():
            try:
                plans[name] = plan_measure(name, definition, schemas, now=at)
            except SegmentDefinitionError as exc:
                plans[name] = exc
        return plans

    def _evaluate_measures(self, *, at: datetime, names: list[str] | None) -> None:
        """Rebuild ``Customer_Measure`` and refresh the outputs of ``names`` (all if None)."""
        plans = self._plans(at)
        profile = {n: p for n, p in plans.items() if isinstance(p, MeasurePlan) and p.is_profile}
        cur = self.cursor()
        joins: list[str] = []
        selects: list[str] = ["c.CustomerId"]
        params: list[Any] = []
        for i, (name, plan) in enumerate(profile.items()):
            sql, p = plan.profile_sql()
            joins.append(f"LEFT JOIN ({sql}) j{i} ON j{i}.CustomerId = c.CustomerId")
            params.extend(p)
            value = f"coalesce(j{i}.v, 0)" if plan.default_zero else f"j{i}.v"
            selects.append(f"{value} AS {quote_ident(name)}")
        failed: dict[str, str] = {}
        try:
            cur.execute(
                "CREATE OR REPLACE TABLE Customer_Measure AS SELECT "
                + ", ".join(selects)
                + " FROM Customer c "
                + " ".join(joins)
                + " ORDER BY c.CustomerId",
                params,
            )
        except duckdb.Error as exc:  # pragma: no cover - plans are checked before
            logger.warning("Customer_Measure rebuild failed: %s", exc)
            failed = {n: str(exc).splitlines()[0] for n in profile}
        self._invalidate("Customer_Measure")
        for name in names if names is not None else list(plans):
            plan_or_error = plans.get(name)
            if isinstance(plan_or_error, SegmentDefinitionError):
                self._measure_failed(name, plan_or_error.message, at)
            elif name in failed:
                self._measure_failed(name, failed[name], at)
            elif plan_or_error is not None:
                self._measure_output(name, plan_or_error, at)

    def _measure_output(self, name: str, plan: MeasurePlan, at: datetime) -> None:
        cur = self.cursor()
        if plan.is_profile:
            col = quote_ident(name)
            kind = self.columns("Customer_Measure").get(name, "DOUBLE")
            numeric = not kind.upper().startswith("TIMESTAMP")
            avg = f"avg({col})" if numeric else "NULL"
            row = cur.execute(
                f"SELECT count({col}), {avg}, min({col}), max({col}) FROM Customer_Measure"
            ).fetchall()[0]
            values = {
                "customerCount": str(row[0]),
                "average": _fmt(row[1]),
                "min": _fmt(row[2]),
                "max": _fmt(row[3]),
            }
            values = {k: v for k, v in values.items() if v is not None}
        else:
            sql, params = plan.scalar_sql()
            row = cur.execute(sql, params).fetchall()[0]
            values = {
                alias: v
                for (alias, _), value in zip(plan.select, row, strict=True)
                if (v := _fmt(value)) is not None
            }
        run_id = str(uuid.uuid4())
        with self._meta:
            measure = self._measures[name]
            measure["output"] = {"values": values, "measureName": name, "evaluationTime": _iso(at)}
            measure["latestEvaluation"] = {
                "lastSuccessfulRunId": run_id,
                "state": "completed",
                "endTime": _iso(at),
            }
            measure["evaluationStats"] = {"lastSuccessful": _iso(at), "consecutiveFailureCount": 0}
            measure.pop("errorDescription", None)
            measure.pop("_outputHistory", None)

    def _measure_failed(self, name: str, message: str, at: datetime) -> None:
        with self._meta:
            measure = self._measures[name]
            stats = measure.get("evaluationStats") or {"consecutiveFailureCount": 0}
            measure["latestEvaluation"] = {"state": "failed", "endTime": _iso(at), "error": message}
            measure["evaluationStats"] = {
                **stats,
                "consecutiveFailureCount": int(stats.get("consecutiveFailureCount", 0)) + 1,
            }
            measure["errorDescription"] = {"key": "apiInternalError", "value": message}

    def evaluate_measure(self, name: str) -> None:
        """Recompute a measure now (profile measures rebuild ``Customer_Measure``)."""
        with self._lock:
            if name not in self._measures:
                raise NotFoundError("measure", name)
            self._evaluate_measures(at=_utcnow(), names=[name])
            self._save()

    def measure(
        self, name: str, *, include_history: bool = False, history_days: int | None = None
    ) -> dict[str, Any]:
        """``MeasureMetadata`` of one measure; raises :class:`NotFoundError`."""
        days = HISTORY_DAYS if history_days is None else max(min(history_days, 365), 0)
        with self._meta:
            measure = self._measures.get(name)
            if measure is None:
                raise NotFoundError("measure", name)
            out = {k: copy.deepcopy(v) for k, v in measure.items() if not k.startswith("_")}
            out["evaluationHistory"] = self._evaluation_history(
                name, days if include_history else 7
            )
        if include_history:
            out["outputHistory"] = self._output_history(name, out.get("definition"), days)
        return out

    def measures(self) -> list[dict[str, Any]]:
        """``MeasureMetadata`` of every measure."""
        return [self.measure(n) for n in self.measure_names()]

    def _evaluation_history(self, name: str, days: int) -> list[dict[str, Any]]:
        latest = self._measures[name].get("latestEvaluation")
        base = self.now.replace(hour=3, minute=0, second=0, microsecond=0)
        rng = random.Random(f"{self.seed}:{name}")
        history = []
        for back in range(days, 0, -1):
            end = base - timedelta(days=back)
            if rng.random() < 0.04:
                history.append(
                    {"state": "failed", "endTime": _iso(end), "error": "The evaluation timed out."}
                )
            else:
                history.append({"state": "completed", "endTime": _iso(end)})
        if latest is not None:
            history.append(dict(latest))
        return history

    def _output_history(self, name: str, definition: Any, days: int) -> list[dict[str, Any]]:
        """Daily ``ScalarOutput`` of a scalar measure, computed from rows up to each day."""
        with self._meta:
            measure = self._measures.get(name)
            cached = None if measure is None else measure.get("_outputHistory")
            if cached is not None and len(cached) >= days:
                return [dict(p) for p in cached[-days:]] if days else []
        try:
            plan: MeasurePlan | None = plan_measure(
                name, definition, self._schemas_for_plan(), now=self.now
            )
        except SegmentDefinitionError:
            plan = None
        out: list[dict[str, Any]] = []
        if plan is not None and not plan.is_profile:
            cur = self.cursor()
            base = self.now.replace(hour=3, minute=0, second=0, microsecond=0)
            for back in range(days, 0, -1):
                day = base - timedelta(days=back)
                day_plan = plan_measure(name, definition, self._schemas_for_plan(), now=day)
                sql, params = day_plan.scalar_sql(until=day.replace(tzinfo=None))
                row = cur.execute(sql, params).fetchall()[0]
                values = {
                    a: v for (a, _), x in zip(plan.select, row, strict=True) if (v := _fmt(x))
                }
                out.append({"values": values, "measureName": name, "evaluationTime": _iso(day)})
        with self._meta:
            current = self._measures.get(name)
            if current is not None and current.get("definition") == definition:
                current["_outputHistory"] = out
        return [dict(p) for p in out]

    def _schemas_for_plan(self) -> dict[str, dict[str, str]]:
        return {
            "UnifiedActivity": self.columns("UnifiedActivity"),
            "Customer": self.columns("Customer"),
            "Customer_Measure": self.columns("Customer_Measure"),
        }

    def _check_measure_body(self, body: Any, name: str | None) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise DefinitionError("The request body must be a MeasureMetadata JSON object.")
        measure_name = body.get("name", name)
        if not isinstance(measure_name, str) or not _NAME.match(measure_name):
            raise DefinitionError(
                "The measure needs a 'name' of letters, digits and underscores that starts "
                f"with a letter (got {measure_name!r})."
            )
        if name is not None and measure_name != name:
            raise DefinitionError(
                f"The name in the body ('{measure_name}') differs from the name in the path "
                f"('{name}'); measures cannot be renamed."
            )
        if measure_name == "CustomerId":
            raise DefinitionError("'CustomerId' cannot be used as a measure name.")
        plan_measure(measure_name, body.get("definition"), self._schemas_for_plan(), now=_utcnow())
        allowed = {"displayName", "description", "definition"}
        clean = {k: copy.deepcopy(v) for k, v in body.items() if k in allowed}
        clean["name"] = measure_name
        clean.setdefault("displayName", measure_name)
        return clean

    def create_measure(self, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Create and evaluate a measure from a ``MeasureMetadata`` body."""
        with self._lock:
            clean = self._check_measure_body(body, None)
            name = clean["name"]
            if name in self._measures:
                raise DefinitionError(f"A measure named '{name}' already exists.")
            now = _utcnow()
            with self._meta:
                self._measures[name] = {
                    **clean,
                    "isTemplate": False,
                    "isCreatedFromTemplate": False,
                    **self._stamp(actor, now, True),
                }
            self._evaluate_measures(at=now, names=[name])
            self._save()
            return self.measure(name)

    def update_measure(self, name: str, body: Any, *, actor: str = "ci-emulator") -> dict[str, Any]:
        """Replace a measure's definition and re-evaluate it."""
        with self._lock:
            current = self._measures.get(name)
            if current is None:
                raise NotFoundError("measure", name)
            merged = dict(body) if isinstance(body, Mapping) else body
            if isinstance(merged, dict) and "definition" not in merged:
                merged["definition"] = current.get("definition")
            clean = self._check_measure_body(merged, name)
            now = _utcnow()
            version = int(current.get("version", 1)) + 1
            kept = {"createdBy", "createdUtc", "isTemplate", "isCreatedFromTemplate"}
            keep = {k: v for k, v in current.items() if k in kept}
            record = {**keep, **clean, **self._stamp(actor, now, False)}
            record["version"] = version
            with self._meta:
                self._measures[name] = record
            self._evaluate_measures(at=now, names=[name])
            self._save()
            return self.measure(name)

    def delete_measure(self, name: str) -> None:
        """Delete a measure (its ``Customer_Measure`` column goes too)."""
        with self._lock:
            if name not in self._measures:
                raise NotFoundError("measure", name)
            with self._meta:
                del self._measures[name]
            self._evaluate_measures(at=_utcnow(), names=[])
            self._save()


@dataclass(frozen=True)
class _Paging:
    """Where a page starts and how its next token is made (``$skip``, ``$top``, token)."""

    fingerprint: int
    token: SkipToken | None
    skip: int | None
    top: int | None
    keyset: bool

    @property
    def offset(self) -> int:
        """Rows to skip before the page (``$skip`` on the first page, then the token's)."""
        return (self.skip or 0) if self.token is None else self.token.offset

    @property
    def remaining(self) -> int | None:
        """Rows ``$top`` still allows (``None``: no limit)."""
        return self.top if self.token is None else self.token.remaining

    def size(self, page_size: int) -> int:
        """Rows on this page at most."""
        remaining = self.remaining
        return page_size if remaining is None else min(page_size, remaining)

    def next_token(self, *, more: bool, last_key: str | None, size: int) -> str | None:
        """The next page's ``$skiptoken``, or ``None`` on the last page."""
        remaining = self.remaining
        left = None if remaining is None else remaining - size
        if not more or (left is not None and left <= 0) or last_key is None:
            return None
        if self.keyset:
            return SkipToken(query=self.fingerprint, after=last_key, remaining=left).encode()
        return SkipToken(query=self.fingerprint, offset=self.offset + size, remaining=left).encode()


def _segment_relation(name: str) -> str:
    return quote_ident(f"segment__{name}")


def _fmt(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return None
        return f"{value:.2f}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return str(to_json_value(value))
    return str(value)


def _parse_expand(text: str | None, entity: str) -> list[str]:
    if text is None or not text.strip():
        return []
    items = [p.strip() for p in text.split(",")]
    for item in items:
        if "(" in item:
            raise ODataQueryError(
                f"Nested query options in $expand ('{item}') are not supported.", target="$expand"
            )
        if item not in _EXPANDABLE:
            raise ODataQueryError(
                f"'{item}' cannot be expanded; $expand supports "
                f"{' and '.join(_EXPANDABLE)} on Customer.",
                target="$expand",
            )
    if entity != "Customer":
        raise ODataQueryError(
            f"$expand is only supported on Customer, not on '{entity}'.", target="$expand"
        )
    return list(dict.fromkeys(items))
