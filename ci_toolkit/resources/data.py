"""Entity data through the OData endpoint: ``query`` (all pages, one DataFrame) and
``iter_pages`` (one DataFrame per page, for streaming).

API operations (function -> returns: operation):

``query(entity, ...)`` -> DataFrame of all matching rows
    ``GET /instances/{instanceId}/data/{entity}`` with ``$filter``, ``$select``, ``$orderby``,
    ``$top``, ``$skip``, ``$search``, ``$expand`` (``$count`` on request), following every
    ``@odata.nextLink`` (Get-entities-with-OData-path).
``iter_pages(entity, ...)`` -> iterator of DataFrames, one per page
    Same operation.

Columns are typed from the entity's attribute metadata
(``GET /instances/{instanceId}/manage/entities/{entityName}``, fetched once per entity and
cached on the client).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ci_toolkit.odata import Filter, render
from ci_toolkit.resources._base import segment
from ci_toolkit.resources.entities import EntitiesMixin

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DataMixin"]

logger = logging.getLogger(__name__)

_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/")


def _names(value: str | Sequence[str] | None, option: str) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item or not set(item) <= _NAME_CHARS:
            raise ValueError(f"{option}: not a valid attribute name: {item!r}")
    return items


def _orderby(value: str | Sequence[str] | None) -> str | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    for item in items:
        parts = item.split()
        if (
            not parts
            or len(parts) > 2
            or not set(parts[0]) <= _NAME_CHARS
            or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))
        ):
            raise ValueError(f"orderby: expected 'Name' or 'Name desc', got {item!r}")
    return ",".join(items)


def _check_int(value: int | None, option: str, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{option} must be an integer >= {minimum}, got {value!r}")


@dataclass
class _Page:
    frame: pd.DataFrame
    count: int | None
    has_next: bool


class DataMixin(EntitiesMixin):
    """OData queries over entities, typed from the entity metadata."""

    def _column_types(self, entity: str) -> dict[str, str]:
        from ci_toolkit.exceptions import NotFoundError

        try:
            return self._entity_types(entity)
        except NotFoundError:
            # Some queryable tables (e.g. segment tables) may have no metadata of their own;
            # an entity that does not exist at all fails on the data request itself.
            logger.debug("No metadata for %s; inferring column types", entity)
            return {}

    def _same_origin(self, url: str) -> None:
        if "://" not in url:
            return
        link, base = urlsplit(url), urlsplit(self._session.base_url)
        if (link.scheme, link.netloc) != (base.scheme, base.netloc):
            raise ValueError(f"refusing to follow a nextLink to another host: {link.netloc}")

    def _pages(
        self,
        entity: str,
        *,
        filter: Filter | str | None,
        select: str | Sequence[str] | None,
        orderby: str | Sequence[str] | None,
        top: int | None,
        skip: int | None,
        search: str | None,
        expand: str | Sequence[str] | None,
        count: bool,
    ) -> Iterator[_Page]:
        from ci_toolkit import frames

        selected = _names(select, "select")
        expanded = _names(expand, "expand")
        _check_int(top, "top", 0)
        _check_int(skip, "skip", 0)
        params: dict[str, Any] = {}
        filter_text = render(filter)
        if filter_text:
            params["$filter"] = filter_text
        if selected:
            params["$select"] = ",".join(selected)
        order = _orderby(orderby)
        if order:
            params["$orderby"] = order
        if top is not None:
            params["$top"] = top
        if skip:
            params["$skip"] = skip
        if search:
            params["$search"] = search
        if expanded:
            params["$expand"] = ",".join(expanded)
        if count:
            params["$count"] = "true"

        types = self._column_types(entity)
        expected = selected if selected else list(types)
        if expanded:
            expected = expected + [e for e in expanded if e not in expected]
        url: str = self._path(f"data/{segment(entity)}")
        fetched = 0
        total: int | None = None
        first = True
        while True:
            body = self._session.request_json("GET", url, params=params if first else None) or {}
            first = False
            rows = body.get("value") or []
            if top is not None and fetched + len(rows) > top:
                rows = rows[: top - fetched]
            fetched += len(rows)
            if body.get("@odata.count") is not None:
                total = int(body["@odata.count"])
            next_link = body.get("@odata.nextLink")
            done = not next_link or (top is not None and fetched >= top)
            frame = frames.entity_frame(rows, types, columns=expected, extra=not selected)
            frame.attrs["odata"] = {
                "context": body.get("@odata.context"),
                "count": total,
            }
            yield _Page(frame, total, not done)
            if done:
                if (
                    top is not None
                    and fetched >= top
                    and (next_link or (total is not None and total - (skip or 0) > top))
                ):
                    warnings.warn(
                        f"query({entity!r}) stopped at top={top}; more rows match",
                        stacklevel=4,
                    )
                return
            self._same_origin(str(next_link))
            url = str(next_link)

    def iter_pages(
        self,
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
    ) -> Iterator[pd.DataFrame]:
        """Stream an entity page by page (one typed DataFrame per service page).

        Takes the same options as :meth:`query`. Each page has the query's columns and
        dtypes (also an empty last page), and ``.attrs["odata"]`` with the context and
        ``@odata.count`` when known.

        Yields
        ------
        pandas.DataFrame
            One page (the service sends at most 100 rows per page by default).

        Examples
        --------
        >>> pages = ci.iter_pages("UnifiedActivity", select=["CustomerId"])  # doctest: +SKIP
        >>> for page in pages:  # doctest: +SKIP
        ...     totals = page.groupby("CustomerId")["Amount"].sum()
        """
        for page in self._pages(
            entity,
            filter=filter,
            select=select,
            orderby=orderby,
            top=top,
            skip=skip,
            search=search,
            expand=expand,
            count=count,
        ):
            yield page.frame

    def query(
        self,
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
        progress: bool = True,
    ) -> pd.DataFrame:
        """Read an entity into one DataFrame, following every ``@odata.nextLink`` page.

        Parameters
        ----------
        entity : str
            Entity name, e.g. ``"Customer"``, ``"UnifiedActivity"``, ``"Customer_Measure"``.
        filter : Filter or str, optional
            ``$filter``: a string, or an expression from :mod:`ci_toolkit.odata`
            (``F.eq("LastName", "O'Brien")``), which quotes values safely.
        select : str or Sequence[str], optional
            ``$select``: the columns to return (also the columns of an empty result).
        orderby : str or Sequence[str], optional
            ``$orderby``, e.g. ``"BirthDate desc"``.
        top : int, optional
            ``$top``: stop after this many rows (no limit otherwise; warns when more match).
        skip : int, optional
            ``$skip``: rows to skip first.
        search : str, optional
            ``$search``: full-text search over searchable attributes.
        expand : str or Sequence[str], optional
            ``$expand`` (e.g. ``UnifiedActivity`` on ``Customer``): lists of dicts per row.
        count : bool
            Ask for ``$count``; the total lands in ``.attrs["odata"]["count"]`` and sizes
            the progress bar.
        progress : bool
            Show a ``tqdm`` progress bar when more than one page is needed.

        Returns
        -------
        pandas.DataFrame
            Columns typed from the entity's attribute metadata (datetimes UTC, ``Int64``,
            ``Float64``, ``boolean``, ``string``); ``.attrs["odata"]`` holds the context and
            count.

        Raises
        ------
        ci_toolkit.exceptions.NotFoundError
            Unknown entity.
        ci_toolkit.exceptions.QueryError
            The service rejected the query (bad filter, unsupported combination).

        Examples
        --------
        >>> from datetime import date
        >>> from ci_toolkit.odata import F
        >>> where = F.eq("LastName", "O'Brien") & F.gt("BirthDate", date(1990, 1, 1))
        >>> ci.query("Customer", filter=where, select=["CustomerId", "BirthDate"])  # doctest: +SKIP
        """
        import pandas as pd

        frames_: list[pd.DataFrame] = []
        bar: Any = None
        odata: dict[str, Any] = {}
        try:
            for page in self._pages(
                entity,
                filter=filter,
                select=select,
                orderby=orderby,
                top=top,
                skip=skip,
                search=search,
                expand=expand,
                count=count,
            ):
                frames_.append(page.frame)
                odata = dict(page.frame.attrs.get("odata") or {})
                if bar is None and page.has_next and progress:
                    from tqdm.auto import tqdm

                    total = page.count
                    if total is not None and skip:
                        total = max(total - skip, 0)
                    if total is not None and top is not None:
                        total = min(total, top)
                    bar = tqdm(total=total, unit="rows", desc=entity, leave=False)
                if bar is not None:
                    bar.update(len(page.frame))
        finally:
            if bar is not None:
                bar.close()
        non_empty = [f for f in frames_ if len(f)] or frames_[:1]
        result = non_empty[0] if len(non_empty) == 1 else pd.concat(non_empty, ignore_index=True)
        result.attrs = {"odata": odata}
        return result
