"""Segments: list, definition, members, size history; create, update, (de)activate, delete.

API operations (function -> returns: operation):

``segments()`` -> DataFrame, one row per segment
    ``GET /instances/{instanceId}/manage/segments`` (Get-all-segments)
``segment(name)`` -> DataFrame, one row per condition (metadata in ``.attrs["raw"]``)
    ``GET /instances/{instanceId}/manage/segments`` (the v1 API has no single-segment GET)
``segment_members(name, select=..., top=...)`` -> DataFrame of ``Customer`` rows
    ``GET /instances/{instanceId}/data/Customer?$filter=IsMemberOfSegment('<name>')``
    (Get-entities-with-OData-path); with ``source="dataverse"``
    ``GET <org>/api/data/v9.2/msdynci_segmentmemberships?$filter=contains(msdynci_segments,
    '"<name>"')`` then the members' ``msdynci_customerprofiles`` (v1 column names)
``segment_history(names=None, days=90)`` -> tidy DataFrame (segment, date, size, jobStatus)
    ``GET .../manage/segments?includeHistoricStats=true&historicStatsDays=N``
``create_segment(metadata)`` -> dict (SegmentMetadata)
    ``POST /instances/{instanceId}/manage/segments`` (Create-a-segment, never retried)
``update_segment(name, changes)`` -> dict (SegmentMetadata)
    ``PUT /instances/{instanceId}/manage/segments/{segmentName}`` (Update-a-segment)
``activate_segment(name)`` / ``deactivate_segment(name)`` -> bool
    ``PUT .../manage/segments/{segmentName}/activate`` (Activate-segment),
    ``PUT .../manage/segments/{segmentName}/deactivate`` (Deactivate-segment)
``delete_segment(name)`` -> None
    ``DELETE .../manage/segments/{segmentName}`` (Delete-segment)
``segment_definition(name, conditions)`` -> dict (SegmentMetadata); no request
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ci_toolkit.dataverse.paths import SourceMixin
from ci_toolkit.odata import is_member_of_segment
from ci_toolkit.resources._base import segment as quote_segment
from ci_toolkit.resources.data import DataMixin

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.frames import Kind

__all__ = [
    "COMPARISON_OPERATORS",
    "SEGMENT_COLUMNS",
    "SegmentsMixin",
    "describe_criteria",
    "describe_segment_query",
    "segment_definition",
]

logger = logging.getLogger(__name__)

#: ``SegmentMembershipCriteria.comparisonOperator`` values of the contract.
COMPARISON_OPERATORS = (
    "equals", "notEquals", "greaterThan", "greaterThanOrEqualTo", "lessThan",
    "lessThanOrEqualTo", "any", "contains", "startsWith", "endsWith", "isNull", "isNotNull",
    "all", "isIn", "isWithinLast", "isBetween", "isNotBetween", "yearToDate", "dayOf",
    "monthOf", "yearOf", "dayOfWeek", "timeAt", "childOf", "parentOf",
)  # fmt: skip

_SYMBOLS = {
    "equals": "=",
    "notEquals": "!=",
    "greaterThan": ">",
    "greaterThanOrEqualTo": ">=",
    "lessThan": "<",
    "lessThanOrEqualTo": "<=",
}
_FROM_SYMBOL = {v: k for k, v in _SYMBOLS.items()} | {"==": "equals", "<>": "notEquals"}

SEGMENT_COLUMNS: list[tuple[str, str, Kind]] = [
    ("name", "name", "str"),
    ("friendlyName", "friendlyName", "str"),
    ("description", "description", "str"),
    ("state", "state", "str"),
    ("size", "evaluationStatus.entityCount", "int"),
    ("lastEvaluation", "evaluationStatus.evaluationDate", "datetime"),
    ("jobStatus", "evaluationStatus.jobStatus", "str"),
    ("definition", "definition", "str"),
    ("kind", "kind", "str"),
    ("endDate", "endDate", "datetime"),
    ("createdBy", "createdBy", "str"),
    ("createdUtc", "createdUtc", "datetime"),
    ("updatedUtc", "updatedUtc", "datetime"),
]

CONDITION_COLUMNS: list[tuple[str, str, Kind]] = [
    ("rowset", "rowset", "int"),
    ("rowsetOperation", "rowsetOperation", "str"),
    ("group", "group", "str"),
    ("logicalOperator", "logicalOperator", "str"),
    ("attribute", "attribute", "str"),
    ("comparisonOperator", "comparisonOperator", "str"),
    ("value", "value", "str"),
    ("listOfValues", "listOfValues", "object"),
    ("ignoreCase", "ignoreCase", "bool"),
    ("path", "path", "object"),
]

HISTORY_COLUMNS: list[tuple[str, str, Kind]] = [
    ("segment", "segment", "str"),
    ("date", "evaluationDate", "datetime"),
    ("size", "entityCount", "int"),
    ("jobStatus", "jobStatus", "str"),
]


def _quote(value: Any) -> str:
    if isinstance(value, str) and value.lower() in ("true", "false", "null"):
        return value.lower()
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return "'" + value.replace("'", "''") + "'"
        return value
    return str(value)


def describe_criteria(criteria: Mapping[str, Any] | None) -> str:
    """A readable one-line text for a ``SegmentMembershipCriteria`` tree.

    Examples
    --------
    >>> gold = {"attribute": "LoyaltyTier", "comparisonOperator": "equals", "value": "Gold"}
    >>> where = {"attribute": "Country", "comparisonOperator": "isIn",
    ...          "listOfValues": ["Ireland", "Spain"]}
    >>> describe_criteria({"logicalOperator": "and", "childCriterias": [gold, where]})
    "LoyaltyTier = 'Gold' AND Country in ('Ireland', 'Spain')"
    """
    if not criteria:
        return ""
    children = [c for c in criteria.get("childCriterias") or [] if c]
    if children:
        op = f" {(criteria.get('logicalOperator') or 'and').upper()} "
        parts = [describe_criteria(c) for c in children]
        parts = [
            f"({p})" if c.get("childCriterias") and len(c["childCriterias"]) > 1 else p
            for p, c in zip(parts, children, strict=True)
        ]
        return op.join(p for p in parts if p)
    attribute = criteria.get("attribute") or "?"
    operator = criteria.get("comparisonOperator") or "equals"
    value = criteria.get("value")
    values = criteria.get("listOfValues") or []
    if operator in _SYMBOLS:
        return f"{attribute} {_SYMBOLS[operator]} {_quote(value)}"
    if operator == "isNull":
        return f"{attribute} is empty"
    if operator == "isNotNull":
        return f"{attribute} is not empty"
    if operator == "isIn":
        return f"{attribute} in ({', '.join(_quote(v) for v in values)})"
    if operator in ("isBetween", "isNotBetween") and len(values) >= 2:
        word = "between" if operator == "isBetween" else "not between"
        return f"{attribute} {word} {_quote(values[0])} and {_quote(values[1])}"
    if operator == "isWithinLast":
        return f"{attribute} within last {value}"
    shown = value if value is not None else ", ".join(str(v) for v in values)
    return f"{attribute} {operator} {_quote(shown) if shown not in (None, '') else ''}".rstrip()


def describe_segment_query(query: Mapping[str, Any] | None) -> str:
    """A readable text for a ``SegmentationQuery`` (rowsets joined by their operation).

    Examples
    --------
    >>> gold = {"attribute": "Tier", "comparisonOperator": "equals", "value": "Gold"}
    >>> big = {"attribute": "Spend", "comparisonOperator": "greaterThan", "value": "500"}
    >>> describe_segment_query({"type": "structured", "rowsets": [
    ...     {"rowsetOperation": "none", "criteria": gold},
    ...     {"rowsetOperation": "union", "criteria": big}]})
    "Tier = 'Gold' UNION Spend > 500"
    """
    if not query:
        return ""
    rowsets = [r for r in query.get("rowsets") or [] if r]
    if not rowsets:
        sql = query.get("segmentationQuerySql")
        return f"SQL: {sql}" if sql else ""
    text = ""
    for index, rowset in enumerate(rowsets):
        part = describe_criteria(rowset.get("criteria"))
        if len(rowsets) > 1 and (" AND " in part or " OR " in part):
            part = f"({part})"
        operation = (rowset.get("rowsetOperation") or "none").lower()
        if index == 0:
            text = f"NOT ({part})" if operation == "exclude" else part
        else:
            # A later rowset without an operation adds its members (union).
            word = {"none": "UNION", "include": "UNION", "exclude": "EXCEPT"}.get(
                operation, operation.upper()
            )
            text = f"{text} {word} {part}"
    return text


def _conditions(query: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def walk(
        criteria: Mapping[str, Any], rowset: int, operation: str, group: str, parent: str
    ) -> None:
        children = [c for c in criteria.get("childCriterias") or [] if c]
        if children:
            op = criteria.get("logicalOperator") or "and"
            for i, child in enumerate(children):
                walk(child, rowset, operation, f"{group}.{i}" if group else str(i), op)
            return
        rows.append(
            {
                **criteria,
                "rowset": rowset,
                "rowsetOperation": operation,
                "group": group or "0",
                "logicalOperator": parent,
            }
        )

    for index, rowset in enumerate((query or {}).get("rowsets") or []):
        criteria = rowset.get("criteria")
        if criteria:
            operation = rowset.get("rowsetOperation") or "none"
            walk(criteria, index, operation, "", "and")
            if rowset.get("paths"):
                for row in rows:
                    if row["rowset"] == index and not row.get("path"):
                        row["path"] = rowset["paths"]
    return rows


def segment_definition(
    name: str,
    conditions: Iterable[tuple[str, str, Any]],
    *,
    friendly_name: str | None = None,
    description: str | None = None,
    match: Literal["all", "any"] = "all",
    entity: str = "Customer",
) -> dict[str, Any]:
    """Build a simple rule-based ``SegmentMetadata`` for :meth:`~SegmentsMixin.create_segment`.

    Parameters
    ----------
    name : str
        Unique segment name (letters, digits, ``_``).
    conditions : Iterable[tuple[str, str, Any]]
        ``(attribute, operator, value)``: ``operator`` is a contract
        ``comparisonOperator`` (``"equals"``, ``"isIn"``, ...) or a symbol
        (``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``); a list value becomes ``listOfValues``.
    friendly_name : str, optional
        Display name (defaults to ``name``).
    description : str, optional
        Free text.
    match : {"all", "any"}
        Whether all conditions (``and``) or any (``or``) must hold.
    entity : str
        The profile entity the attributes belong to.

    Returns
    -------
    dict
        A ``SegmentMetadata`` JSON object (inactive until activated).

    Examples
    --------
    >>> d = segment_definition("GoldIreland", [("LoyaltyTier", "=", "Gold"),
    ...                                        ("Country", "isIn", ["Ireland"])])
    >>> describe_segment_query(d["segmentQueryExpression"])
    "LoyaltyTier = 'Gold' AND Country in ('Ireland')"
    """
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise ValueError(f"segment name must be letters, digits and '_', got {name!r}")
    if match not in ("all", "any"):
        raise ValueError("match must be 'all' or 'any'")
    children: list[dict[str, Any]] = []
    for condition in conditions:
        attribute, operator, value = condition
        op = _FROM_SYMBOL.get(operator, operator)
        if op not in COMPARISON_OPERATORS:
            raise ValueError(f"unknown comparison operator {operator!r}")
        item: dict[str, Any] = {"kind": "default", "attribute": attribute, "comparisonOperator": op}
        if isinstance(value, list | tuple | set):
            item["listOfValues"] = [str(v) for v in value]
        elif value is not None:
            item["value"] = str(value).lower() if isinstance(value, bool) else str(value)
        children.append(item)
    if not children:
        raise ValueError("a segment needs at least one condition")
    return {
        "name": name,
        "friendlyName": friendly_name or name,
        "description": description or "",
        "segmentQueryExpression": {
            "type": "structured",
            "projections": [],
            "rowsets": [
                {
                    "rowsetOperation": "none",
                    "paths": [[entity]],
                    "criteria": {
                        "kind": "default",
                        "logicalOperator": "and" if match == "all" else "or",
                        "childCriterias": children,
                    },
                }
            ],
        },
        "state": "inactive",
    }


def _members_dataverse(
    ci: SegmentsMixin,
    name: str,
    *,
    select: str | Sequence[str] | None,
    top: int | None,
    orderby: str | Sequence[str] | None,
) -> pd.DataFrame:
    """``segment_members`` over Dataverse, with v1 names in and out."""
    from ci_toolkit.dataverse.tables import v1_to_logical

    names = [v.strip() for v in select.split(",")] if isinstance(select, str) else select
    logical = [v1_to_logical(n) for n in names] if names else None
    order = [v.strip() for v in orderby.split(",")] if isinstance(orderby, str) else orderby
    if not order:
        frame = ci.dataverse.segment_members(name, select=logical, top=top)
    else:
        frame = ci.dataverse.segment_members(name, select=logical)
        keys = [o.split()[0] for o in order]
        ascending = [not (len(o.split()) > 1 and o.split()[1].lower() == "desc") for o in order]
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise ValueError(f"orderby: no column {missing[0]!r} in the members' profiles")
        frame = frame.sort_values(keys, ascending=ascending, kind="stable").reset_index(drop=True)
        if top is not None:
            frame = frame.head(top)
    if names:
        frame = frame[[n for n in names if n in frame.columns]]
    frame.attrs = {"source": "dataverse"}
    return frame


class SegmentsMixin(DataMixin, SourceMixin):
    """Segments: reads and mutations."""

    def _segment_list(self, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self._get(self._path("manage/segments"), params=params) or [])

    def _find_segment(self, name: str) -> dict[str, Any]:
        from ci_toolkit.exceptions import NotFoundError

        for item in self._segment_list():
            if item.get("name") == name:
                return item
        raise NotFoundError(
            f"no segment named {name!r}.",
            status=404,
            error_code="SegmentNotFound",
        )

    def segments(self) -> pd.DataFrame:
        """List the segments with their state, size and last evaluation.

        Returns
        -------
        pandas.DataFrame
            ``name``, ``friendlyName``, ``description``, ``state``, ``size``
            (``evaluationStatus.entityCount``), ``lastEvaluation`` (UTC), ``jobStatus``,
            ``definition`` (readable text), ``kind``, ``endDate``, ``createdBy``,
            ``createdUtc``, ``updatedUtc``; the ``SegmentMetadata`` list in ``.attrs["raw"]``.

        Examples
        --------
        >>> ci.segments().sort_values("size")[["friendlyName", "size"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        body = self._segment_list()
        rows = [
            {**s, "definition": describe_segment_query(s.get("segmentQueryExpression"))}
            for s in body
        ]
        return frames.records_frame(rows, SEGMENT_COLUMNS, raw=body)

    def segment(self, name: str) -> pd.DataFrame:
        """One segment's definition, one row per condition.

        Parameters
        ----------
        name : str
            The segment's ``name``.

        Returns
        -------
        pandas.DataFrame
            ``rowset``, ``rowsetOperation``, ``group``, ``logicalOperator``, ``attribute``,
            ``comparisonOperator``, ``value``, ``listOfValues``, ``ignoreCase``, ``path``;
            ``.attrs["definition"]`` holds the readable text and ``.attrs["raw"]`` the
            ``SegmentMetadata`` (edit it and pass it to :meth:`update_segment`).

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            No segment has this name.

        Examples
        --------
        >>> ci.segment("HighValueCustomers").attrs["definition"]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        meta = self._find_segment(name)
        query = meta.get("segmentQueryExpression")
        frame = frames.records_frame(_conditions(query), CONDITION_COLUMNS, raw=meta)
        frame.attrs["definition"] = describe_segment_query(query)
        frame.attrs["sql"] = (query or {}).get("segmentationQuerySql")
        return frame

    def segment_members(
        self,
        name: str,
        *,
        select: str | Sequence[str] | None = None,
        top: int | None = None,
        orderby: str | Sequence[str] | None = None,
        progress: bool = True,
        source: str | None = None,
    ) -> pd.DataFrame:
        """The ``Customer`` profiles that are members of a segment.

        Parameters
        ----------
        name : str
            The segment's ``name``.
        select : str or Sequence[str], optional
            Profile columns to return (all by default).
        top : int, optional
            At most this many members.
        orderby : str or Sequence[str], optional
            Sort order, e.g. ``"LastName"``.
        progress : bool
            Progress bar for multi-page pulls.
        source : {"v1", "dataverse"}, optional
            The read path; the connection's default (``ci.source``) when ``None``. Over
            Dataverse, ``select`` and ``orderby`` still take the v1 names (members come in
            ``CustomerId`` order unless ``orderby`` says otherwise).

        Returns
        -------
        pandas.DataFrame
            Typed ``Customer`` rows, like :meth:`query`; ``.attrs["source"]`` names the path.

        Examples
        --------
        >>> ci.segment_members("HighValue", select=["CustomerId"], top=50)  # doctest: +SKIP
        """
        if self._pick(source) == "dataverse":
            return _members_dataverse(self, name, select=select, top=top, orderby=orderby)
        frame = self.query(
            "Customer",
            filter=is_member_of_segment(name),
            select=select,
            top=top,
            orderby=orderby,
            progress=progress,
        )
        frame.attrs["source"] = "v1"
        return frame

    def segment_history(
        self, names: str | Sequence[str] | None = None, *, days: int = 90
    ) -> pd.DataFrame:
        """Daily segment sizes as a tidy DataFrame, ready to plot.

        Parameters
        ----------
        names : str or Sequence[str], optional
            Segment name(s); all segments by default.
        days : int
            How many days of history to ask for.

        Returns
        -------
        pandas.DataFrame
            ``segment``, ``date`` (UTC), ``size`` (Int64), ``jobStatus``; sorted by segment
            and date.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            A requested segment does not exist.

        Examples
        --------
        >>> h = ci.segment_history(days=30)  # doctest: +SKIP
        >>> h.pivot(index="date", columns="segment", values="size").plot()  # doctest: +SKIP
        """
        from ci_toolkit import frames
        from ci_toolkit.exceptions import NotFoundError

        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"days must be a positive integer, got {days!r}")
        wanted = [names] if isinstance(names, str) else list(names) if names else None
        body = self._segment_list({"includeHistoricStats": "true", "historicStatsDays": days})
        if wanted is not None:
            missing = set(wanted) - {s.get("name") for s in body}
            if missing:
                raise NotFoundError(
                    f"no segment named {', '.join(sorted(missing))}.",
                    status=404,
                    error_code="SegmentNotFound",
                )
        rows = [
            {**point, "segment": s.get("name")}
            for s in body
            if wanted is None or s.get("name") in wanted
            for point in s.get("evaluationStatusHistory") or []
        ]
        frame = frames.records_frame(rows, HISTORY_COLUMNS, raw=body)
        frame = frame.sort_values(["segment", "date"], kind="stable").reset_index(drop=True)
        frames.attach_raw(frame, body)
        return frame

    def create_segment(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Create a segment from a ``SegmentMetadata`` dict.

        Parameters
        ----------
        metadata : Mapping[str, Any]
            At least ``name`` and ``segmentQueryExpression``; see
            :func:`segment_definition` for a simple rule-based one.

        Returns
        -------
        dict
            The created ``SegmentMetadata`` as the service returns it.

        Examples
        --------
        >>> from ci_toolkit.resources.segments import segment_definition
        >>> gold = segment_definition("Gold", [("LoyaltyTier", "=", "Gold")])
        >>> ci.create_segment(gold)  # doctest: +SKIP
        """
        if not isinstance(metadata, Mapping) or not metadata.get("name"):
            raise ValueError("metadata must be a SegmentMetadata dict with a 'name'")
        body = self._session.request_json(
            "POST", self._path("manage/segments"), json=dict(metadata), retry=False
        )
        return dict(body or {})

    def update_segment(
        self, name: str, changes: Mapping[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """Update a segment: merge ``changes`` into its current metadata (or replace it).

        Parameters
        ----------
        name : str
            The segment's ``name``.
        changes : Mapping[str, Any]
            ``SegmentMetadata`` properties to change (e.g. ``{"description": "..."}``
            or a new ``segmentQueryExpression``).
        replace : bool
            Send ``changes`` as the whole metadata instead of merging.

        Returns
        -------
        dict
            The updated ``SegmentMetadata``.

        Examples
        --------
        >>> ci.update_segment("Gold", {"description": "Gold tier members"})  # doctest: +SKIP
        """
        if not isinstance(changes, Mapping):
            raise TypeError("changes must be a mapping of SegmentMetadata properties")
        payload = dict(changes) if replace else {**self._find_segment(name), **changes}
        payload.setdefault("name", name)
        body = self._session.request_json(
            "PUT", self._path(f"manage/segments/{quote_segment(name)}"), json=payload
        )
        return dict(body or {})

    def activate_segment(self, name: str) -> bool:
        """Activate a segment (it is evaluated on the next refresh).

        Examples
        --------
        >>> ci.activate_segment("Gold")  # doctest: +SKIP
        True
        """
        path = self._path(f"manage/segments/{quote_segment(name)}/activate")
        return bool(self._session.request_json("PUT", path))

    def deactivate_segment(self, name: str) -> bool:
        """Deactivate a segment.

        Examples
        --------
        >>> ci.deactivate_segment("Gold")  # doctest: +SKIP
        True
        """
        path = self._path(f"manage/segments/{quote_segment(name)}/deactivate")
        return bool(self._session.request_json("PUT", path))

    def delete_segment(self, name: str) -> None:
        """Delete a segment.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            No segment has this name.

        Examples
        --------
        >>> ci.delete_segment("Gold")  # doctest: +SKIP
        """
        self._session.request_json("DELETE", self._path(f"manage/segments/{quote_segment(name)}"))
