"""OData as Dataverse does it, on top of the emulator's OData machinery (``data.odata``).

What differs from the v1 data endpoint, and only that, lives here:

- ``$skip``, ``$search`` and ``$format`` are refused; ``in`` (OData 4.01) is not available;
- paging is server-driven: ``Prefer: odata.maxpagesize`` (at most 500 on these elastic
  tables, larger values are clamped), ``@odata.nextLink`` with a ``$skiptoken`` in the
  paging-cookie shape, ``$top`` ignored when a page size is preferred;
- GUID columns compare and order as SQL Server orders ``uniqueidentifier``
  (:mod:`~ci_toolkit.emulator.dataverse.guids`); GUID literals are unquoted;
- string comparisons are case-insensitive, and ``contains``/``startswith``/``endswith``
  treat ``%`` and ``_`` as wildcards (SQL ``LIKE``);
- ``$count=true`` counts at most :data:`COUNT_LIMIT` rows;
- the primary key is always returned, and every row carries ``@odata.etag``.

Example
-------
>>> parse_prefer(['odata.maxpagesize=50,odata.include-annotations="*"']).max_page_size
50
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import duckdb
from odata_query import ast

from ci_toolkit.emulator.data.jsonrows import RowRenderer
from ci_toolkit.emulator.data.odata import (
    FilterTranslator,
    ODataQueryError,
    SkipToken,
    _Expr,
    build_page_query,
    parse_filter,
    parse_orderby,
    quote_ident,
)
from ci_toolkit.emulator.dataverse.errors import GENERIC, DataverseError
from ci_toolkit.emulator.dataverse.guids import GuidOrder, sort_key, sort_key_sql
from ci_toolkit.emulator.dataverse.tables import ETAG, SORT_KEY, Column, Table
from ci_toolkit.emulator.numbers import parse_digits

__all__ = [
    "COUNT_LIMIT",
    "MAX_PAGE_SIZE",
    "DataverseFilter",
    "Page",
    "Preferences",
    "decode_skiptoken",
    "encode_skiptoken",
    "parse_prefer",
    "query_table",
]

logger = logging.getLogger(__name__)

#: Default and largest page of an elastic table (the CI tables are all elastic).
MAX_PAGE_SIZE = 500
#: ``$count=true`` counts at most this many rows on an elastic table (then says "exceeded").
COUNT_LIMIT = 500
#: Options Dataverse refuses, with its message.
UNSUPPORTED_OPTIONS = ("$skip", "$search", "$format")
#: Options the emulator takes (``$expand``/``$apply`` are Dataverse options it does not imitate).
SUPPORTED_OPTIONS = frozenset({"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken"})
_TOTAL_COUNT = "Microsoft.Dynamics.CRM.totalrecordcount"
_COUNT_EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"


def _type_name(table: Table) -> str:
    return f"Microsoft.Dynamics.CRM.{table.logical}"


# ------------------------------------------------------------------------------------------
# Prefer
# ------------------------------------------------------------------------------------------


@dataclass
class Preferences:
    """The ``Prefer`` header's preferences this service honours."""

    max_page_size: int | None = None
    annotations: str | None = None
    applied: list[str] = field(default_factory=list)

    def wants(self, annotation: str) -> bool:
        """Whether ``odata.include-annotations`` asks for ``annotation`` (``*`` wildcards)."""
        if self.annotations is None:
            return False
        for pattern in self.annotations.split(","):
            pattern = pattern.strip()
            if pattern == "*" or pattern == annotation:
                return True
            if pattern.endswith(".*") and annotation.startswith(pattern[:-1]):
                return True
        return False


def _split_preferences(value: str) -> list[str]:
    """Comma-separated preferences; commas inside double quotes do not split."""
    return [p.strip() for p in re.findall(r'(?:[^,"]|"[^"]*")+', value) if p.strip()]


def parse_prefer(values: Sequence[str]) -> Preferences:
    """The preferences of every ``Prefer`` header (repeated or comma-separated).

    Unknown or malformed preferences are ignored (RFC 7240); a page size above
    :data:`MAX_PAGE_SIZE` is clamped to it and ``Preference-Applied`` says so.
    """
    prefs = Preferences()
    for value in values:
        for item in _split_preferences(value):
            name, _, raw = item.partition("=")
            name = name.strip().lower()
            raw = raw.strip()
            size = parse_digits(raw) if name == "odata.maxpagesize" else None
            if size:  # a positive Int64 (clamped to the maximum); anything else is ignored
                prefs.max_page_size = min(size, MAX_PAGE_SIZE)
            elif name == "odata.include-annotations" and raw:
                prefs.annotations = raw.strip('"')
    if prefs.max_page_size is not None:
        prefs.applied.append(f"odata.maxpagesize={prefs.max_page_size}")
    if prefs.annotations is not None:
        prefs.applied.append(f'odata.include-annotations="{prefs.annotations}"')
    return prefs


# ------------------------------------------------------------------------------------------
# $skiptoken: the paging cookie
# ------------------------------------------------------------------------------------------


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def encode_skiptoken(table: Table, page: int, first: str, last: str) -> str:
    """The ``$skiptoken`` after page ``page`` (1-based), in Dataverse's paging-cookie shape.

    Example
    -------
    >>> from ci_toolkit.emulator.dataverse.tables import TABLES
    >>> t = TABLES["msdynci_alternatekey"]
    >>> token = encode_skiptoken(t, 1, "00000000-0000-0000-0000-000000000001",
    ...                          "00000000-0000-0000-0000-000000000002")
    >>> decode_skiptoken(t, token)
    (2, '00000000-0000-0000-0000-000000000002')
    """
    inner = (
        f'<cookie page="{page}"><{table.primary_id} last="{{{last.upper()}}}" '
        f'first="{{{first.upper()}}}" /></cookie>'
    )
    paging = _lower_escapes(quote(inner, safe=""))
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{paging}" istracking="False" />'


def decode_skiptoken(table: Table, text: str) -> tuple[int, str]:
    """``(page number, last key)`` of a ``$skiptoken`` this service gave.

    Raises
    ------
    DataverseError
        400 when it is not one of this table's tokens.
    """
    number = re.search(r'pagenumber="(\d+)"', text)
    paging = re.search(r'pagingcookie="([^"]*)"', text)
    last = None
    if paging is not None:
        found = re.search(
            rf'<{table.primary_id} last="\{{([0-9A-Fa-f-]{{36}})\}}"', unquote(paging.group(1))
        )
        last = found.group(1).lower() if found else None
    try:
        last = None if last is None else str(uuid.UUID(last))
    except ValueError:
        last = None
    if number is None or last is None or int(number.group(1)) < 2:
        raise DataverseError(
            400,
            GENERIC,
            "The $skiptoken is not valid: use the @odata.nextLink of the previous page unchanged.",
        )
    return int(number.group(1)), last


# ------------------------------------------------------------------------------------------
# $filter
# ------------------------------------------------------------------------------------------


class DataverseFilter(FilterTranslator):
    """``$filter`` in Dataverse's dialect (see the module docstring).

    Parameters
    ----------
    table
        The table queried (its primary key compares by the ``_sk`` column).
    columns
        The table's columns.
    order
        How GUIDs order: ``sqlserver`` or ``lexicographic``.
    """

    def __init__(self, table: Table, columns: Sequence[Column], *, order: GuidOrder) -> None:
        super().__init__({c.name: c.sql_type for c in columns}, entity=_type_name(table))
        self.table = table
        self.order = order
        self.guids = {c.name for c in columns if c.is_guid}
        self.strings = {c.name for c in columns if c.sql_type == "VARCHAR" and not c.is_guid}

    def translate(self, node: Any) -> tuple[str, list[Any]]:
        """The SQL condition and parameters; errors name GUIDs ``Edm.Guid``."""
        try:
            return super().translate(node)
        except ODataQueryError as exc:
            exc.message = exc.message.replace("'guid'", "'Edm.Guid'")
            raise

    def _identifier(self, node: ast.Identifier) -> _Expr:
        name = ".".join((*node.namespace, node.name))
        if name == self.table.primary_id:
            return _Expr(quote_ident(SORT_KEY), "guid")
        if name in self.guids:
            return _Expr(sort_key_sql(quote_ident(name), order=self.order), "guid")
        expr = super()._identifier(node)
        if name in self.strings:  # string comparisons are case-insensitive
            return _Expr(f"lower({expr.sql})", "string", expr.params)
        return expr

    def _literal(self, node: Any) -> _Expr:
        if isinstance(node, ast.GUID):
            return _Expr("?", "guid", [sort_key(node.val, order=self.order)])
        if isinstance(node, ast.String):
            return _Expr("?", "string", [node.py_val.lower()])
        return super()._literal(node)

    def _compare(self, node: ast.Compare) -> _Expr:
        if isinstance(node.comparator, ast.In):
            raise ODataQueryError(
                "The 'in' operator (OData 4.01) is not supported; combine conditions with "
                "'or', or use Microsoft.Dynamics.CRM.In.",
                target="$filter",
            )
        return super()._compare(node)

    def _call(self, node: ast.Call) -> _Expr:
        name = ".".join((*node.func.namespace, node.func.name)).lower()
        patterns = {"contains": "%{}%", "startswith": "{}%", "endswith": "%{}"}
        if name in patterns and len(node.args) == 2 and isinstance(node.args[1], ast.String):
            target = self._visit(node.args[0])
            if target.kind != "string":
                raise ODataQueryError(
                    f"The function '{node.func.name}' needs a string column.", target="$filter"
                )
            value = str(node.args[1].py_val).lower()
            # The CI docs write contains(msdynci_segments,'\"Name\"'): take it with and
            # without the backslashes (the stored text has plain double quotes).
            variants = dict.fromkeys([value, value.replace('\\"', '"')])
            sql: list[str] = []
            params: list[Any] = []
            for variant in variants:
                sql.append(f"{target.sql} LIKE ?")
                params += [*target.params, patterns[name].format(variant)]
            return _Expr(f"coalesce(({' OR '.join(sql)}), FALSE)", "bool", params)
        return super()._call(node)


# ------------------------------------------------------------------------------------------
# a page
# ------------------------------------------------------------------------------------------


@dataclass
class Page:
    """One page: the rows' JSON text, the (capped) count and the next ``$skiptoken``."""

    value: bytes
    select: list[str] | None
    count: int | None = None
    count_exceeded: bool = False
    skiptoken: str | None = None
    rows: int = 0


def _check_options(table: Table, options: Mapping[str, str]) -> None:
    for name in options:
        if name in UNSUPPORTED_OPTIONS:
            raise DataverseError(400, GENERIC, f"The query parameter {name} is not supported")
        if name.startswith("$") and name not in SUPPORTED_OPTIONS:
            raise DataverseError(
                400,
                GENERIC,
                f"The query parameter {name} is not supported by the emulator's Dataverse API "
                f"on '{table.entity_set}'.",
            )


def _select(table: Table, text: str | None, names: Sequence[str]) -> list[str] | None:
    if text is None or not text.strip():
        return None
    chosen: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name not in names:
            raise DataverseError(
                400,
                GENERIC,
                f"Could not find a property named '{name}' on type '{_type_name(table)}'.",
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def _orderby(table: Table, text: str | None, columns: Sequence[Column]) -> list[tuple[str, bool]]:
    types = {c.name: c.sql_type for c in columns}
    try:
        order = parse_orderby(text, types, entity=_type_name(table))
    except ODataQueryError as exc:
        raise DataverseError(400, GENERIC, exc.message) from None
    guids = {c.name for c in columns if c.is_guid}
    mapped: list[tuple[str, bool]] = []
    for name, descending in order:
        if name == table.primary_id:
            mapped.append((SORT_KEY, descending))
        elif name in guids:
            raise DataverseError(
                400,
                GENERIC,
                f"Ordering on the lookup column '{name}' is not supported for elastic tables.",
            )
        else:
            mapped.append((name, descending))
    if mapped == [(SORT_KEY, False)]:
        return []  # the default order: by primary key, paged by key
    return mapped


def _number(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    value = parse_digits(text.strip())
    if value is None:
        raise DataverseError(
            400,
            GENERIC,
            f"Invalid value '{text}' for {option} query option found. The {option} query "
            "option requires a non-negative integer value.",
        )
    return value


def query_table(
    cursor: Any,
    table: Table,
    relation: str,
    columns: Sequence[Column],
    options: Mapping[str, str],
    prefs: Preferences,
    *,
    order: GuidOrder,
    key: str | None = None,
) -> Page:
    """One page of ``table`` for the query ``options`` (``key``: one row by its id).

    Raises
    ------
    DataverseError
        400 for options Dataverse refuses or cannot parse.
    """
    _check_options(table, options)
    names = [c.name for c in columns]
    selected = _select(table, options.get("$select"), names)
    chosen = names if selected is None else dict.fromkeys([table.primary_id, *selected])
    out = [ETAG, *chosen]
    orderby = _orderby(table, options.get("$orderby"), columns)
    top = _number(options.get("$top"), "$top")
    count_text = options.get("$count")
    if count_text is not None and count_text not in {"true", "false"}:
        raise DataverseError(
            400, GENERIC, f"Invalid value '{count_text}' for $count; use true or false."
        )
    if prefs.max_page_size is not None:
        top = None  # documented: $top is ignored when odata.maxpagesize is sent
    size = prefs.max_page_size or MAX_PAGE_SIZE
    translator = DataverseFilter(table, columns, order=order)
    where: tuple[str, list[Any]] | None = None
    try:
        if options.get("$filter") is not None:
            where = translator.translate(parse_filter(options["$filter"]))
        if key is not None:
            key_sql = (f"({quote_ident(SORT_KEY)} = ?)", [sort_key(key, order=order)])
            if where is not None:
                key_sql = (f"({where[0]} AND {key_sql[0]})", where[1] + key_sql[1])
            where = key_sql
    except ODataQueryError as exc:
        raise DataverseError(400, GENERIC, exc.message) from None
    except ValueError as exc:
        raise DataverseError(400, GENERIC, f"Invalid GUID: {exc}.") from None
    page_number, token = 1, None
    if options.get("$skiptoken") is not None:
        page_number, last = decode_skiptoken(table, options["$skiptoken"])
        done = (page_number - 1) * size
        token = SkipToken(
            query=0,
            offset=done if orderby else 0,
            after=sort_key(last, order=order) if not orderby else None,
            remaining=None if top is None else max(top - done, 0),
        )
    types = {c.name: c.sql_type for c in columns}
    types[ETAG] = "VARCHAR"
    # Two steps: the keys of the page (only the columns the filter and order need are
    # computed for the rows scanned), then the page's rows by key (every column, few rows).
    plan = build_page_query(
        relation, {**types, SORT_KEY: "VARCHAR"}, entity=table.logical, key=SORT_KEY,
        select=[SORT_KEY], where=where, orderby=orderby, token=token, top=top, page_size=size,
    )  # fmt: skip
    try:
        keys = [str(k) for (k,) in cursor.execute(plan.sql, plan.params).fetchall()]
        more = len(keys) > plan.page_size and plan.page_size > 0
        keys = keys[: plan.page_size]
        wanted = ", ".join(quote_ident(c) for c in out)
        raw: list[Any] = []
        if keys and not orderby:  # keys in order: a range of the sorted table, re-filtered
            conditions = f"{quote_ident(SORT_KEY)} >= ? AND {quote_ident(SORT_KEY)} <= ?"
            params: list[Any] = [keys[0], keys[-1]]
            if where is not None:
                conditions += f" AND {where[0]}"
                params += where[1]
            raw = cursor.execute(
                f"SELECT {wanted} FROM {relation} WHERE {conditions} ORDER BY {SORT_KEY}",
                params,
            ).fetchall()
        elif keys:
            raw = cursor.execute(
                f"SELECT {wanted} FROM {relation} WHERE {SORT_KEY} IN "
                f"(SELECT unnest(?::VARCHAR[])) ORDER BY list_position(?::VARCHAR[], {SORT_KEY})",
                [keys, keys],
            ).fetchall()
        count = None
        if count_text == "true":
            count = int(cursor.execute(plan.count_sql, plan.count_params).fetchall()[0][0])
    except duckdb.Error as exc:
        raise DataverseError(
            400, GENERIC, f"The query could not be evaluated: {str(exc).splitlines()[0]}"
        ) from exc
    if top is not None and (page_number - 1) * size + len(raw) >= top:
        more = False  # $top reached
    renderer = RowRenderer(out, [types[c] for c in out])
    page = Page(renderer.render(raw), selected, rows=len(raw))
    if count is not None:
        page.count = min(count, COUNT_LIMIT)
        page.count_exceeded = count > COUNT_LIMIT
    if more and raw:
        pk = out.index(table.primary_id)
        page.skiptoken = encode_skiptoken(table, page_number, str(raw[0][pk]), str(raw[-1][pk]))
    return page
