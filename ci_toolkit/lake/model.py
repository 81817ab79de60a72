"""The CDM ``model.json`` of an export folder: entities, attributes, partitions, CSV dialect.

Only what a reader needs is kept; unknown keys (``pbi:``, ``cdm:``, ``ci:`` extensions) are
ignored, as the CDM spec asks. ``dataType`` values are compared case-insensitively and
mapped to the toolkit's dtypes with :func:`ci_toolkit.frames.cdm_kind`, the same mapping the
API path (``ci.query``) uses.

Example
-------
>>> model = parse_model(b'{"name": "x", "version": "1.0", "entities": [{"$type": '
...     b'"LocalEntity", "name": "T", "attributes": [{"name": "a", "dataType": "int64"}]}]}',
...     source="model.json")
>>> model.entity("T").names
['a']
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ci_toolkit.frames import Kind, cdm_kind
from ci_toolkit.lake.errors import LakeError

__all__ = ["Attribute", "CsvDialect", "Entity", "Model", "ModelPartition", "parse_model"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CsvDialect:
    """A partition's ``fileFormatSettings`` with the CDM defaults filled in.

    Examples
    --------
    >>> CsvDialect.from_settings(None)
    CsvDialect(column_headers=False, delimiter=',', quoting=True, encoding='UTF-8')
    """

    column_headers: bool = False
    delimiter: str = ","
    quoting: bool = True
    encoding: str = "UTF-8"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> CsvDialect:
        """Read ``fileFormatSettings`` (absent keys: no header, ``,``, quotes, UTF-8)."""
        ffs = settings or {}
        delimiter = str(ffs.get("delimiter") or ",")
        return cls(
            column_headers=bool(ffs.get("columnHeaders", False)),
            delimiter=delimiter,
            quoting=str(ffs.get("quoteStyle", "QuoteStyle.Csv")) != "QuoteStyle.None",
            encoding=str(ffs.get("encoding") or "UTF-8"),
        )


@dataclass(frozen=True)
class Attribute:
    """One column: its name, CDM ``dataType`` and the toolkit's converter kind."""

    name: str
    data_type: str

    @property
    def kind(self) -> Kind:
        """The converter (``str``, ``int``, ``float``, ``bool``, ``datetime``, ``date``...)."""
        return cdm_kind(self.data_type)


@dataclass(frozen=True)
class ModelPartition:
    """One partition as ``model.json`` lists it."""

    name: str
    location: str
    refresh_time: pd.Timestamp | None
    dialect: CsvDialect


@dataclass(frozen=True)
class Entity:
    """One ``LocalEntity`` (a table of the export)."""

    name: str
    attributes: list[Attribute]
    partitions: list[ModelPartition] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Column names, in CSV column order."""
        return [a.name for a in self.attributes]

    def attribute(self, name: str) -> Attribute:
        """The attribute called ``name``."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise LakeError(
            f"table {self.name!r} has no column {name!r}; its columns are: " + ", ".join(self.names)
        )


@dataclass(frozen=True)
class Model:
    """A parsed ``model.json``."""

    name: str
    modified: pd.Timestamp | None
    entities: list[Entity]
    source: str

    @property
    def tables(self) -> list[str]:
        """Entity names, in ``model.json`` order."""
        return [e.name for e in self.entities]

    def entity(self, name: str) -> Entity:
        """The entity called ``name``; a :class:`LakeError` listing the others if none."""
        for entity in self.entities:
            if entity.name == name:
                return entity
        folded = [e.name for e in self.entities if e.name.lower() == name.lower()]
        hint = f" (did you mean {folded[0]!r}? names are case sensitive)" if folded else ""
        raise LakeError(
            f"no table {name!r} in {self.source}{hint}; its tables are: "
            + (", ".join(self.tables) or "none")
        )


def _time(value: Any) -> pd.Timestamp | None:
    if not value:
        return None
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _require(condition: bool, source: str, what: str) -> None:
    if not condition:
        raise LakeError(
            f"{source} is not a CDM model.json the toolkit can read: {what}. Re-run the export "
            "or open the folder the service wrote (the one holding its model.json)"
        )


def _entity(raw: Any, index: int, source: str) -> Entity | None:
    _require(isinstance(raw, dict), source, f"entities[{index}] is not an object")
    kind = raw.get("$type", "LocalEntity")
    name = raw.get("name")
    _require(isinstance(name, str) and bool(name), source, f"entities[{index}] has no name")
    if kind != "LocalEntity":
        logger.info("%s: skipping %s entity %s", source, kind, name)
        return None
    attributes_raw = raw.get("attributes")
    _require(
        isinstance(attributes_raw, list) and len(attributes_raw) > 0,
        source,
        f"table {name!r} has no attributes (each entity must have at least one)",
    )
    attributes = []
    for position, attribute in enumerate(attributes_raw):
        _require(
            isinstance(attribute, dict) and isinstance(attribute.get("name"), str),
            source,
            f"attribute {position} of table {name!r} has no name",
        )
        attributes.append(Attribute(attribute["name"], str(attribute.get("dataType") or "string")))
    names = [a.name for a in attributes]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    _require(not duplicated, source, f"table {name!r} repeats columns {duplicated}")
    partitions = []
    for position, partition in enumerate(raw.get("partitions") or []):
        _require(
            isinstance(partition, dict),
            source,
            f"partition {position} of {name!r} is not an object",
        )
        location = partition.get("location")
        if not location:  # "If null, this entity definition is for schema purposes only."
            continue
        partitions.append(
            ModelPartition(
                name=str(partition.get("name") or f"{name}_{position + 1}"),
                location=str(location),
                refresh_time=_time(partition.get("refreshTime")),
                dialect=CsvDialect.from_settings(partition.get("fileFormatSettings")),
            )
        )
    return Entity(str(name), attributes, partitions)


def parse_model(data: bytes, *, source: str) -> Model:
    """Parse the bytes of a ``model.json`` (a UTF-8 byte order mark is allowed).

    Raises
    ------
    LakeError
        When it is not JSON, or lacks what the CDM requires (``entities``, attribute names).
    """
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise LakeError(f"{source} is not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise LakeError(
            f"{source} does not parse as JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}); it may be truncated or still being written: re-run the export "
            "or wait until it finishes"
        ) from None
    _require(isinstance(raw, dict), source, "the top level is not an object")
    entities_raw = raw.get("entities")
    _require(isinstance(entities_raw, list), source, "it has no 'entities' list")
    entities = [
        entity
        for index, item in enumerate(entities_raw)
        if (entity := _entity(item, index, source)) is not None
    ]
    return Model(
        name=str(raw.get("name") or ""),
        modified=_time(raw.get("modifiedTime")),
        entities=entities,
        source=source,
    )
