"""Segment definitions (``SegmentationQuery``) translated to DuckDB SQL, and the demo segments.

A definition is a list of rowsets combined in order (``union``, ``intersect``, ``except``);
each rowset has a ``SegmentMembershipCriteria`` tree: groups (``logicalOperator`` with
``childCriterias``) and conditions (``attribute``, ``comparisonOperator``, ``value`` or
``listOfValues``). Attributes are ``Entity.Attribute`` on ``Customer``, ``Customer_Measure``
or ``UnifiedActivity`` (an unqualified name is looked up in ``Customer`` then
``Customer_Measure``). Conditions on ``UnifiedActivity`` in one ``and`` group must hold for
the same activity ("bought something in the last 30 days").

Example
-------
>>> criteria = {"attribute": "Customer.Country", "comparisonOperator": "equals",
...             "value": "Ireland"}
>>> sql, params = segment_sql({"rowsets": [{"criteria": criteria}]}, SCHEMAS, now=NOW)
... # doctest: +SKIP
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ci_toolkit.emulator.data.odata import kind_of, quote_ident

__all__ = [
    "COMPARISON_OPERATORS",
    "MAX_CRITERIA_DEPTH",
    "SegmentDefinitionError",
    "criteria_sql",
    "demo_segments",
    "segment_history",
    "segment_sql",
]


class SegmentDefinitionError(ValueError):
    """A segment (or measure) definition that cannot be evaluated; answered with 400.

    ``code`` is a ``ParsingError.code`` of the contract (``attributeNotFound``...).
    """

    def __init__(self, message: str, *, code: str = "invalidArgument") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


COMPARISON_OPERATORS = {
    "equals", "notEquals", "greaterThan", "greaterThanOrEqualTo", "lessThan",
    "lessThanOrEqualTo", "contains", "startsWith", "endsWith", "isNull", "isNotNull", "isIn",
    "isWithinLast", "isBetween", "isNotBetween", "yearToDate", "dayOf", "monthOf", "yearOf",
    "dayOfWeek",
}  # fmt: skip
#: Groups nested deeper than this are refused (the service's limit is not documented; the
#: emulator's SQL translation recurses once per level).
MAX_CRITERIA_DEPTH = 64
_UNSUPPORTED = {"any", "all", "timeAt", "childOf", "parentOf"}
_SET_OPERATIONS = {
    "union": "UNION",
    "include": "UNION",
    "none": "UNION",
    "intersect": "INTERSECT",
    "except": "EXCEPT",
    "exclude": "EXCEPT",
}
_ALIASES = {"Customer": "c", "Customer_Measure": "m", "UnifiedActivity": "a"}
_SIMPLE = {
    "equals": "=",
    "notEquals": "<>",
    "greaterThan": ">",
    "greaterThanOrEqualTo": ">=",
    "lessThan": "<",
    "lessThanOrEqualTo": "<=",
}
_DURATION = re.compile(
    r"^\s*(?:P(?P<iso>\d+)(?P<iunit>[DWMY])|(?P<n>\d+)\s*(?P<unit>day|week|month|year)s?)\s*$",
    re.IGNORECASE,
)


Fragment = tuple[str, list[Any]]


class _Context:
    """What a criteria tree may refer to (and when "now" is)."""

    def __init__(
        self,
        schemas: Mapping[str, Mapping[str, str]],
        *,
        now: datetime,
        base: str | None = None,
    ) -> None:
        self.schemas = schemas
        self.now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
        self.base = base  # measures: every attribute is on this entity

    def resolve(self, attribute: str) -> tuple[str, str, str]:
        """``(entity, column, sql type)`` of an attribute reference."""
        if not isinstance(attribute, str) or not attribute.strip():
            raise SegmentDefinitionError("A condition has no 'attribute'.")
        text = attribute.strip()
        if "." in text:
            entity, column = text.split(".", 1)
            candidates = [entity]
        else:
            column = text
            candidates = [self.base] if self.base else ["Customer", "Customer_Measure"]
        for entity in candidates:
            if entity is None:
                continue
            if entity not in self.schemas or (self.base and entity != self.base):
                allowed = self.base or ", ".join(self.schemas)
                raise SegmentDefinitionError(
                    f"Unknown entity '{entity}' in attribute '{attribute}'; conditions can use "
                    f"attributes of {allowed}.",
                    code="entityNotFound",
                )
            if column in self.schemas[entity]:
                return entity, column, self.schemas[entity][column]
        where = candidates[0] if len(candidates) == 1 else " or ".join(c for c in candidates if c)
        known = ", ".join(list(self.schemas.get(candidates[0] or "", {}))[:40])
        raise SegmentDefinitionError(
            f"Unknown attribute '{attribute}': {where} has no attribute '{column}'"
            + (f" (attributes: {known})." if known else "."),
            code="attributeNotFound",
        )


def _convert(value: Any, kind: str, attribute: str) -> Any:
    """A definition value (always a string in the contract) as the column's Python type."""
    if value is None:
        raise SegmentDefinitionError(f"The condition on '{attribute}' needs a 'value'.")
    text = str(value).strip()
    try:
        if kind == "int":
            return int(float(text))
        if kind == "double":
            return float(text)
        if kind == "bool":
            if text.lower() not in {"true", "false"}:
                raise ValueError(text)
            return text.lower() == "true"
        if kind in {"datetime", "date"}:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(UTC).replace(tzinfo=None)
            return parsed
    except (ValueError, OverflowError) as exc:  # OverflowError: int(float("1e400"))
        expected = {"int": "a whole number", "double": "a number", "bool": "true or false"}.get(
            kind, "an ISO 8601 date"
        )
        raise SegmentDefinitionError(
            f"The value '{text}' for '{attribute}' is not {expected}."
        ) from exc
    return text


def _duration_days(value: Any, attribute: str) -> int:
    """The days of an ``isWithinLast`` period (``'30 days'``, ``'P6M'``...)."""
    match = _DURATION.match(str(value or ""))
    if not match:
        raise SegmentDefinitionError(
            f"The value '{value}' for isWithinLast on '{attribute}' is not a period; "
            "use e.g. '30 days', '6 months' or 'P30D'."
        )
    amount = int(match.group("iso") or match.group("n"))
    unit = (match.group("iunit") or match.group("unit")).lower()[0]
    return {"d": 1, "w": 7, "m": 30, "y": 365}[unit] * amount


def _condition(node: Mapping[str, Any], ctx: _Context) -> tuple[str, Fragment]:
    """``(entity, (sql, params))`` of one condition."""
    params: list[Any] = []
    op = node.get("comparisonOperator")
    attribute = str(node.get("attribute"))
    if op in _UNSUPPORTED:
        raise SegmentDefinitionError(
            f"The comparison operator '{op}' is not supported by the emulator.",
            code="unsupportedSyntax",
        )
    if op not in COMPARISON_OPERATORS:
        raise SegmentDefinitionError(
            f"Unknown comparison operator '{op}' on '{attribute}'; use one of "
            + ", ".join(sorted(COMPARISON_OPERATORS))
            + ".",
            code="invalidOperation",
        )
    entity, column, sql_type = ctx.resolve(attribute)
    kind = kind_of(sql_type)
    col = f"{'b' if ctx.base else _ALIASES[entity]}.{quote_ident(column)}"
    ignore_case = bool(node.get("ignoreCase")) and kind == "string"
    if ignore_case:
        col = f"lower({col})"

    def param(value: Any) -> str:
        if ignore_case and isinstance(value, str):
            value = value.lower()
        params.append(value)
        return "?"

    value = node.get("value")
    values = node.get("listOfValues")
    if op in _SIMPLE:
        return entity, (f"({col} {_SIMPLE[op]} {param(_convert(value, kind, attribute))})", params)
    if op in {"contains", "startsWith", "endsWith"}:
        if kind != "string":
            raise SegmentDefinitionError(f"'{op}' needs a text attribute; '{attribute}' is not.")
        fn = {"contains": "contains", "startsWith": "starts_with", "endsWith": "ends_with"}[op]
        return entity, (f"coalesce({fn}({col}, {param(str(value or ''))}), FALSE)", params)
    if op == "isNull":
        return entity, (f"({col} IS NULL)", params)
    if op == "isNotNull":
        return entity, (f"({col} IS NOT NULL)", params)
    if op == "isIn":
        if not isinstance(values, list) or not values:
            raise SegmentDefinitionError(f"'isIn' on '{attribute}' needs a 'listOfValues'.")
        marks = ", ".join(param(_convert(v, kind, attribute)) for v in values)
        return entity, (f"({col} IN ({marks}))", params)
    if op in {"isBetween", "isNotBetween"}:
        if not isinstance(values, list) or len(values) != 2:
            raise SegmentDefinitionError(
                f"'{op}' on '{attribute}' needs a 'listOfValues' with two values."
            )
        low = param(_convert(values[0], kind, attribute))
        high = param(_convert(values[1], kind, attribute))
        neg = "NOT " if op == "isNotBetween" else ""
        return entity, (f"({col} {neg}BETWEEN {low} AND {high})", params)
    if kind not in {"datetime", "date"}:
        raise SegmentDefinitionError(f"'{op}' needs a date attribute; '{attribute}' is not.")
    if op == "isWithinLast":
        # A period longer than the calendar goes back to its start: every row.
        days = min(_duration_days(value, attribute), (ctx.now - datetime.min).days)
        since = ctx.now - timedelta(days=days)
        return entity, (f"({col} >= {param(since)} AND {col} <= {param(ctx.now)})", params)
    if op == "yearToDate":
        start = datetime(ctx.now.year, 1, 1)
        return entity, (f"({col} >= {param(start)} AND {col} <= {param(ctx.now)})", params)
    part = {"dayOf": "day", "monthOf": "month", "yearOf": "year", "dayOfWeek": "isodow"}[op]
    return entity, (f"({part}({col}) = {param(_convert(value, 'int', attribute))})", params)


def criteria_sql(node: Mapping[str, Any], ctx: _Context) -> Fragment:
    """Translate a criteria tree to one customer-level SQL condition with its parameters.

    Conditions on ``UnifiedActivity`` in one ``and`` group go into one ``EXISTS``, so they
    must hold for the same activity.
    """
    activity, fragment = _criteria_part(node, ctx)
    if activity:
        return _exists(activity)
    return fragment if fragment[0] else ("TRUE", [])


def _criteria_part(node: Any, ctx: _Context, depth: int = 0) -> tuple[list[Fragment], Fragment]:
    """``(activity conditions still to wrap in EXISTS, customer-level condition)``."""
    if depth > MAX_CRITERIA_DEPTH:
        raise SegmentDefinitionError(
            f"The criteria are nested more than {MAX_CRITERIA_DEPTH} groups deep; "
            "combine conditions in fewer 'childCriterias' levels."
        )
    if not isinstance(node, Mapping):
        raise SegmentDefinitionError("A criteria entry must be a JSON object.")
    children = node.get("childCriterias")
    if not children:
        if node.get("comparisonOperator") is None and node.get("attribute") is None:
            return [], ("", [])
        entity, fragment = _condition(node, ctx)
        if entity == "UnifiedActivity" and ctx.base is None:
            return [fragment], ("", [])
        return [], fragment
    if not isinstance(children, list):
        raise SegmentDefinitionError("'childCriterias' must be a list.")
    logical = node.get("logicalOperator") or "and"
    if logical not in {"and", "or"}:
        raise SegmentDefinitionError(f"Unknown logicalOperator '{logical}'; use 'and' or 'or'.")
    parts: list[Fragment] = []
    activity: list[Fragment] = []
    for child in children:
        child_activity, child_sql = _criteria_part(child, ctx, depth + 1)
        if logical == "and":
            activity.extend(child_activity)
        elif child_activity:
            parts.append(_exists(child_activity))
        if child_sql[0]:
            parts.append(child_sql)
    if logical == "and" and activity:
        parts.append(_exists(activity))
    if not parts:
        return [], ("", [])
    word = " AND " if logical == "and" else " OR "
    return [], ("(" + word.join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]])


def _exists(conditions: list[Fragment]) -> Fragment:
    sql = (
        "EXISTS (SELECT 1 FROM UnifiedActivity a WHERE a.CustomerId = c.CustomerId AND "
        + " AND ".join(c[0] for c in conditions)
        + ")"
    )
    return sql, [v for c in conditions for v in c[1]]


def segment_sql(
    query: Mapping[str, Any], schemas: Mapping[str, Mapping[str, str]], *, now: datetime
) -> tuple[str, list[Any]]:
    """SQL selecting the ``CustomerId`` of every member of a segment definition.

    Raises
    ------
    SegmentDefinitionError
        When the definition refers to unknown attributes or operators.
    """
    if not isinstance(query, Mapping):
        raise SegmentDefinitionError("'segmentQueryExpression' must be a JSON object.")
    if query.get("type") == "manual" or query.get("segmentationQuerySql"):
        raise SegmentDefinitionError(
            "Manual (SQL) segments are not supported by the emulator; use rowsets."
        )
    rowsets = query.get("rowsets")
    if not isinstance(rowsets, list) or not rowsets:
        raise SegmentDefinitionError(
            "'segmentQueryExpression.rowsets' must be a non-empty list of rowsets."
        )
    ctx = _Context(schemas, now=now)
    sql = ""
    params: list[Any] = []
    for i, rowset in enumerate(rowsets):
        if not isinstance(rowset, Mapping):
            raise SegmentDefinitionError("Each rowset must be a JSON object.")
        op = rowset.get("rowsetOperation") or ("none" if i == 0 else "union")
        if op not in {"union", "intersect", "except", "none", "include", "exclude"}:
            raise SegmentDefinitionError(f"Unknown rowsetOperation '{op}'.")
        criteria = rowset.get("criteria") or {}
        where, where_params = criteria_sql(criteria, ctx)
        part = (
            "SELECT c.CustomerId FROM Customer c "
            "LEFT JOIN Customer_Measure m ON m.CustomerId = c.CustomerId "
            f"WHERE {where}"
        )
        if i == 0:
            sql = part if op != "exclude" else f"SELECT CustomerId FROM Customer EXCEPT ({part})"
        else:
            word = _SET_OPERATIONS[op]
            sql = f"({sql}) {word} ({part})"
        params.extend(where_params)
    return sql, params


def measure_filter_sql(
    criteria: Mapping[str, Any],
    base: str,
    schemas: Mapping[str, Mapping[str, str]],
    *,
    now: datetime,
) -> tuple[str, list[Any]]:
    """A measure's ``filteringCriteria`` on its base entity as SQL (rows aliased ``b``)."""
    ctx = _Context(schemas, now=now, base=base)
    return criteria_sql(criteria, ctx)


def _leaf(attribute: str, op: str, value: str | None = None, values: list[str] | None = None,
          ) -> dict[str, Any]:  # fmt: skip
    leaf: dict[str, Any] = {"kind": "default", "attribute": attribute, "comparisonOperator": op}
    if value is not None:
        leaf["value"] = value
    if values is not None:
        leaf["listOfValues"] = values
    return leaf


def _group(op: str, *children: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "default", "logicalOperator": op, "childCriterias": list(children)}


def _query(seed: int, name: str, *rowsets: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "structured",
        "rowsets": [
            {
                "rowsetOperation": op,
                "criteria": criteria,
                "paths": [["Customer"]],
                "rowsetId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ci-emulator:{seed}:{name}:{i}")),
            }
            for i, (op, criteria) in enumerate(rowsets)
        ],
    }


def demo_segments(seed: int, now: datetime) -> list[dict[str, Any]]:
    """Definitions (``SegmentMetadata`` subsets) of the demo segments."""
    lapsed = (now - timedelta(days=180)).strftime("%Y-%m-%d")
    specs: list[tuple[str, str, str, str, list[tuple[str, dict[str, Any]]]]] = [
        ("HighValueCustomers", "High value customers", "Spent more than 400 in total.",
         "active", [("none", _leaf("Customer_Measure.TotalSpend", "greaterThan", "400"))]),
        ("GoldAndPlatinumMembers", "Gold and Platinum members",
         "Loyalty members in the two top tiers.", "active",
         [("none", _leaf("Customer.LoyaltyTier", "isIn", values=["Gold", "Platinum"]))]),
        ("RecentWebVisitors", "Recent web visitors",
         "Visited the webshop in the last 30 days.", "active",
         [("none", _group("and", _leaf("UnifiedActivity.ActivityType", "equals", "WebVisit"),
                          _leaf("UnifiedActivity.ActivityTime", "isWithinLast", "30 days")))]),
        ("LapsedShoppers", "Lapsed shoppers",
         "Bought before, but not in the last 180 days.", "active",
         [("none", _group("and", _leaf("Customer_Measure.PurchaseCount", "greaterThan", "0"),
                          _leaf("Customer_Measure.LastPurchaseDate", "lessThan", lapsed)))]),
        ("IrishEmailSubscribers", "Irish email subscribers",
         "Customers in Ireland who opted in to email.", "active",
         [("none", _group("and", _leaf("Customer.Country", "equals", "Ireland"),
                          _leaf("Customer.EmailOptIn", "equals", "true")))]),
        ("YoungAdults", "Young adults", "Born in 1998 or later.", "active",
         [("none", _leaf("Customer.BirthDate", "greaterThanOrEqualTo", "1998-01-01"))]),
        ("GoldWithoutComplaints", "Gold members without support cases",
         "Gold tier members except those who opened a support case.", "active",
         [("none", _leaf("Customer.LoyaltyTier", "equals", "Gold")),
          ("except", _leaf("Customer_Measure.SupportCases", "greaterThan", "0"))]),
        ("FrequentComplainers", "Frequent complainers",
         "Two or more support cases (paused while the service team reviews it).", "inactive",
         [("none", _leaf("Customer_Measure.SupportCases", "greaterThanOrEqualTo", "2"))]),
    ]  # fmt: skip
    return [
        {
            "kind": "default",
            "name": name,
            "friendlyName": friendly,
            "description": description,
            "state": state,
            "segmentQueryExpression": _query(seed, name, *rowsets),
        }
        for name, friendly, description, state, rowsets in specs
    ]


def segment_history(
    *, name: str, seed: int, count: int, now: datetime, days: int = 90, active: bool = True
) -> list[dict[str, Any]]:
    """Daily ``HistoricalSegmentStats`` for the ``days`` before ``now``, ending at ``count``.

    The back history is synthetic (a seeded random walk towards today's real count); the
    last point is today's evaluation.
    """
    rng = np.random.default_rng([seed, *name.encode()])
    growth = rng.uniform(-0.15, 0.35)
    noise = rng.normal(0, 0.01, days).cumsum(axis=0)  # numpy 2.5's stubs require an argument
    points: list[dict[str, Any]] = []
    stop = days if active else days - 30
    base = now.replace(hour=2, minute=0, second=0, microsecond=0)
    for i in range(stop):
        back = days - i
        factor = 1 - growth * back / days + noise[i] - noise[-1]
        failed = rng.random() < 0.03
        points.append(
            {
                "evaluationDate": (base - timedelta(days=back)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "entityCount": max(round(count * factor), 0),
                "jobStatus": "CompletedFailure" if failed else "CompletedSuccess",
            }
        )
        if failed:
            points[-1]["error"] = {"key": "apiInternalError", "value": "Evaluation timed out."}
            if len(points) > 1:
                points[-1]["entityCount"] = points[-2]["entityCount"]
    return points
