"""Measures with their latest values and their history.

API operations (function -> returns: operation):

``measures()`` -> DataFrame, one row per measure
    ``GET /instances/{instanceId}/manage/measures`` (Get-a-list-of-measures-metadata)
``measure(name)`` -> Series (latest value, state, ...)
    ``GET /instances/{instanceId}/manage/measures/{measureName}`` (Get-metadata-for-a-measure)
``measure_history(name, days=90)`` -> tidy DataFrame (measure, evaluationTime, value, state)
    ``GET .../manage/measures/{measureName}?includeHistoricStats=true&historicStatsDays=N``
    (Get-metadata-for-a-measure)

A scalar measure's value is ``output.values``: when it holds one number, that number is the
``value`` column; all values stay in ``values`` (a dict). Profile (per-customer) measures are
read as data with ``query("Customer_Measure")``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ci_toolkit.resources._base import ResourceBase, segment

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.frames import Kind

__all__ = ["MEASURE_COLUMNS", "MEASURE_HISTORY_COLUMNS", "MeasuresMixin", "scalar_value"]

logger = logging.getLogger(__name__)

MEASURE_COLUMNS: list[tuple[str, str, Kind]] = [
    ("name", "name", "str"),
    ("displayName", "displayName", "str"),
    ("description", "description", "str"),
    ("kind", "definition.kind", "str"),
    ("isScalar", "definition.isScalar", "bool"),
    ("isProfile", "definition.isProfile", "bool"),
    ("value", "value", "float"),
    ("values", "output.values", "object"),
    ("evaluationTime", "output.evaluationTime", "datetime"),
    ("state", "latestEvaluation.state", "str"),
    ("lastEvaluation", "latestEvaluation.endTime", "datetime"),
    ("lastSuccessful", "evaluationStats.lastSuccessful", "datetime"),
    ("consecutiveFailureCount", "evaluationStats.consecutiveFailureCount", "int"),
    ("error", "error", "str"),
    ("createdUtc", "createdUtc", "datetime"),
    ("updatedUtc", "updatedUtc", "datetime"),
]

MEASURE_HISTORY_COLUMNS: list[tuple[str, str, Kind]] = [
    ("measure", "measure", "str"),
    ("evaluationTime", "evaluationTime", "datetime"),
    ("value", "value", "float"),
    ("values", "values", "object"),
    ("state", "state", "str"),
    ("error", "error", "str"),
]


def scalar_value(values: Any) -> float | None:
    """The single number of a ``ScalarOutput.values`` object, or None.

    Examples
    --------
    >>> scalar_value({"TotalRevenue": 1250.5})
    1250.5
    >>> scalar_value({"a": 1, "b": 2}) is None
    True
    """
    if isinstance(values, bool):
        return None
    if isinstance(values, int | float):
        return float(values)
    if isinstance(values, str):
        try:
            return float(values)
        except ValueError:
            return None
    if isinstance(values, Mapping) and len(values) == 1:
        return scalar_value(next(iter(values.values())))
    if isinstance(values, list) and len(values) == 1:
        return scalar_value(values[0])
    return None


def _row(meta: Mapping[str, Any]) -> dict[str, Any]:
    error = meta.get("errorDescription")
    if isinstance(error, Mapping):
        error = error.get("value") or error.get("key")
    return {
        **meta,
        "value": scalar_value((meta.get("output") or {}).get("values")),
        "error": error or (meta.get("latestEvaluation") or {}).get("error"),
    }


class MeasuresMixin(ResourceBase):
    """Measures metadata and values."""

    def measures(self) -> pd.DataFrame:
        """List the measures with their latest value and evaluation state.

        Returns
        -------
        pandas.DataFrame
            ``name``, ``displayName``, ``description``, ``kind``, ``isScalar``,
            ``isProfile``, ``value`` (Float64, scalar measures), ``values`` (dict),
            ``evaluationTime``, ``state``, ``lastEvaluation``, ``lastSuccessful``,
            ``consecutiveFailureCount``, ``error``, ``createdUtc``, ``updatedUtc``.

        Examples
        --------
        >>> ci.measures()[["displayName", "value", "lastSuccessful"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._path("manage/measures")) or []
        return frames.records_frame([_row(m) for m in body], MEASURE_COLUMNS, raw=body)

    def measure(self, name: str) -> pd.Series:
        """One measure's metadata with its latest value.

        Parameters
        ----------
        name : str
            The measure's ``name``.

        Returns
        -------
        pandas.Series
            The fields of :meth:`measures`; the ``MeasureMetadata`` in ``.attrs["raw"]``.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            No measure has this name.

        Examples
        --------
        >>> ci.measure("TotalRevenue")["value"]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._get(self._path(f"manage/measures/{segment(name)}")) or {}
        return frames.record_series(_row(body), MEASURE_COLUMNS, raw=body)

    def measure_history(self, name: str, *, days: int = 90) -> pd.DataFrame:
        """A measure's past values and evaluations as a tidy DataFrame.

        Parameters
        ----------
        name : str
            The measure's ``name``.
        days : int
            Days of history to ask for.

        Returns
        -------
        pandas.DataFrame
            ``measure``, ``evaluationTime`` (UTC), ``value`` (Float64), ``values``,
            ``state``, ``error``; oldest first.

        Examples
        --------
        >>> ci.measure_history("TotalRevenue").plot(x="evaluationTime", y="value")  # doctest: +SKIP
        """
        from ci_toolkit import frames

        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"days must be a positive integer, got {days!r}")
        body = (
            self._get(
                self._path(f"manage/measures/{segment(name)}"),
                params={"includeHistoricStats": "true", "historicStatsDays": days},
            )
            or {}
        )
        rows: dict[str, dict[str, Any]] = {}
        outputs = list(body.get("outputHistory") or [])
        if body.get("output"):
            outputs.append(body["output"])  # the latest value
        for output in outputs:
            when = str(output.get("evaluationTime") or "")
            rows[when] = {
                "measure": name,
                "evaluationTime": output.get("evaluationTime"),
                "values": output.get("values"),
                "value": scalar_value(output.get("values")),
            }
        for evaluation in body.get("evaluationHistory") or []:
            when = str(evaluation.get("endTime") or "")
            row = rows.setdefault(when, {"measure": name, "evaluationTime": when or None})
            row["state"] = evaluation.get("state")
            row["error"] = evaluation.get("error")
        frame = frames.records_frame(list(rows.values()), MEASURE_HISTORY_COLUMNS, raw=body)
        frame = frame.sort_values("evaluationTime", kind="stable").reset_index(drop=True)
        frames.attach_raw(frame, body)
        return frame
