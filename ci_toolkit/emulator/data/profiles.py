"""Data profiles of entities and attributes (``EntityDataProfile``, ``AttributeDataProfile``).

Every statistic is computed in DuckDB over the entity's rows: counts, missing values,
distinct values, min/max, value counts, an equal-width histogram, quantiles and moments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ci_toolkit.emulator.data.odata import kind_of, quote_ident, to_json_value

__all__ = ["attribute_profile"]

_QUANTILES = {
    "p0D1": 0.001, "p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
    "p99": 0.99, "p99D9": 0.999,
}  # fmt: skip


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number


def attribute_profile(
    cur: Any,
    relation: str,
    entity: str,
    column: str,
    sql_type: str,
    *,
    key: str,
    profiled: datetime,
) -> dict[str, Any]:
    """``AttributeDataProfile`` of one column, computed with the cursor ``cur``."""
    col = quote_ident(column)
    kind = kind_of(sql_type)
    total, present, distinct, low, high = cur.execute(
        f"SELECT count(*), count({col}), approx_count_distinct({col}), min({col}), max({col}) "
        f"FROM {relation}"
    ).fetchall()[0]
    profile: dict[str, Any] = {
        "qualifiedEntityName": entity,
        "attributeName": column,
        "count": int(total),
        "missingCount": int(total - present),
        "errorCount": 0,
        "uniqueValueCount": int(distinct),
        "profilingDate": profiled.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "isSuggestedPrimaryKey": column == key,
    }
    if low is not None:
        # The contract types min, max and ValueCount.value as objects: values are wrapped.
        profile["min"] = {"value": to_json_value(low)}
        profile["max"] = {"value": to_json_value(high)}
    if kind in {"string", "bool"}:
        rows = cur.execute(
            f"SELECT {col}, count(*) AS n FROM {relation} WHERE {col} IS NOT NULL "
            f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10"
        ).fetchall()
        profile["valueCounts"] = [
            {"value": {"value": to_json_value(v)}, "count": int(n)} for v, n in rows
        ]
    if kind in {"int", "double", "datetime", "date"} and low is not None:
        numeric = col if kind in {"int", "double"} else f"epoch({col})"
        qs = list(_QUANTILES.values())
        row = cur.execute(
            f"SELECT quantile_cont({numeric}, ?), avg({numeric}), stddev_samp({numeric}), "
            f"var_samp({numeric}), skewness({numeric}), kurtosis({numeric}), min({numeric}), "
            f"max({numeric}) FROM {relation}",
            [qs],
        ).fetchall()[0]
        quantiles, mean, std, var, skew, kurt, nmin, nmax = row
        profile["quantiles"] = {
            name: _number(v) for name, v in zip(_QUANTILES, quantiles or [], strict=False)
        }
        profile["moments"] = {
            k: v
            for k, v in {
                "mean": _number(mean),
                "standardDeviation": _number(std),
                "variance": _number(var),
                "skewness": _number(skew),
                "kurtosis": _number(kurt),
            }.items()
            if v is not None
        }
        lo, hi = float(nmin), float(nmax)
        bins = 10
        width = (hi - lo) / bins or 1.0
        counts = dict(
            cur.execute(
                f"SELECT least(CAST(floor(({numeric} - ?) / ?) AS BIGINT), {bins - 1}) AS b, "
                f"count(*) FROM {relation} WHERE {col} IS NOT NULL GROUP BY 1",
                [lo, width],
            ).fetchall()
        )
        profile["histogram"] = [
            {
                "lowerBound": lo + i * width,
                "upperBound": lo + (i + 1) * width,
                "count": float(counts.get(i, 0)),
            }
            for i in range(bins)
        ]
    return profile
