"""``DataQuery``: the OData options of one read of an entity's data, validated once.

Every read of ``GET /instances/{instanceId}/data/{entity}`` (page by page, parallel, in
batches, to Parquet) builds one :class:`DataQuery` from the caller's options and shares it:
it renders the ``$``-parameters, the options a parallel pull sends with every key range,
and the options that resume an interrupted pull (after a key, or at a nextLink).

Example
-------
>>> q = DataQuery.build("Customer", select="FirstName, Country", top=5)
>>> q.params()
{'$select': 'FirstName,Country', '$top': 5}
>>> q.options()
{'select': ['FirstName', 'Country'], 'top': 5}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ci_toolkit.odata import Filter, render
from ci_toolkit.resources._base import segment

__all__ = ["DataQuery", "check_int", "split_names", "split_orderby"]

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/")


def split_names(
    value: str | Sequence[str] | None,
    option: str,
    valid: Callable[[str], bool],
    explain: Callable[[object], str],
) -> list[str] | None:
    """``"A, B"`` or ``["A", "B"]`` as a list of names, each one ``valid`` (else a ValueError).

    The one reading of a list of names for every door: ``explain(item)`` says why an item
    is not a name there (v1 attribute names, Dataverse logical names).

    Example
    -------
    >>> split_names("A, B", "select", str.isalpha, repr)
    ['A', 'B']
    """
    if value is None:
        return None
    if not isinstance(value, str | Sequence):
        raise ValueError(f"{option}: expected a name or a list of names, got {value!r}")
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item or not valid(item):
            raise ValueError(explain(item))
    return items


def split_orderby(
    value: str | Sequence[str] | None,
    valid: Callable[[str], bool],
    expected: str,
    *,
    any_case: bool = True,
) -> str | None:
    """``$orderby`` from ``"A desc, B"`` or ``["A desc", "B"]``: names ``valid``, then an
    optional ``asc``/``desc`` (in any case unless ``any_case`` is false).

    Example
    -------
    >>> split_orderby(["A desc", "B"], str.isalpha, "'Name' or 'Name desc'")
    'A desc,B'
    """
    if value is None:
        return None
    if not isinstance(value, str | Sequence):
        raise ValueError(f"orderby: expected {expected}, got {value!r}")
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    for item in items:
        parts = item.split() if isinstance(item, str) else []
        direction = parts[-1] if len(parts) == 2 else "asc"
        if (
            not parts
            or len(parts) > 2
            or not valid(parts[0])
            or (direction.lower() if any_case else direction) not in ("asc", "desc")
        ):
            raise ValueError(f"orderby: expected {expected}, got {item!r}")
    return ",".join(items)


def _v1_name(item: str) -> bool:
    return set(item) <= _NAME_CHARS


def _names(value: str | Sequence[str] | None, option: str) -> list[str] | None:
    return split_names(
        value, option, _v1_name, lambda item: f"{option}: not a valid attribute name: {item!r}"
    )


def _orderby(value: str | Sequence[str] | None) -> str | None:
    return split_orderby(value, _v1_name, "'Name' or 'Name desc'")


def check_int(value: int | None, option: str, minimum: int, maximum: int | None = None) -> None:
    """Refuse anything but an integer from ``minimum`` to ``maximum`` (``None`` passes).

    Example
    -------
    >>> check_int(True, "top", 0)
    Traceback (most recent call last):
    ...
    ValueError: top must be an integer >= 0, got True
    """
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{option} must be an integer >= {minimum}{upper}, got {value!r}")


@dataclass(frozen=True)
class DataQuery:
    """The OData options of one read, checked and rendered (build it with :meth:`build`).

    Attributes
    ----------
    entity : str
        The entity (table) read.
    filter : str or None
        ``$filter``, rendered.
    select, expand : list[str] or None
        ``$select`` and ``$expand`` names.
    orderby : str or None
        ``$orderby``.
    top, skip : int or None
        ``$top`` and ``$skip``.
    search : str or None
        ``$search``.
    count : bool
        Ask for ``@odata.count``.
    """

    entity: str
    filter: str | None = None
    select: list[str] | None = None
    orderby: str | None = None
    top: int | None = None
    skip: int | None = None
    search: str | None = None
    expand: list[str] | None = None
    count: bool = False

    @classmethod
    def build(
        cls,
        entity: str,
        *,
        filter: Filter | str | None = None,
        select: str | Sequence[str] | None = None,
        orderby: str | Sequence[str] | None = None,
        top: int | None = None,
        skip: int | None = None,
        search: str | None = None,
        expand: str | Sequence[str] | None = None,
        count: bool = False,
    ) -> DataQuery:
        """Check the caller's options once; a ``ValueError`` names the bad one.

        Example
        -------
        >>> DataQuery.build("Customer", top=-1)
        Traceback (most recent call last):
        ...
        ValueError: top must be an integer >= 0, got -1
        """
        segment(entity)  # a name that reaches its own path, or a ValueError now
        check_int(top, "top", 0)
        check_int(skip, "skip", 0)
        if search is not None and not isinstance(search, str):
            raise ValueError(f"search: expected text, got {search!r}")
        return cls(
            entity=entity,
            filter=render(filter),
            select=_names(select, "select"),
            orderby=_orderby(orderby),
            top=top,
            skip=skip or None,
            search=search or None,
            expand=_names(expand, "expand"),
            count=bool(count),
        )

    def params(self) -> dict[str, Any]:
        """The ``$``-parameters of the first page request (a nextLink carries them after).

        Example
        -------
        >>> DataQuery.build("T", filter="A eq 1", skip=3, count=True).params()
        {'$filter': 'A eq 1', '$skip': 3, '$count': 'true'}
        """
        params: dict[str, Any] = {}
        if self.filter:
            params["$filter"] = self.filter
        if self.select:
            params["$select"] = ",".join(self.select)
        if self.orderby:
            params["$orderby"] = self.orderby
        if self.top is not None:
            params["$top"] = self.top
        if self.skip:
            params["$skip"] = self.skip
        params.update(self.range_params())
        if self.count:
            params["$count"] = "true"
        return params

    def range_params(self, *, key: str | None = None) -> dict[str, Any]:
        """The options a parallel pull sends with every key range (``$select`` with ``key``).

        ``$filter``, ``$orderby``, ``$top``, ``$skip`` and ``$count`` are the pull's own.

        Example
        -------
        >>> DataQuery.build("T", select=["A"], search="x").range_params(key="Id")
        {'$select': 'A,Id', '$search': 'x'}
        """
        params: dict[str, Any] = {}
        if self.select and key is not None:
            names = self.select if key in self.select else [*self.select, key]
            params["$select"] = ",".join(names)
        if self.search:
            params["$search"] = self.search
        if self.expand:
            params["$expand"] = ",".join(self.expand)
        return params

    def columns(self, types: dict[str, str]) -> list[str]:
        """The columns of the result: the selected names (else every attribute), then expands.

        Example
        -------
        >>> DataQuery.build("T", expand="Orders").columns({"Id": "String"})
        ['Id', 'Orders']
        """
        names = list(self.select) if self.select else list(types)
        return names + [e for e in self.expand or () if e not in names]

    def options(self) -> dict[str, Any]:
        """The caller's options that are set, as keyword arguments of ``ci.query``.

        Example
        -------
        >>> DataQuery.build("T", filter="A eq 1", count=True).options()
        {'filter': 'A eq 1', 'count': True}
        """
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "entity" and getattr(self, f.name) not in (None, False)
        }

    def resume_after(self, key: str, last: Any, *, rows_read: int) -> dict[str, Any]:
        """Options of the same read without the rows up to key ``last`` (read in key order).

        Example
        -------
        >>> DataQuery.build("T", top=10, skip=2).resume_after("Id", "k9", rows_read=4)
        {'top': 6, 'filter': "Id gt 'k9'"}
        """
        from ci_toolkit.bulk.planner import Partition, resume_filter

        options = self.options()
        options.pop("skip", None)
        options["filter"] = resume_filter(self.filter, key, Partition(0, None, None, 0), after=last)
        if self.top is not None:
            options["top"] = max(self.top - rows_read, 0)
        return options

    def resume_at(self, next_link: str, *, rows_read: int) -> dict[str, Any]:
        """Options that continue a page-by-page read at ``next_link`` (it carries the rest).

        ``select`` and ``expand`` still type the columns.

        Example
        -------
        >>> DataQuery.build("T", select="A", top=500).resume_at("https://x/n", rows_read=100)
        {'select': ['A'], 'next_link': 'https://x/n', 'top': 400}
        """
        options = {k: v for k, v in self.options().items() if k in ("select", "expand")}
        options["next_link"] = next_link
        if self.top is not None:
            options["top"] = max(self.top - rows_read, 0)
        return options
