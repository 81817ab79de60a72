"""Segment definitions of one instance, their member tables and their size history.

Each evaluated segment has a member table (``Customer`` columns of its members, in key
order) named by :func:`segment_relation`: the name plus a digest of its exact spelling, so
two names DuckDB would take for one identifier (it compares identifiers without case) never
share a table. Evaluation runs under the store's change lock and swaps the table at once
(``CREATE OR REPLACE``).

Example
-------
>>> segment_relation("HighValueCustomers")  # doctest: +ELLIPSIS
'"segment__HighValueCustomers__..."'
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import duckdb

from ci_toolkit.emulator.data.definitions import DefinitionError, Definitions, iso, utcnow
from ci_toolkit.emulator.data.odata import quote_ident
from ci_toolkit.emulator.data.segments import demo_segments, segment_history, segment_sql

__all__ = [
    "HISTORY_DAYS",
    "MAX_HISTORY_DAYS",
    "SEGMENT_COLUMNS",
    "SegmentStore",
    "segment_relation",
]

logger = logging.getLogger(__name__)

#: Days of size history a new segment gets (synthetic before its first evaluation).
HISTORY_DAYS = 90
#: Days of history asked for beyond this are all of it (the history is at most 366 points).
MAX_HISTORY_DAYS = 3650
#: The ``Customer`` columns of a segment's member table.
SEGMENT_COLUMNS = [
    "CustomerId", "FirstName", "LastName", "FullName", "Email", "Phone", "City", "Country",
    "LoyaltyTier",
]  # fmt: skip


def segment_relation(name: str) -> str:
    """The quoted name of a segment's member table (distinct for every exact spelling).

    Examples
    --------
    >>> segment_relation("Gold") != segment_relation("gold")
    True
    """
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return quote_ident(f"segment__{name}__{digest}")


class SegmentStore:
    """The segments of one instance: definitions, member tables and size history.

    Parameters
    ----------
    instance_id, seed, now
        The instance, the seed of its demo data and the emulator's start time.
    lock
        The store's change lock (held around every change and evaluation).
    cursor
        Gives the calling thread's DuckDB cursor.
    schemas
        Gives the columns of ``Customer``, ``Customer_Measure`` and ``UnifiedActivity``.
    changed
        Called with a segment's name after its table was replaced or dropped.
    save
        Persists every definition (called after each change).
    other_names
        Gives the entity names a new segment may not take (name -> what it is).
    """

    def __init__(
        self,
        *,
        instance_id: str,
        seed: int,
        now: datetime,
        lock: threading.RLock,
        cursor: Callable[[], Any],
        schemas: Callable[[], dict[str, dict[str, str]]],
        changed: Callable[[str], None],
        save: Callable[[], None],
        other_names: Callable[[], Mapping[str, str]],
    ) -> None:
        self.instance_id = instance_id
        self.seed = seed
        self.now = now
        self.lock = lock
        self.records = Definitions("segment")
        self.history: dict[str, list[dict[str, Any]]] = {}
        self._cursor = cursor
        self._schemas = schemas
        self._changed = changed
        self._save = save
        self._other_names = other_names

    # -- start ---------------------------------------------------------------------------

    def start(self, persisted: Mapping[str, Any] | None) -> None:
        """Load saved definitions (or the demo ones) and evaluate every segment.

        Call with :attr:`lock` held, after ``Customer_Measure`` is built.
        """
        if persisted is None:
            created = self.now - timedelta(days=200)
            stamp = Definitions.stamp(
                "admin@contoso.example", created, created=True, instance_id=self.instance_id
            )
            self.records.replace_all(
                {**definition, **stamp} for definition in demo_segments(self.seed, self.now)
            )
        else:
            self.records.replace_all(persisted.get("segments", []))
            with self.records.lock:
                self.history = {k: list(v) for k, v in persisted.get("segmentHistory", {}).items()}
        for name in self.records.names():
            self._evaluate(name, at=self.now, record=persisted is not None)
            if name not in self.history:
                segment = self.records.require(name)
                self.history[name] = segment_history(
                    name=name,
                    seed=self.seed,
                    count=int(segment["evaluationStatus"]["entityCount"]),
                    now=self.now,
                    days=HISTORY_DAYS,
                    active=segment.get("state", "active") == "active",
                )

    def saved(self) -> dict[str, Any]:
        """The segments and their history as saved to the data folder."""
        with self.records.lock:
            return {"segments": self.records.saved(), "segmentHistory": copy.deepcopy(self.history)}

    # -- tables --------------------------------------------------------------------------

    def evaluated(self) -> list[str]:
        """Names of the segments that have a member table."""
        with self.records.lock:
            return [n for n in self.records.names() if self.records.require(n).get("_table")]

    def relation(self, name: str) -> str | None:
        """The member table of an evaluated segment, or ``None``."""
        segment = self.records.get(name)
        if segment is None or not segment.get("_table"):
            return None
        return segment_relation(name)

    def evaluated_at(self, name: str) -> datetime | None:
        """When a segment was last evaluated (``None``: not a segment)."""
        with self.records.lock:
            segment = self.records.get(name)
            if segment is None:
                return None
            evaluated = str(segment["evaluationStatus"]["evaluationDate"])
        return datetime.fromisoformat(evaluated.replace("Z", "+00:00"))

    def _evaluate(self, name: str, *, at: datetime, record: bool) -> int:
        """Rebuild a segment's member table (caller holds :attr:`lock`); returns its size."""
        segment = self.records.require(name)
        with self.records.lock:
            query = copy.deepcopy(segment.get("segmentQueryExpression") or {})
        run_id = str(uuid.uuid4())
        relation = segment_relation(name)
        try:
            sql, params = segment_sql(query, self._schemas(), now=at)
            cols = ", ".join(SEGMENT_COLUMNS)
            cur = self._cursor()
            cur.execute(
                f"CREATE OR REPLACE TABLE {relation} AS SELECT {cols} FROM Customer "
                f"WHERE CustomerId IN ({sql}) ORDER BY CustomerId",
                params,
            )
            count = int(cur.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0])
        except (DefinitionError, duckdb.Error) as exc:
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            logger.info("segment %s failed to evaluate: %s", name, message)
            with self.records.lock:
                previous = int(segment.get("evaluationStatus", {}).get("entityCount", 0))
                segment["evaluationStatus"] = {
                    "jobStatus": "CompletedFailure",
                    "evaluationDate": iso(at),
                    "entityCount": previous,
                    "error": {"key": "apiInternalError", "value": message},
                }
                segment["errorDescription"] = message
                if record:
                    self._record_history(name, segment["evaluationStatus"])
            return previous
        with self.records.lock:
            segment["_table"] = True
            segment.pop("errorDescription", None)
            segment["evaluationStatus"] = {
                "jobStatus": "CompletedSuccess",
                "evaluationDate": iso(at),
                "entityCount": count,
                "lastSuccessfulRunId": run_id,
            }
            if record:
                self._record_history(name, segment["evaluationStatus"])
        self._changed(name)
        return count

    def _record_history(self, name: str, status: dict[str, Any]) -> None:
        history = self.history.setdefault(name, [])
        point = {k: status[k] for k in ("evaluationDate", "entityCount", "jobStatus")}
        if "error" in status:
            point["error"] = status["error"]
        if history and history[-1]["evaluationDate"][:10] == point["evaluationDate"][:10]:
            history[-1] = point
        else:
            history.append(point)
        del history[:-366]

    # -- reads ---------------------------------------------------------------------------

    def segment(
        self, name: str, *, include_history: bool = False, history_days: int | None = None
    ) -> dict[str, Any]:
        """``SegmentMetadata`` of one segment; raises ``NotFoundError``."""
        with self.records.lock:
            out = self.records.public(name)
            if include_history:
                days = HISTORY_DAYS if history_days is None else history_days
                days = min(max(days, 0), MAX_HISTORY_DAYS)  # timedelta has a limit
                history = self.history.get(name, [])
                newest = max([iso(self.now), *(p["evaluationDate"] for p in history[-1:])])
                reference = datetime.fromisoformat(newest.replace("Z", "+00:00"))
                cutoff = iso(reference - timedelta(days=days))
                out["evaluationStatusHistory"] = [
                    dict(p) for p in history if p["evaluationDate"] > cutoff
                ]
            return out

    def segments(
        self,
        *,
        include_history: bool = False,
        history_days: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """``SegmentMetadata`` of every segment (with size history when asked)."""
        with self.records.lock:
            names = self.records.names()
            if limit is not None:
                names = names[: max(limit, 0)]
            return [
                self.segment(n, include_history=include_history, history_days=history_days)
                for n in names
            ]

    # -- changes -------------------------------------------------------------------------

    def _check_body(self, body: Any, name: str | None) -> dict[str, Any]:
        segment_name = self.records.body_name(body, name)
        state = body.get("state", "active")
        if state not in {"active", "inactive"}:
            raise DefinitionError(f"Unsupported state '{state}'; use 'active' or 'inactive'.")
        query = body.get("segmentQueryExpression")
        if query is None:
            raise DefinitionError("The segment needs a 'segmentQueryExpression'.")
        segment_sql(query, self._schemas(), now=utcnow())  # validates
        allowed = {"kind", "friendlyName", "description", "segmentQueryExpression", "endDate"}
        clean = {k: copy.deepcopy(v) for k, v in body.items() if k in allowed}
        clean.update(name=segment_name, state=state)
        clean.setdefault("kind", "default")
        clean.setdefault("friendlyName", segment_name)
        return clean

    def evaluate(self, name: str) -> int:
        """Recompute a segment's members now; returns the member count."""
        with self.lock:
            self.records.require(name)
            count = self._evaluate(name, at=utcnow(), record=True)
            self._save()
            return count

    def create(self, body: Any, *, actor: str) -> dict[str, Any]:
        """Create and evaluate a segment from a ``SegmentMetadata`` body."""
        with self.lock:
            clean = self._check_body(body, None)
            name = self.records.check_new_name(clean["name"], taken=self._other_names())
            now = utcnow()
            stamp = Definitions.stamp(actor, now, created=True, instance_id=self.instance_id)
            self.records.put(name, {**clean, **stamp})
            self._evaluate(name, at=now, record=True)
            self._save()
            return self.segment(name)

    def update(self, name: str, body: Any, *, actor: str) -> dict[str, Any]:
        """Replace a segment's definition and re-evaluate it."""
        with self.lock:
            current = self.records.require(name)
            if not isinstance(body, Mapping):
                raise DefinitionError("The request body must be a SegmentMetadata JSON object.")
            # What the body leaves out stays as it was.
            unchanged = {"state", "kind", "friendlyName", "description", "segmentQueryExpression"}
            merged = {k: v for k, v in current.items() if k in unchanged}
            merged.update(body)
            clean = self._check_body(merged, name)
            now = utcnow()
            kept = {"createdBy", "createdUtc", "_table", "evaluationStatus"}
            keep = {k: v for k, v in current.items() if k in kept}
            stamp = Definitions.stamp(actor, now, created=False, instance_id=self.instance_id)
            record = {**keep, **clean, **stamp}
            record["version"] = int(current.get("version", 1)) + 1
            self.records.put(name, record)
            self._evaluate(name, at=now, record=True)
            self._save()
            return self.segment(name)

    def set_state(self, name: str, active: bool, *, actor: str) -> bool:
        """Activate (and evaluate) or deactivate a segment."""
        with self.lock:
            segment = self.records.require(name)
            with self.records.lock:
                segment["state"] = "active" if active else "inactive"
                segment.update(
                    Definitions.stamp(actor, utcnow(), created=False, instance_id=self.instance_id)
                )
            if active:
                self._evaluate(name, at=utcnow(), record=True)
            self._save()
            return True

    def delete(self, name: str) -> None:
        """Delete a segment and its member table."""
        with self.lock:
            with self.records.lock:
                self.records.remove(name)
                self.history.pop(name, None)
            self._cursor().execute(f"DROP TABLE IF EXISTS {segment_relation(name)}")
            self._changed(name)
            self._save()
