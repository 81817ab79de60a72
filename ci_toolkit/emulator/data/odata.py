"""OData system query options translated to parameterised DuckDB SQL.

``$filter`` is parsed with odata-query's grammar (``ODataLexer``/``ODataParser``) and the
syntax tree is translated here into SQL with ``?`` placeholders: user values only ever
travel as parameters, column names only after they were checked against the entity.

Errors are :class:`ODataQueryError` with a message a person understands; the route turns
them into an ``ODataError`` 400.

Example
-------
>>> columns = {"Name": "VARCHAR", "Age": "BIGINT"}
>>> sql, params = translate_filter("Name eq 'Ann' and Age gt 30", columns, entity="Person")
>>> sql, params
('(("Name" = ?) AND ("Age" > ?))', ['Ann', 30])
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser

from ci_toolkit.emulator.numbers import parse_digits

__all__ = [
    "EDM_TYPES",
    "ODataQueryError",
    "PageQuery",
    "SkipToken",
    "build_page_query",
    "edm_type",
    "kind_of",
    "parse_filter",
    "parse_non_negative",
    "parse_orderby",
    "parse_search",
    "parse_select",
    "resolve_property",
    "translate_filter",
]

#: DuckDB type -> the EDM type name the OData layer reports.
EDM_TYPES: dict[str, str] = {
    "string": "Edm.String",
    "int": "Edm.Int64",
    "double": "Edm.Double",
    "bool": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset",
    "date": "Edm.Date",
    "null": "null",
}

_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER"}


class ODataQueryError(Exception):
    """A query option the emulator (like the service) cannot accept; answered with 400."""

    def __init__(self, message: str, *, code: str = "BadRequest", target: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.target = target


def kind_of(sql_type: str) -> str:
    """The value kind (string, int, double, bool, datetime, date) of a DuckDB column type."""
    t = sql_type.upper()
    if t in _INT_TYPES:
        return "int"
    if t in {"DOUBLE", "FLOAT", "REAL"} or t.startswith("DECIMAL"):
        return "double"
    if t == "BOOLEAN":
        return "bool"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    if t == "DATE":
        return "date"
    return "string"


def edm_type(sql_type: str) -> str:
    """The EDM type name of a DuckDB column type (``Edm.String``...)."""
    return EDM_TYPES[kind_of(sql_type)]


def resolve_property(name: str, columns: Mapping[str, str]) -> str | None:
    """The column ``name`` refers to, matched as the service matches property names.

    An exact match wins; otherwise the one column whose name differs only in letter case
    (Microsoft's "OData query examples" filter on ``customerid`` against ``CustomerId``, and
    the service answers: its OData layer resolves property names case-insensitively).
    ``None`` when no column, or more than one, matches that way.

    Examples
    --------
    >>> resolve_property("customerid", {"CustomerId": "VARCHAR"})
    'CustomerId'
    >>> resolve_property("Nope", {"CustomerId": "VARCHAR"}) is None
    True
    """
    if name in columns:
        return name
    lowered = name.lower()
    found = [c for c in columns if c.lower() == lowered]
    return found[0] if len(found) == 1 else None


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (names are checked against the entity before this)."""
    return '"' + name.replace('"', '""') + '"'


# ----------------------------------------------------------------------------------------------
# $filter
# ----------------------------------------------------------------------------------------------

_OPERATOR_NAMES = {
    ast.Eq: ("=", "Equal"),
    ast.NotEq: ("<>", "NotEqual"),
    ast.Lt: ("<", "LessThan"),
    ast.LtE: ("<=", "LessThanOrEqual"),
    ast.Gt: (">", "GreaterThan"),
    ast.GtE: (">=", "GreaterThanOrEqual"),
}
_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
_NUMERIC = {"int", "double"}
_CUSTOM_FUNCTIONS = {"ismemberofsegment"}


def _rewrite_single_item_lists(tokens: list[Any]) -> list[Any]:
    """Accept ``x in ('a')``: odata-query wants a trailing comma for one-item lists."""
    out: list[Any] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        out.append(tok)
        if tok.type == "IN":
            j = i + 1
            while j < len(tokens) and tokens[j].type == "WS":
                j += 1
            k = j + 1
            while k < len(tokens) and tokens[k].type == "WS":
                k += 1
            m = k + 1
            while m < len(tokens) and tokens[m].type == "WS":
                m += 1
            literal_types = {"STRING", "INTEGER", "DECIMAL", "GUID", "DATE", "DATETIME", "BOOLEAN"}
            if (
                m < len(tokens)
                and tokens[j].type == "("
                and tokens[k].type in literal_types
                and tokens[m].type == ")"
            ):
                comma = copy.copy(tokens[m])
                comma.type = ","
                comma.value = ","
                out.extend(tokens[i + 1 : m])
                out.append(comma)
                out.append(tokens[m])
                i = m + 1
                continue
        i += 1
    return out


def _clip(text: str, limit: int = 120) -> str:
    """``text`` shortened for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_filter(text: str) -> Any:
    """Parse a ``$filter`` expression into an odata-query syntax tree.

    Raises
    ------
    ODataQueryError
        When the expression is not valid OData.
    """
    if not text.strip():
        raise ODataQueryError("The $filter query option is empty.", target="$filter")
    parser = ODataParser()
    standard_call = parser._function_call

    def function_call(func: ast.Identifier, args: list[Any]) -> ast.Call:
        if _full_name(func).lower() in _CUSTOM_FUNCTIONS:
            return ast.Call(func, args)
        result: ast.Call = standard_call(func, args)
        return result

    # A per-instance override so IsMemberOfSegment parses; the class stays untouched.
    parser._function_call = function_call  # type: ignore[method-assign]
    try:
        tokens = _rewrite_single_item_lists(list(ODataLexer().tokenize(text.strip())))
        tree = parser.parse(iter(tokens))
    except exceptions.TokenizingException as exc:
        pos = getattr(exc.token, "index", 0)
        raise ODataQueryError(
            f"Syntax error at position {pos} in $filter '{_clip(text)}': "
            f"unexpected character {text.strip()[pos : pos + 1]!r}.",
            target="$filter",
        ) from exc
    except exceptions.ParsingException as exc:
        if exc.eof or exc.token is None:
            msg = f"Syntax error in $filter '{_clip(text)}': the expression ends unexpectedly."
        else:
            pos = exc.token.index
            near = text.strip()[pos : pos + 20].strip() or exc.token.value
            msg = f"Syntax error at position {pos} in $filter '{_clip(text)}' near '{near}'."
        raise ODataQueryError(msg, target="$filter") from exc
    except exceptions.UnknownFunctionException as exc:
        raise ODataQueryError(
            f"An unknown function with name '{exc.function_name}' was found in $filter.",
            target="$filter",
        ) from exc
    except exceptions.ODataException as exc:
        raise ODataQueryError(f"Invalid $filter '{_clip(text)}': {exc}", target="$filter") from exc
    if tree is None:
        raise ODataQueryError("The $filter query option is empty.", target="$filter")
    return tree


@dataclass
class _Expr:
    sql: str
    kind: str
    params: list[Any] = field(default_factory=list)


class FilterTranslator:
    """Translates an odata-query syntax tree into a parameterised DuckDB condition.

    Parameters
    ----------
    columns
        Column name -> DuckDB type of the entity being queried.
    entity
        The entity's name (for error messages).
    segment_relation
        Resolves ``IsMemberOfSegment('Name')`` to the SQL relation holding the members'
        ``CustomerId``; ``None`` when the entity has no segment membership.
    prefix
        Table alias to qualify column names with (``t`` gives ``t."Name"``).
    """

    def __init__(
        self,
        columns: Mapping[str, str],
        *,
        entity: str,
        segment_relation: Callable[[str], str | None] | None = None,
        prefix: str = "",
    ) -> None:
        self.columns = dict(columns)
        self.entity = entity
        self.segment_relation = segment_relation
        self.prefix = f"{prefix}." if prefix else ""

    def translate(self, node: Any) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters for a ``$filter`` syntax tree."""
        expr = self._visit(node)
        if expr.kind != "bool":
            raise ODataQueryError(
                "The $filter expression must evaluate to a boolean value "
                f"(it evaluates to {EDM_TYPES.get(expr.kind, expr.kind)}).",
                target="$filter",
            )
        return expr.sql, expr.params

    # --- nodes -----------------------------------------------------------------------------

    def _visit(self, node: Any) -> _Expr:
        if isinstance(node, ast.Identifier):
            return self._identifier(node)
        if isinstance(node, ast._Literal):
            return self._literal(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BoolOp):
            left, right = self._visit(node.left), self._visit(node.right)
            word = "AND" if isinstance(node.op, ast.And) else "OR"
            for side in (left, right):
                if side.kind != "bool":
                    raise ODataQueryError(
                        f"The operands of '{word.lower()}' must be boolean expressions.",
                        target="$filter",
                    )
            return _Expr(f"({left.sql} {word} {right.sql})", "bool", left.params + right.params)
        if isinstance(node, ast.UnaryOp):
            operand = self._visit(node.operand)
            if isinstance(node.op, ast.Not):
                if operand.kind != "bool":
                    raise ODataQueryError(
                        "The operand of 'not' must be a boolean expression.", target="$filter"
                    )
                return _Expr(f"(NOT {operand.sql})", "bool", operand.params)
            if operand.kind not in _NUMERIC:
                raise ODataQueryError("Only numbers can be negated.", target="$filter")
            return _Expr(f"(-{operand.sql})", operand.kind, operand.params)
        if isinstance(node, ast.BinOp):
            return self._arithmetic(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            raise ODataQueryError(
                "Navigation properties are not supported in $filter "
                f"('{_attribute_path(node)}'); query that entity directly instead.",
                target="$filter",
            )
        if isinstance(node, ast.CollectionLambda):
            raise ODataQueryError(
                "Lambda operators (any/all) are not supported in $filter.", target="$filter"
            )
        raise ODataQueryError(
            f"This kind of expression is not supported in $filter: {type(node).__name__}.",
            target="$filter",
        )

    def _identifier(self, node: ast.Identifier) -> _Expr:
        given = _full_name(node)
        name = resolve_property(given, self.columns)
        if name is None:
            raise ODataQueryError(
                f"Could not find a property named '{given}' on type '{self.entity}'.",
                target="$filter",
            )
        return _Expr(self.prefix + quote_ident(name), kind_of(self.columns[name]))

    def _literal(self, node: Any) -> _Expr:
        if isinstance(node, ast.Null):
            return _Expr("NULL", "null")
        if isinstance(node, ast.String):
            return _Expr("?", "string", [node.py_val])
        if isinstance(node, ast.GUID):
            return _Expr("?", "string", [node.val.lower()])
        if isinstance(node, ast.Boolean):
            return _Expr("?", "bool", [node.py_val])
        if isinstance(node, ast.Integer):
            return _Expr("?", "int", [node.py_val])
        if isinstance(node, ast.Float):
            return _Expr("?", "double", [node.py_val])
        if isinstance(node, ast.DateTime):
            try:
                value = node.py_val
            except ValueError as exc:
                raise ODataQueryError(
                    f"'{node.val}' is not a valid date and time.", target="$filter"
                ) from exc
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return _Expr("?", "datetime", [value])
        if isinstance(node, ast.Date):
            try:
                return _Expr("?", "date", [node.py_val])
            except ValueError as exc:
                raise ODataQueryError(
                    f"'{node.val}' is not a valid date.", target="$filter"
                ) from exc
        if isinstance(node, ast.List):
            items = [self._literal(v) for v in node.val]
            return _Expr(
                ", ".join(i.sql for i in items),
                "list",
                [p for i in items for p in i.params],
            )
        raise ODataQueryError(
            f"Literals of type {type(node).__name__} are not supported in $filter.",
            target="$filter",
        )

    def _compare(self, node: ast.Compare) -> _Expr:
        left = self._visit(node.left)
        if isinstance(node.comparator, ast.In):
            if not isinstance(node.right, ast.List):
                raise ODataQueryError(
                    "The right side of 'in' must be a list like ('a', 'b').", target="$filter"
                )
            items = [self._literal(v) for v in node.right.val]
            parts: list[str] = []
            params: list[Any] = []
            for item in items:
                item = self._coerce(left, item, "In")
                parts.append(item.sql)
                params.extend(item.params)
            return _Expr(f"({left.sql} IN ({', '.join(parts)}))", "bool", left.params + params)
        right = self._visit(node.right)
        op, op_name = _OPERATOR_NAMES[type(node.comparator)]
        if right.kind == "null" or left.kind == "null":
            other = left if right.kind == "null" else right
            if isinstance(node.comparator, ast.Eq):
                return _Expr(f"({other.sql} IS NULL)", "bool", other.params)
            if isinstance(node.comparator, ast.NotEq):
                return _Expr(f"({other.sql} IS NOT NULL)", "bool", other.params)
            return _Expr("FALSE", "bool")
        right = self._coerce(left, right, op_name)
        left = self._coerce(right, left, op_name)
        return _Expr(f"({left.sql} {op} {right.sql})", "bool", left.params + right.params)

    def _coerce(self, target: _Expr, value: _Expr, op_name: str) -> _Expr:
        """``value`` made comparable with ``target``, or an incompatible-types error."""
        a, b = target.kind, value.kind
        if a == b or (a in _NUMERIC and b in _NUMERIC) or "null" in (a, b):
            return value
        if a == "datetime" and b == "date":
            return _Expr(f"CAST({value.sql} AS TIMESTAMP)", "datetime", value.params)
        if a == "date" and b == "datetime":
            return value
        if a == "datetime" and b == "string" and value.sql == "?":
            parsed = _parse_datetime_string(value.params[0])
            if parsed is not None:
                return _Expr("?", "datetime", [parsed])
        raise ODataQueryError(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{EDM_TYPES.get(a, a)}' and '{EDM_TYPES.get(b, b)}' for operator kind '{op_name}'.",
            target="$filter",
        )

    def _arithmetic(self, node: ast.BinOp) -> _Expr:
        left, right = self._visit(node.left), self._visit(node.right)
        if left.kind not in _NUMERIC or right.kind not in _NUMERIC:
            raise ODataQueryError(
                "Arithmetic operators (add, sub, mul, div, mod) need numeric operands.",
                target="$filter",
            )
        op = _ARITHMETIC[type(node.op)]
        kind = "int" if left.kind == right.kind == "int" else "double"
        if op == "/" and kind == "int":
            op = "//"
        return _Expr(f"({left.sql} {op} {right.sql})", kind, left.params + right.params)

    def _call(self, node: ast.Call) -> _Expr:
        name = _full_name(node.func).lower()
        if name == "ismemberofsegment":
            return self._is_member_of_segment(node)
        args = [self._visit(a) for a in node.args]
        params = [p for a in args for p in a.params]

        def need(*kinds: str) -> None:
            for arg, kind in zip(args, kinds, strict=False):
                ok = arg.kind == kind or (kind == "number" and arg.kind in _NUMERIC)
                if kind == "datetime" and arg.kind == "date":
                    ok = True
                if not ok and arg.kind != "null":
                    raise ODataQueryError(
                        f"The function '{node.func.name}' does not accept an argument of type "
                        f"'{EDM_TYPES.get(arg.kind, arg.kind)}'.",
                        target="$filter",
                    )

        sql = [a.sql for a in args]
        if name in {"contains", "startswith", "endswith"}:
            need("string", "string")
            fns = {"contains": "contains", "startswith": "starts_with", "endswith": "ends_with"}
            return _Expr(f"coalesce({fns[name]}({sql[0]}, {sql[1]}), FALSE)", "bool", params)
        if name in {"tolower", "toupper", "trim"}:
            need("string")
            fn = {"tolower": "lower", "toupper": "upper", "trim": "trim"}[name]
            return _Expr(f"{fn}({sql[0]})", "string", params)
        if name == "length":
            need("string")
            return _Expr(f"length({sql[0]})", "int", params)
        if name == "concat":
            need("string", "string")
            return _Expr(f"({sql[0]} || {sql[1]})", "string", params)
        if name == "indexof":
            need("string", "string")
            return _Expr(f"(instr({sql[0]}, {sql[1]}) - 1)", "int", params)
        if name == "substring":
            need("string", "int", "int")
            if len(sql) == 2:
                return _Expr(f"substring({sql[0]}, {sql[1]} + 1)", "string", params)
            return _Expr(f"substring({sql[0]}, {sql[1]} + 1, {sql[2]})", "string", params)
        if name in {"year", "month", "day", "hour", "minute", "second"}:
            need("datetime")
            return _Expr(f"{name}({sql[0]})", "int", params)
        if name == "date":
            need("datetime")
            return _Expr(f"CAST({sql[0]} AS DATE)", "date", params)
        if name == "now":
            return _Expr("?", "datetime", [datetime.now(UTC).replace(tzinfo=None)])
        if name in {"round", "floor", "ceiling"}:
            need("number")
            fn = "ceil" if name == "ceiling" else name
            return _Expr(f"{fn}({sql[0]})", args[0].kind, params)
        raise ODataQueryError(
            f"The function '{node.func.name}' is not supported by this service.",
            target="$filter",
        )

    def _is_member_of_segment(self, node: ast.Call) -> _Expr:
        if len(node.args) != 1 or not isinstance(node.args[0], ast.String):
            raise ODataQueryError(
                "IsMemberOfSegment takes one argument: the segment name in single quotes, "
                "e.g. IsMemberOfSegment('HighValueCustomers').",
                target="$filter",
            )
        segment = node.args[0].val
        if self.segment_relation is None or "CustomerId" not in self.columns:
            raise ODataQueryError(
                f"IsMemberOfSegment can only be used on profile entities, not on '{self.entity}'.",
                target="$filter",
            )
        relation = self.segment_relation(segment)
        if relation is None:
            raise ODataQueryError(
                f"The segment '{segment}' does not exist or has not been evaluated yet.",
                target="$filter",
            )
        column = self.prefix + quote_ident("CustomerId")
        return _Expr(f"({column} IN (SELECT CustomerId FROM {relation}))", "bool")


def _full_name(identifier: ast.Identifier) -> str:
    return ".".join((*identifier.namespace, identifier.name))


def _attribute_path(node: Any) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_attribute_path(node.owner)}/{node.attr}"
    if isinstance(node, ast.Identifier):
        return _full_name(node)
    return "?"


def _parse_datetime_string(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def translate_filter(
    text: str,
    columns: Mapping[str, str],
    *,
    entity: str,
    segment_relation: Callable[[str], str | None] | None = None,
    prefix: str = "",
) -> tuple[str, list[Any]]:
    """Parse and translate a ``$filter`` expression to a SQL condition with parameters."""
    translator = FilterTranslator(
        columns, entity=entity, segment_relation=segment_relation, prefix=prefix
    )
    return translator.translate(parse_filter(text))


# ----------------------------------------------------------------------------------------------
# $select, $orderby, $top, $skip, $search, $skiptoken
# ----------------------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_property(name: str, columns: Mapping[str, str], entity: str, option: str) -> str:
    found = resolve_property(name, columns)
    if found is None:
        raise ODataQueryError(
            f"Could not find a property named '{name}' on type '{entity}' (in {option}).",
            target=option,
        )
    return found


def parse_select(text: str | None, columns: Mapping[str, str], *, entity: str) -> list[str] | None:
    """The selected column names in order, or ``None`` for all (absent or ``*``)."""
    if text is None or text.strip() in {"", "*"}:
        return None
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            raise ODataQueryError(f"Empty item in $select '{_clip(text)}'.", target="$select")
        if name == "*":
            return None
        if "/" in name or "(" in name:
            raise ODataQueryError(
                f"Only plain property names are supported in $select, not '{name}'.",
                target="$select",
            )
        name = _check_property(name, columns, entity, "$select")
        if name not in names:
            names.append(name)
    return names


def parse_orderby(
    text: str | None, columns: Mapping[str, str], *, entity: str
) -> list[tuple[str, bool]]:
    """``[(column, descending), ...]`` from ``$orderby``."""
    if text is None or not text.strip():
        return []
    result: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise ODataQueryError(
                f"Invalid $orderby '{_clip(text)}': expected 'Property [asc|desc], ...'.",
                target="$orderby",
            )
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in {"asc", "desc"}:
            raise ODataQueryError(
                f"Invalid sort direction '{words[1]}' in $orderby; use asc or desc.",
                target="$orderby",
            )
        result.append((_check_property(words[0], columns, entity, "$orderby"), direction == "desc"))
    return result


def parse_non_negative(text: str | None, option: str) -> int | None:
    """An integer query option (``$top``, ``$skip``) or ``None`` when absent."""
    if text is None:
        return None
    value = parse_digits(text.strip())
    if value is None:
        raise ODataQueryError(
            f"Invalid value '{_clip(text)}' for {option} query option found. "
            f"The {option} query option requires a non-negative integer value.",
            target=option,
        )
    return value


def parse_search(text: str | None) -> list[str]:
    """The search terms of ``$search`` (quotes removed); every term must match."""
    if text is None:
        return []
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    terms = [t for t in value.split() if t.upper() not in {"AND"}]
    if not terms:
        raise ODataQueryError("The $search query option is empty.", target="$search")
    return terms


@dataclass(frozen=True)
class SkipToken:
    """Where the next page starts: after a key (keyset) or at an offset, and rows left."""

    query: int
    offset: int = 0
    after: str | None = None
    remaining: int | None = None

    def encode(self) -> str:
        """The opaque token text."""
        payload = {"q": self.query, "o": self.offset, "a": self.after, "r": self.remaining}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(text: str, *, query: int) -> SkipToken:
        """Read a token produced by :meth:`encode` for the same query."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            payload = json.loads(raw)
            token = SkipToken(
                query=int(payload["q"]),
                offset=int(payload["o"]),
                after=None if payload["a"] is None else str(payload["a"]),
                remaining=None if payload["r"] is None else int(payload["r"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ODataQueryError(
                "The $skiptoken is not valid; use the @odata.nextLink of the previous page as is.",
                target="$skiptoken",
            ) from exc
        if token.query != query or token.offset < 0:
            raise ODataQueryError(
                "The $skiptoken belongs to a different query; use the @odata.nextLink of the "
                "previous page as is.",
                target="$skiptoken",
            )
        return token


def query_fingerprint(*parts: str | None) -> int:
    """A number identifying a query, so a skip token cannot be replayed on another one."""
    return zlib.crc32("\x1f".join(p or "" for p in parts).encode())


@dataclass
class PageQuery:
    """The SQL for one page, the SQL for ``$count`` and their parameters."""

    sql: str
    params: list[Any]
    count_sql: str
    count_params: list[Any]
    columns: list[str]
    page_size: int
    keyset: bool


def build_page_query(
    relation: str,
    columns: Mapping[str, str],
    *,
    entity: str,
    key: str,
    select: list[str] | None = None,
    where: tuple[str, list[Any]] | None = None,
    search_terms: list[str] | None = None,
    search_columns: list[str] | None = None,
    orderby: list[tuple[str, bool]] | None = None,
    token: SkipToken | None = None,
    skip: int | None = None,
    top: int | None = None,
    page_size: int = 100,
) -> PageQuery:
    """Compose the SQL for one page of an entity (one row more than a page, to see if more).

    Without ``$orderby`` the rows come in key order and pages continue after the last key
    (keyset paging, cheap at any depth); with ``$orderby`` they continue at an offset.
    """
    out_columns = select if select is not None else list(columns)
    conditions: list[str] = []
    params: list[Any] = []
    if where is not None:
        conditions.append(where[0])
        params.extend(where[1])
    if search_terms:
        targets = [c for c in (search_columns or []) if c in columns]
        if not targets:
            raise ODataQueryError(f"The entity '{entity}' has no searchable attributes.")
        for term in search_terms:
            ors = [f"contains(lower({quote_ident(c)}), ?)" for c in targets]
            conditions.append("(" + " OR ".join(ors) + ")")
            params.extend([term.lower()] * len(targets))
    count_sql = f"SELECT count(*) FROM {relation}"
    if conditions:
        count_sql += " WHERE " + " AND ".join(conditions)
    count_params = list(params)

    keyset = not orderby
    offset = (skip or 0) if token is None else token.offset
    remaining = top if token is None else token.remaining
    if keyset and token is not None and token.after is not None:
        conditions.append(f"{quote_ident(key)} > ?")
        params.append(token.after)
    size = page_size if remaining is None else min(page_size, remaining)
    order = (
        [f"{quote_ident(key)}"]
        if keyset
        else [f"{quote_ident(c)} {'DESC' if d else 'ASC'} NULLS LAST" for c, d in orderby or []]
        + [quote_ident(key)]
    )
    fetch = [*out_columns] if key in out_columns else [*out_columns, key]
    sql = f"SELECT {', '.join(quote_ident(c) for c in fetch)} FROM {relation}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY " + ", ".join(order) + " LIMIT ? OFFSET ?"
    params.extend([size + 1, offset])
    return PageQuery(sql, params, count_sql, count_params, out_columns, size, keyset)


def to_json_value(value: Any) -> Any:
    """A DuckDB value as the JSON the service returns (ISO 8601 with ``Z`` for times)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        text = value.isoformat()
        return text + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return value
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    return value
