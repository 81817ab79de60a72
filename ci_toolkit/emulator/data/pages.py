"""``GET /data/{entity}``: OData query options to one page, by key range or by SQL.

The options are checked as the service checks them (unsupported options and combinations
are an :class:`~ci_toolkit.emulator.data.odata.ODataQueryError`). A page of a key range in
key order comes from :class:`~.keyrange.KeyRangeReader`; anything else runs the SQL of
:func:`~ci_toolkit.emulator.data.odata.build_page_query`. ``$expand`` fills the related
rows after the page is read.

Example
-------
>>> reader = PageReader(store, key_ranges=KeyRangeReader(cursor=store.cursor))  # doctest: +SKIP
>>> reader.page("Customer", {"$top": "5"}).rows  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import duckdb

from ci_toolkit.emulator.data import entities as ent
from ci_toolkit.emulator.data.jsonrows import RowRenderer, reference_json
from ci_toolkit.emulator.data.keyindex import key_conditions
from ci_toolkit.emulator.data.keyrange import KeyRangeReader
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
    to_json_value,
)
from ci_toolkit.emulator.data.paging import PAGE_SIZE, ODataPage, Paging

__all__ = ["EXPANDABLE", "QUERY_OPTIONS", "PageReader", "Tables", "parse_expand"]

logger = logging.getLogger(__name__)

#: The system query options the data endpoint accepts.
QUERY_OPTIONS = frozenset(
    {"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$search", "$expand",
     "$skiptoken", "$format"}
)  # fmt: skip
#: What ``$expand`` may name (on ``Customer`` only).
EXPANDABLE = ("UnifiedActivity", "Customer_Measure")


class Tables(Protocol):
    """What the page reader needs from the data store."""

    def entity(self, name: str) -> ent.EntityInfo:
        """The entity called ``name``; raises ``NotFoundError``."""

    def columns(self, name: str) -> dict[str, str]:
        """Column name -> DuckDB type of an entity (described on first use)."""

    def known_columns(self, name: str) -> dict[str, str] | None:
        """The columns of an entity if described already (no database work)."""

    def cursor(self) -> Any:
        """This thread's DuckDB cursor."""

    def segment_relation(self, name: str) -> str | None:
        """The member table of an evaluated segment, or ``None``."""


@functools.lru_cache(maxsize=512)
def _parsed_filter(text: str) -> Any:
    """``parse_filter(text)``, remembered: pages of one query repeat its ``$filter``."""
    return parse_filter(text)


def parse_expand(text: str | None, entity: str) -> list[str]:
    """The relations ``$expand`` names (checked), in order, without repeats.

    Examples
    --------
    >>> parse_expand("UnifiedActivity, UnifiedActivity", "Customer")
    ['UnifiedActivity']
    """
    if text is None or not text.strip():
        return []
    items = [p.strip() for p in text.split(",")]
    for item in items:
        if "(" in item:
            raise ODataQueryError(
                f"Nested query options in $expand ('{item}') are not supported.", target="$expand"
            )
        if item not in EXPANDABLE:
            raise ODataQueryError(
                f"'{item}' cannot be expanded; $expand supports "
                f"{' and '.join(EXPANDABLE)} on Customer.",
                target="$expand",
            )
    if entity != "Customer":
        raise ODataQueryError(
            f"$expand is only supported on Customer, not on '{entity}'.", target="$expand"
        )
    return list(dict.fromkeys(items))


class PageReader:
    """Pages of OData queries on the tables of one data store.

    Parameters
    ----------
    tables
        The data store (entities, columns, cursors, segment tables).
    key_ranges
        The key-range fast path.
    """

    def __init__(self, tables: Tables, *, key_ranges: KeyRangeReader) -> None:
        self._tables = tables
        self._key_ranges = key_ranges

    def page(
        self, entity_name: str, options: Mapping[str, str], *, memory_only: bool = False
    ) -> ODataPage | None:
        """One page of ``entity_name`` with OData query ``options``.

        With ``memory_only``, the page only if it can be cut from rendered rows in memory,
        else ``None``; otherwise never ``None``.

        Raises
        ------
        NotFoundError
            When the entity does not exist.
        ODataQueryError
            When the options are malformed or a combination the service rejects.
        """
        tables = self._tables
        info = tables.entity(entity_name)
        known = tables.known_columns(entity_name)
        if known is None and memory_only:
            return None
        cols = known if known is not None else tables.columns(entity_name)
        opt = dict(options)
        for name in opt:
            if name.startswith("$") and name not in QUERY_OPTIONS:
                raise ODataQueryError(f"The query option '{name}' is not supported.", target=name)
        filter_text = opt.get("$filter")
        search_text = opt.get("$search")
        expand_text = opt.get("$expand")
        select_text = opt.get("$select")
        expand = parse_expand(expand_text, entity_name)
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
                cols, entity=entity_name, segment_relation=tables.segment_relation
            )
            where = translator.translate(tree)
        fingerprint = query_fingerprint(
            entity_name, filter_text, opt.get("$orderby"), search_text, select_text, expand_text
        )
        token = None
        if opt.get("$skiptoken") is not None:
            token = SkipToken.decode(str(opt["$skiptoken"]), query=fingerprint)
        paging = Paging(fingerprint, token, skip, top, keyset=not orderby)
        want_count = count_text == "true"
        if not terms and not expand and orderby in ([], [(info.key, False)]):
            conditions = [] if tree is None else key_conditions(tree, info.key)
            if conditions is not None:
                page = self._key_ranges.page(
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
        cur = tables.cursor()
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

    def _expand(self, rows: list[dict[str, Any]], ids: list[Any], expand: list[str]) -> None:
        cur = self._tables.cursor()
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
