"""Measure definitions (``MeasureDefinition``) translated to DuckDB SQL, and the demo measures.

A structured measure aggregates one attribute of a base entity (``linkedEntities`` with
``kind: base``, ``UnifiedActivity`` by default), optionally filtered by
``filteringCriteria``. A profile measure (``isProfile``) has one aggregate and becomes a
column of ``Customer_Measure`` named after the measure; a scalar measure yields one value per
aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ci_toolkit.emulator.data.odata import kind_of, quote_ident
from ci_toolkit.emulator.data.segments import SegmentDefinitionError, measure_filter_sql

__all__ = [
    "AGGREGATES",
    "MeasurePlan",
    "demo_measures",
    "plan_measure",
]

AGGREGATES = {
    "sum": "sum",
    "avg": "avg",
    "min": "min",
    "max": "max",
    "count": "count",
    "countDistinct": "count(DISTINCT {})",
}
_BASES = {"UnifiedActivity", "Customer", "Customer_Measure"}


class MeasurePlan:
    """The SQL of a measure: per customer (profile) or one row (scalar)."""

    def __init__(
        self,
        *,
        name: str,
        is_profile: bool,
        base: str,
        select: list[tuple[str, str]],
        where: str,
        params: list[Any],
    ) -> None:
        self.name = name
        self.is_profile = is_profile
        self.base = base
        self.select = select  # (alias, aggregate sql)
        self.where = where
        self.params = params

    def scalar_sql(self, *, until: datetime | None = None) -> tuple[str, list[Any]]:
        """One row with every aggregate (optionally only rows up to ``until``)."""
        where, params = self.where, list(self.params)
        if until is not None and self.base == "UnifiedActivity":
            where = f"({where}) AND b.ActivityTime <= ?"
            params.append(until)
        cols = ", ".join(f"{expr} AS {quote_ident(alias)}" for alias, expr in self.select)
        return f"SELECT {cols} FROM {self.base} b WHERE {where}", params

    def profile_sql(self) -> tuple[str, list[Any]]:
        """``CustomerId`` and the measure value per customer that has rows."""
        expr = self.select[0][1]
        sql = (
            f"SELECT b.CustomerId AS CustomerId, {expr} AS v FROM {self.base} b "
            f"WHERE {self.where} GROUP BY b.CustomerId"
        )
        return sql, list(self.params)

    @property
    def default_zero(self) -> bool:
        """Counts and sums are 0 (not null) for customers without rows."""
        return self.select[0][1].split("(")[0] in {"count", "sum"}


def plan_measure(
    name: str,
    definition: Any,
    schemas: Mapping[str, Mapping[str, str]],
    *,
    now: datetime,
) -> MeasurePlan:
    """Check a measure definition and plan its SQL.

    Raises
    ------
    SegmentDefinitionError
        When the definition refers to unknown entities, attributes or operations.
    """
    if not isinstance(definition, Mapping):
        raise SegmentDefinitionError("The measure needs a 'definition' object.")
    if definition.get("type") == "manual" or definition.get("measureQuerySql"):
        raise SegmentDefinitionError(
            "Manual (SQL) measures are not supported by the emulator; use aggregates."
        )
    linked = definition.get("linkedEntities") or []
    if not isinstance(linked, list):
        raise SegmentDefinitionError("'linkedEntities' must be a list.")
    base = "UnifiedActivity"
    for entry in linked:
        if isinstance(entry, Mapping) and entry.get("kind", "base") == "base":
            base = str(entry.get("entity"))
    if base not in _BASES:
        raise SegmentDefinitionError(
            f"Unknown base entity '{base}'; measures can be built on {', '.join(sorted(_BASES))}.",
            code="entityNotFound",
        )
    columns = schemas[base]
    aggregates = definition.get("aggregates")
    if not isinstance(aggregates, list) or not aggregates:
        raise SegmentDefinitionError("The measure needs at least one entry in 'aggregates'.")
    is_profile = bool(definition.get("isProfile"))
    if is_profile and len(aggregates) != 1:
        raise SegmentDefinitionError("A profile measure (isProfile) has exactly one aggregate.")
    if is_profile and "CustomerId" not in columns:
        raise SegmentDefinitionError(f"A profile measure needs CustomerId on '{base}'.")
    select: list[tuple[str, str]] = []
    for agg in aggregates:
        if not isinstance(agg, Mapping):
            raise SegmentDefinitionError("Each aggregate must be a JSON object.")
        op = agg.get("operation")
        if op not in AGGREGATES:
            raise SegmentDefinitionError(
                f"Unsupported aggregate operation '{op}'; use one of {', '.join(AGGREGATES)}.",
                code="unsupportedSyntax",
            )
        field = agg.get("field") or ("*" if op == "count" else None)
        if field is None or (field == "*" and op != "count"):
            raise SegmentDefinitionError(
                f"The '{op}' aggregate needs a 'field' ('*', all rows, is for 'count' only)."
            )
        if "." in str(field):
            entity, field = str(field).split(".", 1)
            if entity != base:
                raise SegmentDefinitionError(
                    f"The aggregate field '{entity}.{field}' is not on the base entity '{base}'."
                )
        if field != "*" and field not in columns:
            raise SegmentDefinitionError(
                f"Unknown attribute '{field}' on '{base}' (attributes: {', '.join(columns)}).",
                code="attributeNotFound",
            )
        if op in {"sum", "avg"} and kind_of(columns[field]) not in {"int", "double"}:
            raise SegmentDefinitionError(f"'{op}' needs a numeric attribute; '{field}' is not.")
        col = "*" if field == "*" else f"b.{quote_ident(str(field))}"
        expr = AGGREGATES[op].format(col) if "{}" in AGGREGATES[op] else f"{AGGREGATES[op]}({col})"
        alias = agg.get("alias") or (name if is_profile else f"{op}_{field}".replace("*", "rows"))
        select.append((str(alias), expr))
    where: str = "TRUE"
    params: list[Any] = []
    criteria = definition.get("filteringCriteria")
    if criteria:
        where, params = measure_filter_sql(criteria, base, schemas, now=now)
    return MeasurePlan(
        name=name, is_profile=is_profile, base=base, select=select, where=where, params=params
    )


def _activity_filter(activity_type: str, within: str | None = None) -> dict[str, Any]:
    leaf = {
        "kind": "default",
        "attribute": "UnifiedActivity.ActivityType",
        "comparisonOperator": "equals",
        "value": activity_type,
    }
    if within is None:
        return leaf
    return {
        "kind": "default",
        "logicalOperator": "and",
        "childCriterias": [
            leaf,
            {
                "kind": "default",
                "attribute": "UnifiedActivity.ActivityTime",
                "comparisonOperator": "isWithinLast",
                "value": within,
            },
        ],
    }


def _definition(
    op: str, field: str, *, profile: bool, criteria: dict[str, Any] | None, alias: str,
    base: str = "UnifiedActivity",
) -> dict[str, Any]:  # fmt: skip
    definition: dict[str, Any] = {
        "kind": "attribute",
        "type": "structured",
        "isScalar": not profile,
        "isProfile": profile,
        "linkedEntities": [{"kind": "base", "entity": base, "alias": "b"}],
        "aggregates": [
            {"operation": op, "field": field, "alias": alias, "displayName": alias, "order": 0}
        ],
        "dimensions": (
            [{"field": f"{base}.CustomerId", "alias": "CustomerId", "order": 0}] if profile else []
        ),
        "dependencies": [{"qualifiedEntityName": base, "attributeNames": [field]}],
    }
    if criteria is not None:
        definition["filteringCriteria"] = criteria
    return definition


def demo_measures() -> list[dict[str, Any]]:
    """Definitions (``MeasureMetadata`` subsets) of the demo measures."""
    specs = [
        ("TotalSpend", "Total spend", "Sum of all purchase amounts per customer.", "sum",
         "Amount", True, _activity_filter("Purchase")),
        ("PurchaseCount", "Purchase count", "Number of purchases per customer.", "count",
         "ActivityId", True, _activity_filter("Purchase")),
        ("AverageOrderValue", "Average order value", "Mean purchase amount per customer.",
         "avg", "Amount", True, _activity_filter("Purchase")),
        ("LastPurchaseDate", "Last purchase date", "Time of the latest purchase.", "max",
         "ActivityTime", True, _activity_filter("Purchase")),
        ("WebVisitsLast30Days", "Web visits (30 days)", "Webshop visits in the last 30 days.",
         "count", "ActivityId", True, _activity_filter("WebVisit", "30 days")),
        ("EmailOpensLast90Days", "Email opens (90 days)", "Emails opened in the last 90 days.",
         "count", "ActivityId", True, _activity_filter("EmailOpen", "90 days")),
        ("SupportCases", "Support cases", "Support cases opened per customer.", "count",
         "ActivityId", True, _activity_filter("SupportCase")),
        ("TotalRevenue", "Total revenue", "Revenue of all purchases.", "sum", "Amount", False,
         _activity_filter("Purchase")),
        ("ActiveCustomers90Days", "Active customers (90 days)",
         "Customers with any activity in the last 90 days.", "countDistinct", "CustomerId",
         False, {"kind": "default", "attribute": "UnifiedActivity.ActivityTime",
                 "comparisonOperator": "isWithinLast", "value": "90 days"}),
        ("AverageBasket", "Average basket", "Mean amount of all purchases.", "avg", "Amount",
         False, _activity_filter("Purchase")),
    ]  # fmt: skip
    return [
        {
            "name": name,
            "displayName": display,
            "description": description,
            "definition": _definition(op, field, profile=profile, criteria=criteria, alias=name),
        }
        for name, display, description, op, field, profile, criteria in specs
    ]
