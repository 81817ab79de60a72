"""Measure definitions of one instance, the ``Customer_Measure`` table and measure outputs.

Profile measures (``isProfile``) are the columns of ``Customer_Measure`` (one row per
customer, in key order), rebuilt at once whenever any measure changes; scalar measures keep
their latest output in the record. Output history is computed from the rows up to each day.

Example
-------
>>> measures = MeasureStore(...)  # doctest: +SKIP
>>> measures.measure("TotalSpend")["output"]["values"]  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import duckdb

from ci_toolkit.emulator.data.definitions import (
    DefinitionError,
    Definitions,
    clash,
    iso,
    utcnow,
)
from ci_toolkit.emulator.data.measures import MeasurePlan, demo_measures, plan_measure
from ci_toolkit.emulator.data.odata import kind_of, quote_ident, to_json_value
from ci_toolkit.emulator.data.segment_store import HISTORY_DAYS

__all__ = ["MeasureStore"]

logger = logging.getLogger(__name__)

#: Names a measure may not take (without regard to case): the key of ``Customer_Measure``.
_TAKEN = {"CustomerId": "the key column of Customer_Measure"}


def _fmt(value: Any) -> str | None:
    """A measure value as the service writes it (two decimals, ISO dates), ``None`` if none."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return None
        return f"{value:.2f}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return str(to_json_value(value))
    return str(value)


class MeasureStore:
    """The measures of one instance and the ``Customer_Measure`` table.

    Parameters
    ----------
    instance_id, seed, now
        The instance, the seed of its demo data and the emulator's start time.
    lock
        The store's change lock (held around every change and evaluation).
    cursor
        Gives the calling thread's DuckDB cursor.
    columns
        Gives the columns of an entity (``Customer``, ``UnifiedActivity``...).
    changed
        Called with ``"Customer_Measure"`` after the table was rebuilt.
    save
        Persists every definition (called after each change).
    """

    def __init__(
        self,
        *,
        instance_id: str,
        seed: int,
        now: datetime,
        lock: threading.RLock,
        cursor: Callable[[], Any],
        columns: Callable[[str], dict[str, str]],
        changed: Callable[[str], None],
        save: Callable[[], None],
    ) -> None:
        self.instance_id = instance_id
        self.seed = seed
        self.now = now
        self.lock = lock
        self.records = Definitions("measure")
        self._cursor = cursor
        self._columns = columns
        self._changed = changed
        self._save = save

    def start(self, persisted: Mapping[str, Any] | None) -> None:
        """Load saved definitions (or the demo ones) and build ``Customer_Measure``.

        Call with :attr:`lock` held, before segments are evaluated.
        """
        if persisted is None:
            created = self.now - timedelta(days=200)
            stamp = Definitions.stamp(
                "admin@contoso.example", created, created=True, instance_id=self.instance_id
            )
            self.records.replace_all(
                {**d, "isTemplate": False, "isCreatedFromTemplate": False, **stamp}
                for d in demo_measures()
            )
        else:
            self.records.replace_all(persisted.get("measures", []))
        self._evaluate(at=self.now, names=None)

    def saved(self) -> dict[str, Any]:
        """The measures as saved to the data folder."""
        return {"measures": self.records.saved()}

    # -- evaluation ----------------------------------------------------------------------

    def _schemas(self, *, with_measures: bool = True) -> dict[str, dict[str, str]]:
        return {
            "UnifiedActivity": self._columns("UnifiedActivity"),
            "Customer": self._columns("Customer"),
            "Customer_Measure": (
                self._columns("Customer_Measure") if with_measures else {"CustomerId": "VARCHAR"}
            ),
        }

    def _plans(self, at: datetime) -> dict[str, MeasurePlan | DefinitionError]:
        schemas = self._schemas(with_measures=False)
        with self.records.lock:
            definitions = {
                n: copy.deepcopy(self.records.require(n).get("definition"))
                for n in self.records.names()
            }
        plans: dict[str, MeasurePlan | DefinitionError] = {}
        columns: list[str] = ["CustomerId"]
        for name, definition in definitions.items():
            try:
                plan = plan_measure(name, definition, schemas, now=at)
            except DefinitionError as exc:
                plans[name] = exc
                continue
            if plan.is_profile:
                # Only from a file saved before names were compared without case.
                other = clash(name, columns)
                if other is not None:
                    plans[name] = DefinitionError(
                        f"The column '{other}' of Customer_Measure has this name without "
                        "regard to case; rename the measure."
                    )
                    continue
                columns.append(name)
            plans[name] = plan
        return plans

    def _evaluate(self, *, at: datetime, names: list[str] | None) -> None:
        """Rebuild ``Customer_Measure`` and refresh the outputs of ``names`` (all if None)."""
        plans = self._plans(at)
        profile = {n: p for n, p in plans.items() if isinstance(p, MeasurePlan) and p.is_profile}
        cur = self._cursor()
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
        self._changed("Customer_Measure")
        for name in names if names is not None else list(plans):
            plan_or_error = plans.get(name)
            if isinstance(plan_or_error, DefinitionError):
                self._failed(name, plan_or_error.message, at)
            elif name in failed:
                self._failed(name, failed[name], at)
            elif plan_or_error is not None:
                try:
                    self._output(name, plan_or_error, at)
                except duckdb.Error as exc:  # a failed evaluation, never a 500
                    logger.info("measure %s failed to evaluate: %s", name, exc)
                    self._failed(name, str(exc).splitlines()[0], at)

    def _output(self, name: str, plan: MeasurePlan, at: datetime) -> None:
        cur = self._cursor()
        if plan.is_profile:
            col = quote_ident(name)
            kind = self._columns("Customer_Measure").get(name, "DOUBLE")
            numeric = kind_of(kind) in {"int", "double"}  # no average of text or dates
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
        with self.records.lock:
            measure = self.records.require(name)
            measure["output"] = {"values": values, "measureName": name, "evaluationTime": iso(at)}
            measure["latestEvaluation"] = {
                "lastSuccessfulRunId": run_id,
                "state": "completed",
                "endTime": iso(at),
            }
            measure["evaluationStats"] = {"lastSuccessful": iso(at), "consecutiveFailureCount": 0}
            measure.pop("errorDescription", None)
            measure.pop("_outputHistory", None)

    def _failed(self, name: str, message: str, at: datetime) -> None:
        with self.records.lock:
            measure = self.records.require(name)
            stats = measure.get("evaluationStats") or {"consecutiveFailureCount": 0}
            measure["latestEvaluation"] = {"state": "failed", "endTime": iso(at), "error": message}
            measure["evaluationStats"] = {
                **stats,
                "consecutiveFailureCount": int(stats.get("consecutiveFailureCount", 0)) + 1,
            }
            measure["errorDescription"] = {"key": "apiInternalError", "value": message}

    def evaluate(self, name: str) -> None:
        """Recompute a measure now (profile measures rebuild ``Customer_Measure``)."""
        with self.lock:
            self.records.require(name)
            self._evaluate(at=utcnow(), names=[name])
            self._save()

    # -- reads ---------------------------------------------------------------------------

    def measure(
        self, name: str, *, include_history: bool = False, history_days: int | None = None
    ) -> dict[str, Any]:
        """``MeasureMetadata`` of one measure; raises ``NotFoundError``."""
        days = HISTORY_DAYS if history_days is None else max(min(history_days, 365), 0)
        with self.records.lock:
            out = self.records.public(name)
            out["evaluationHistory"] = self._evaluation_history(
                name, days if include_history else 7
            )
        if include_history:
            out["outputHistory"] = self._output_history(name, out.get("definition"), days)
        return out

    def measures(self) -> list[dict[str, Any]]:
        """``MeasureMetadata`` of every measure."""
        out = []
        for name in self.records.names():
            with self.records.lock:
                if name in self.records:  # not deleted meanwhile
                    out.append(self.measure(name))
        return out

    def _evaluation_history(self, name: str, days: int) -> list[dict[str, Any]]:
        latest = self.records.require(name).get("latestEvaluation")
        base = self.now.replace(hour=3, minute=0, second=0, microsecond=0)
        rng = random.Random(f"{self.seed}:{name}")
        history = []
        for back in range(days, 0, -1):
            end = base - timedelta(days=back)
            if rng.random() < 0.04:
                history.append(
                    {"state": "failed", "endTime": iso(end), "error": "The evaluation timed out."}
                )
            else:
                history.append({"state": "completed", "endTime": iso(end)})
        if latest is not None:
            history.append(dict(latest))
        return history

    def _output_history(self, name: str, definition: Any, days: int) -> list[dict[str, Any]]:
        """Daily ``ScalarOutput`` of a scalar measure, computed from rows up to each day."""
        with self.records.lock:
            measure = self.records.get(name)
            cached = None if measure is None else measure.get("_outputHistory")
            if cached is not None and len(cached) >= days:
                return [dict(p) for p in cached[-days:]] if days else []
        try:
            plan: MeasurePlan | None = plan_measure(name, definition, self._schemas(), now=self.now)
        except DefinitionError:
            plan = None
        out: list[dict[str, Any]] = []
        if plan is not None and not plan.is_profile:
            cur = self._cursor()
            base = self.now.replace(hour=3, minute=0, second=0, microsecond=0)
            for back in range(days, 0, -1):
                day = base - timedelta(days=back)
                day_plan = plan_measure(name, definition, self._schemas(), now=day)
                sql, params = day_plan.scalar_sql(until=day.replace(tzinfo=None))
                try:
                    row = cur.execute(sql, params).fetchall()[0]
                except duckdb.Error as exc:  # no history rather than a 500
                    logger.info("output history of %s failed: %s", name, exc)
                    out = []
                    break
                values = {
                    a: v for (a, _), x in zip(plan.select, row, strict=True) if (v := _fmt(x))
                }
                out.append({"values": values, "measureName": name, "evaluationTime": iso(day)})
        with self.records.lock:
            current = self.records.get(name)
            if current is not None and current.get("definition") == definition:
                current["_outputHistory"] = out
        return [dict(p) for p in out]

    # -- changes -------------------------------------------------------------------------

    def _check_body(self, body: Any, name: str | None) -> dict[str, Any]:
        measure_name = self.records.body_name(body, name)
        plan_measure(measure_name, body.get("definition"), self._schemas(), now=utcnow())
        allowed = {"displayName", "description", "definition"}
        clean = {k: copy.deepcopy(v) for k, v in body.items() if k in allowed}
        clean["name"] = measure_name
        clean.setdefault("displayName", measure_name)
        return clean

    def create(self, body: Any, *, actor: str) -> dict[str, Any]:
        """Create and evaluate a measure from a ``MeasureMetadata`` body."""
        with self.lock:
            name = self.records.body_name(body, None)
            self.records.check_new_name(name, taken=_TAKEN)
            clean = self._check_body(body, None)
            now = utcnow()
            stamp = Definitions.stamp(actor, now, created=True, instance_id=self.instance_id)
            self.records.put(
                name, {**clean, "isTemplate": False, "isCreatedFromTemplate": False, **stamp}
            )
            self._evaluate(at=now, names=[name])
            self._save()
            return self.measure(name)

    def update(self, name: str, body: Any, *, actor: str) -> dict[str, Any]:
        """Replace a measure's definition and re-evaluate it."""
        with self.lock:
            current = self.records.require(name)
            merged = dict(body) if isinstance(body, Mapping) else body
            if isinstance(merged, dict) and "definition" not in merged:
                merged["definition"] = current.get("definition")
            clean = self._check_body(merged, name)
            now = utcnow()
            version = int(current.get("version", 1)) + 1
            kept = {"createdBy", "createdUtc", "isTemplate", "isCreatedFromTemplate"}
            keep = {k: v for k, v in current.items() if k in kept}
            stamp = Definitions.stamp(actor, now, created=False, instance_id=self.instance_id)
            record = {**keep, **clean, **stamp}
            record["version"] = version
            self.records.put(name, record)
            self._evaluate(at=now, names=[name])
            self._save()
            return self.measure(name)

    def delete(self, name: str) -> None:
        """Delete a measure (its ``Customer_Measure`` column goes too)."""
        with self.lock:
            self.records.remove(name)
            self._evaluate(at=utcnow(), names=[])
            self._save()
