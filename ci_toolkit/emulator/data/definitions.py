"""Named definitions (segments, measures): names checked and unique without regard to case.

Segments and measures are both records kept by name, created, replaced and deleted through
the API, stamped with who changed them and when, and saved without their private (``_``)
keys. :class:`Definitions` holds one kind of them.

Names are unique without regard to case. The service keeps each segment as an entity and
each measure as a column of ``Customer_Measure``, and both the lake's entity names and SQL
column names compare without case (two names differing only in case were one DuckDB table
in the emulator, so deleting one broke the other). The v1 contract and API notes say
nothing about it; a second name differing only in case is refused with 400 naming the
existing one. Lookups (get, update, delete) use the exact name.

Example
-------
>>> segments = Definitions("segment")
>>> segments.check_new_name("HighValue", taken={})
'HighValue'
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ci_toolkit.emulator.data.segments import SegmentDefinitionError

__all__ = ["DefinitionError", "Definitions", "NotFoundError", "iso", "utcnow"]

DefinitionError = SegmentDefinitionError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


class NotFoundError(KeyError):
    """An entity, segment, measure, data source, relationship or customer that does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(name)
        self.kind = kind
        self.name = name
        self.message = f"The {kind} '{name}' was not found."

    def __str__(self) -> str:
        return self.message


def iso(value: datetime) -> str:
    """``2026-01-31T12:00:00Z`` (UTC, whole seconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def clash(name: str, names: Iterable[str]) -> str | None:
    """The name in ``names`` equal to ``name`` without regard to case, if any.

    Examples
    --------
    >>> clash("highvalue", ["HighValue", "Other"])
    'HighValue'
    """
    folded = name.casefold()
    return next((n for n in names if n.casefold() == folded), None)


class Definitions:
    """The definitions of one kind (``"segment"`` or ``"measure"``) by name.

    Reads and changes of the records are guarded by :attr:`lock` (re-entrant); a caller
    that reads several records consistently holds it. Records are plain dicts; keys that
    start with ``_`` are private (not answered, not saved).

    Parameters
    ----------
    kind
        ``"segment"`` or ``"measure"`` (it appears in error messages).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def names(self) -> list[str]:
        """Every name, in creation order."""
        with self.lock:
            return list(self._records)

    def get(self, name: str) -> dict[str, Any] | None:
        """The record itself (not a copy) or ``None``."""
        with self.lock:
            return self._records.get(name)

    def require(self, name: str) -> dict[str, Any]:
        """The record itself; raises :class:`NotFoundError`."""
        record = self.get(name)
        if record is None:
            raise NotFoundError(self.kind, name)
        return record

    def put(self, name: str, record: dict[str, Any]) -> None:
        """Add or replace the record of ``name``."""
        with self.lock:
            self._records[name] = record

    def remove(self, name: str) -> None:
        """Delete the record of ``name``; raises :class:`NotFoundError`."""
        with self.lock:
            if name not in self._records:
                raise NotFoundError(self.kind, name)
            del self._records[name]

    def replace_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Set every record (from saved definitions), keeping names that differ only in case.

        Such names can only come from a file written before names were compared without
        case; they are kept (nothing is lost) and logged.
        """
        with self.lock:
            self._records = {}
            for record in records:
                name = str(record["name"])
                other = clash(name, self._records)
                if other is not None:
                    logger.warning(
                        "the saved %ss '%s' and '%s' differ only in case; rename one",
                        self.kind, other, name,
                    )  # fmt: skip
                self._records[name] = record

    def public(self, name: str) -> dict[str, Any]:
        """A deep copy of the record without its private keys; raises :class:`NotFoundError`."""
        with self.lock:
            record = self.require(name)
            return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}

    def saved(self) -> list[dict[str, Any]]:
        """Every record without its private keys, as saved to the data folder."""
        with self.lock:
            return [
                {k: copy.deepcopy(v) for k, v in r.items() if not k.startswith("_")}
                for r in self._records.values()
            ]

    def body_name(self, body: Any, path_name: str | None) -> str:
        """The checked name of a create (``path_name`` None) or update body.

        Raises
        ------
        DefinitionError
            When the body is no JSON object, the name is not letters, digits and
            underscores starting with a letter, or an update would rename.
        """
        article = "a" if self.kind[0] not in "aeiou" else "an"
        title = "SegmentMetadata" if self.kind == "segment" else "MeasureMetadata"
        if not isinstance(body, Mapping):
            raise DefinitionError(f"The request body must be {article} {title} JSON object.")
        name = body.get("name", path_name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise DefinitionError(
                f"The {self.kind} needs a 'name' of letters, digits and underscores that starts "
                f"with a letter (got {name!r})."
            )
        if path_name is not None and name != path_name:
            raise DefinitionError(
                f"The name in the body ('{name}') differs from the name in the path "
                f"('{path_name}'); {self.kind}s cannot be renamed."
            )
        return name

    def check_new_name(self, name: str, *, taken: Mapping[str, str]) -> str:
        """``name`` if no definition or other name in ``taken`` has it, without regard to case.

        ``taken`` maps other names in the same namespace (entity names for segments, the
        ``CustomerId`` column for measures) to what they are.

        Raises
        ------
        DefinitionError
            When the name is used already (the message names the existing one).
        """
        with self.lock:
            existing = clash(name, self._records)
        if existing == name:
            raise DefinitionError(f"A {self.kind} named '{name}' already exists.")
        if existing is not None:
            raise DefinitionError(
                f"A {self.kind} named '{existing}' already exists; {self.kind} names are unique "
                f"without regard to case, so '{name}' cannot be created. Choose another name."
            )
        other = clash(name, taken)
        if other is not None:
            raise DefinitionError(
                f"'{name}' is already the name of {taken[other]} ('{other}'); names are "
                "compared without regard to case. Choose another name."
            )
        return name

    @staticmethod
    def stamp(actor: str, at: datetime, *, created: bool, instance_id: str) -> dict[str, Any]:
        """The audit fields of a change (``createdBy``... only when ``created``)."""
        out: dict[str, Any] = {"updatedBy": actor, "updatedUtc": iso(at)}
        if created:
            out.update(createdBy=actor, createdUtc=iso(at), version=1)
        out["instanceId"] = instance_id
        return out
