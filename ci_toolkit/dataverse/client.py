"""``Dataverse``: Customer Insights tables read through the Dataverse Web API as DataFrames.

API operations (function -> returns: operation), relative to ``<org>/api/data/v9.2/``:

``tables()`` -> DataFrame, one row per Customer Insights table of the environment
    ``GET /`` (service document; entity sets named ``msdynci_*``)
``columns(table)`` -> DataFrame, one row per column (type, dtype, v1 name)
    ``GET EntityDefinitions(LogicalName='<table>')/Attributes``
``query(table, ...)`` / ``iter_pages(table, ...)`` -> typed DataFrames
    ``GET <entity set>?$select&$filter&$orderby&$top&$count`` with
    ``Prefer: odata.maxpagesize=<n>`` (500 at most), following ``@odata.nextLink``
``segment_members(name)`` -> DataFrame of profiles (v1 names by default)
    ``GET msdynci_segmentmemberships?$filter=contains(msdynci_segments,'"<name>"')`` then
    ``GET msdynci_customerprofiles?$filter=msdynci_customerid eq '..' or ...``
``customer_segments(customer_id)`` -> list of segment names
    ``GET msdynci_segmentmemberships?$filter=msdynci_customerid eq '<id>'``
``whoami()`` -> dict (``UserId``, ``BusinessUnitId``, ``OrganizationId``)
    ``GET WhoAmI()``

Every DataFrame carries ``df.attrs["source"] == "dataverse"`` and, for table reads,
``df.attrs["odata"]`` (context, count, whether the count hit the service's cap).

Example
-------
>>> ci = ci_toolkit.connect()  # doctest: +SKIP
>>> ci.dataverse.query("msdynci_customerprofile", top=5)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ci_toolkit import _defaults
from ci_toolkit.dataverse.bulk import DataverseBulkMixin
from ci_toolkit.dataverse.filters import dataverse_filter
from ci_toolkit.dataverse.session import prefer
from ci_toolkit.dataverse.tables import (
    COMMON_ATTRIBUTES,
    SYSTEM_COLUMNS,
    TABLES,
    TableInfo,
    table_for_v1_entity,
    v1_name,
)
from ci_toolkit.exceptions import (
    ApiStatusError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    hint_for,
)
from ci_toolkit.resources.query import check_int, split_names, split_orderby

if TYPE_CHECKING:
    import pandas as pd

    from ci_toolkit.http.session import ApiSession
    from ci_toolkit.odata import Filter

__all__ = ["ATTRIBUTE_KINDS", "READ_ROLES", "Dataverse", "Names"]

logger = logging.getLogger(__name__)

Names = Literal["dataverse", "v1"]

ATTRIBUTE_KINDS: dict[str, str] = {
    "String": "string",
    "Memo": "string",
    "EntityName": "string",
    "Uniqueidentifier": "guid",
    "Lookup": "guid",
    "Owner": "guid",
    "Customer": "guid",
    "DateTime": "datetimeoffset",
    "Integer": "int32",
    "Picklist": "int32",
    "State": "int32",
    "Status": "int32",
    "BigInt": "int64",
    "Decimal": "decimal",
    "Money": "decimal",
    "Double": "double",
    "Boolean": "boolean",
}
"""Dataverse ``AttributeType`` -> the data type :func:`ci_toolkit.frames.cdm_kind` converts
(``string`` -> ``string`` dtype, ``guid`` -> lower-case text, ``datetimeoffset`` -> UTC
datetimes, ``int32``/``int64`` -> ``Int64``, ``decimal``/``double`` -> ``Float64``,
``boolean`` -> ``boolean``); other types are read as text."""

READ_ROLES = ("Customer Insights Data Read Access", "Customer Insights Data Configuration Viewer")
"""The Dataverse security roles a principal needs to read the Customer Insights tables."""

_NAME = re.compile(r"^_?[a-z][a-z0-9_]*$")
_LOOKUP_TYPES = frozenset({"Lookup", "Owner", "Customer"})
_SKIP_TYPES = frozenset({"Virtual", "EntityName", "CalendarRules", "ManagedProperty"})
_MISSING_CODES = frozenset({"0x8006088a", "0x80040217"})
"""Unknown resource (entity set) and object that does not exist (table metadata)."""


@dataclass
class _Meta:
    info: TableInfo
    types: dict[str, str] = field(default_factory=dict)  # property -> AttributeType
    schema: dict[str, str] = field(default_factory=dict)  # property -> SchemaName
    columns: list[str] = field(default_factory=list)  # properties a row can have
    v1_case: dict[str, str] = field(default_factory=dict)  # lower-case v1 name -> v1 name

    def kinds(self) -> dict[str, str]:
        return {name: ATTRIBUTE_KINDS.get(t, "string") for name, t in self.types.items()}

    def v1(self, column: str) -> str:
        name = v1_name(self.info.logical_name, column, schema_name=self.schema.get(column))
        return self.v1_case.get(name.lower(), name) if name.islower() else name


def _check_names(values: str | Sequence[str] | None, option: str, meta: _Meta | None) -> list[str]:
    def explain(item: object) -> str:
        hint = ""
        if isinstance(item, str) and meta is not None:
            match = [c for c in meta.columns if meta.v1(c) == item]
            if match:
                hint = f" (the v1 name {item!r} is {match[0]!r})"
        return (
            f"{option}: {item!r} is not a Dataverse column name: they are lower-case "
            f"logical names like 'msdynci_lastname'{hint}; ci.dataverse.columns(table) "
            "lists them."
        )

    return split_names(values, option, _is_logical_name, explain) or []


def _check_orderby(value: str | Sequence[str] | None) -> str | None:
    expected = "'msdynci_column' or 'msdynci_column desc'"
    return split_orderby(value, _is_logical_name, expected, any_case=False)


def _is_logical_name(item: str) -> bool:
    return _NAME.match(item) is not None


class Dataverse(DataverseBulkMixin):  # bulk.py: parallel reads, iter_batches, to_parquet
    """The Customer Insights tables of one Dataverse environment, read as typed DataFrames.

    Parameters
    ----------
    session : ApiSession
        The Dataverse session (``connect()`` builds it: base URL ``<org>/api/data/v9.2/``).
    url : str
        The environment URL.
    v1_attributes : callable, optional
        ``entity -> attribute names`` of the v1 API, when it is configured too: gives the
        v1 names their case (``msdynci_loyaltytier`` -> ``LoyaltyTier``). Without it, a
        column whose metadata keeps no case is named by its logical name without the prefix.

    Attributes
    ----------
    segment_pattern : str
        How a segment name is matched inside ``msdynci_segments``: ``'"{name}"'`` (the name
        in double quotes, as the JSON list holds it). The Customer Insights sample writes
        ``'\\"{name}\\"'``; set this to that form if an environment needs it.

    Examples
    --------
    >>> dv = ci.dataverse  # doctest: +SKIP
    >>> dv.tables()  # doctest: +SKIP
    """

    def __init__(
        self,
        session: ApiSession,
        *,
        url: str,
        v1_attributes: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self._session = session
        self.url = url
        self.v1_attributes = v1_attributes
        self.segment_pattern = '"{name}"'
        self._lock = threading.Lock()
        self._meta: dict[str, _Meta] = {}
        self._entity_sets: list[str] | None = None

    def __repr__(self) -> str:
        return f"Dataverse(url={self.url!r})"

    @property
    def session(self) -> ApiSession:
        """The Dataverse HTTP session."""
        return self._session

    # --- errors ---------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any] | None = None, *, table: str = "") -> Any:
        try:
            return self._session.request_json("GET", path, params=params)
        except PermissionDeniedError as exc:
            raise self._privilege_error(exc, table) from None
        except NotFoundError as exc:
            if table and (exc.error_code or "").lower() in _MISSING_CODES:
                optional = table in ("msdynci_enrichment", "msdynci_prediction")
                raise NotFoundError(
                    f"{exc.message} This environment has no table {table!r}"
                    + (
                        " (enrichment and prediction tables exist only where they are "
                        "configured in Customer Insights)"
                        if optional
                        else ""
                    )
                    + ": ci.dataverse.tables() lists the tables present.",
                    status=exc.status,
                    error_code=exc.error_code,
                    request_id=exc.request_id,
                ) from None
            raise

    def _privilege_error(self, exc: PermissionDeniedError, table: str) -> PermissionDeniedError:
        what = f"the table {table!r}" if table else "this request"
        message = exc.message
        for hint in (hint_for(403, None), hint_for(403, exc.error_code)):
            message = message.replace(hint or "\0", "").rstrip()
        roles = " and ".join(f"'{r}'" for r in READ_ROLES)
        if exc.error_code != "0x80040220":  # the code's hint names the role already
            message += (
                f" The signed-in user (or application user) is missing the Dataverse security "
                f"role '{READ_ROLES[0]}': a Dataverse admin assigns {roles} in the Power "
                "Platform admin center."
            )
        return PermissionDeniedError(
            f"{message} Dataverse refused {what}.",
            status=exc.status,
            error_code=exc.error_code if exc.error_code == "0x80040220" else None,
            request_id=exc.request_id,
        )

    # --- discovery ------------------------------------------------------------------------
    def _sets(self) -> list[str]:
        if self._entity_sets is not None:
            return self._entity_sets
        fix = (
            "Set dataverse_url (CI_DATAVERSE_URL) to the Dataverse environment URL, like "
            "'https://contoso.crm.dynamics.com' (Power Platform admin center > Environments)."
        )
        try:
            body = self._session.request_json("GET", "")
        except PermissionDeniedError as exc:
            raise self._privilege_error(exc, "") from None
        except ApiStatusError as exc:
            if exc.status in (None, 200, 400, 404, 405):
                raise ConfigurationError(
                    f"{self.url} is not a Dataverse environment (its Web API root answered "
                    f"{exc.status or 'something that is not JSON'}). {fix}"
                ) from None
            raise
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list):
            raise ConfigurationError(
                f"{self.url} is not a Dataverse environment (no service document). {fix}"
            )
        names = [str(v.get("url") or v.get("name")) for v in values if isinstance(v, dict)]
        sets = sorted(n for n in names if n.startswith(_defaults.DATAVERSE_TABLE_PREFIX))
        if not sets:
            raise NotFoundError(
                f"The Dataverse environment {self.url} has no Customer Insights tables "
                "(msdynci_*): connect Customer Insights - Data to this environment, or set "
                "dataverse_url (CI_DATAVERSE_URL) to the environment it uses (Customer "
                "Insights - Data > Settings > System > About).",
                status=404,
            )
        self._entity_sets = sets
        return sets

    def _info(self, table: str) -> TableInfo:
        if not isinstance(table, str) or not table:
            raise ValueError(f"expected a table name like 'msdynci_customerprofile', got {table!r}")
        v1 = table_for_v1_entity(table)
        if v1 is not None:
            raise ValueError(
                f"{table!r} is a v1 entity name; on Dataverse its rows are in the table "
                f"{v1.logical_name!r}."
            )
        if table in TABLES:
            return TABLES[table]
        for info in TABLES.values():
            if table == info.entity_set:
                return info
        if not _NAME.match(table):
            raise ValueError(
                f"{table!r} is not a Dataverse table name: they are lower-case logical names "
                "like 'msdynci_customerprofile'; ci.dataverse.tables() lists them."
            )
        with self._lock:
            if table in self._meta:
                return self._meta[table].info
        body = self._get(
            f"EntityDefinitions(LogicalName='{table}')",
            {"$select": "LogicalName,EntitySetName,PrimaryIdAttribute"},
            table=table,
        )
        return TableInfo(
            table,
            str(body.get("EntitySetName") or f"{table}s"),
            str(body.get("PrimaryIdAttribute") or f"{table}id"),
            None,
            "a Dataverse table",
        )

    def _metadata(self, table: str) -> _Meta:
        info = self._info(table)
        with self._lock:
            if info.logical_name in self._meta and self._meta[info.logical_name].types:
                return self._meta[info.logical_name]
        body = self._get(
            f"EntityDefinitions(LogicalName='{info.logical_name}')/Attributes",
            {"$select": "LogicalName,SchemaName,AttributeType,AttributeTypeName"},
            table=info.logical_name,
        )
        meta = _Meta(info)
        for attr in (body or {}).get("value") or []:
            name = str(attr.get("LogicalName") or "")
            kind = str(attr.get("AttributeType") or "String")
            if not name or kind in _SKIP_TYPES or name in ("owneridname", "owneridyominame"):
                continue
            prop = f"_{name}_value" if kind in _LOOKUP_TYPES else name
            meta.types[prop] = kind
            meta.types.setdefault(name, kind)
            if attr.get("SchemaName"):
                meta.schema[prop] = str(attr["SchemaName"])
            meta.columns.append(prop)
        if info.logical_name == "msdynci_customerprofile":
            meta.v1_case = {n.lower(): n for n in COMMON_ATTRIBUTES}
        if info.v1_entity and self.v1_attributes is not None:
            try:
                names = self.v1_attributes(info.v1_entity)
                meta.v1_case.update({n.lower(): n for n in names})
            except Exception as exc:  # the v1 path failing never fails a Dataverse read
                logger.debug("No v1 attribute names for %s (%s)", info.v1_entity, exc)
        with self._lock:
            self._meta[info.logical_name] = meta
        return meta

    def tables(self) -> pd.DataFrame:
        """The Customer Insights tables of this environment.

        Returns
        -------
        pandas.DataFrame
            ``table`` (logical name), ``entity_set``, ``primary_id``, ``v1_entity``,
            ``holds``; one row per ``msdynci_*`` entity set the service document lists.

        Raises
        ------
        ConfigurationError
            The URL is not a Dataverse environment.
        NotFoundError
            The environment has no Customer Insights tables.

        Examples
        --------
        >>> ci.dataverse.tables()[["table", "v1_entity"]]  # doctest: +SKIP
        """
        from ci_toolkit import frames

        by_set = {t.entity_set: t for t in TABLES.values()}
        rows = []
        for name in self._sets():
            info = by_set.get(name)
            if info is None:
                logical = name[:-1] if name.endswith("s") else name
                info = TableInfo(logical, name, f"{logical}id", None, "")
            rows.append(
                {
                    "table": info.logical_name,
                    "entity_set": info.entity_set,
                    "primary_id": info.primary_id,
                    "v1_entity": info.v1_entity,
                    "holds": info.holds,
                }
            )
        frame = frames.records_frame(
            rows,
            [(c, c, "str") for c in ("table", "entity_set", "primary_id", "v1_entity", "holds")],
        )
        frame.attrs["source"] = "dataverse"
        return frame

    def columns(self, table: str) -> pd.DataFrame:
        """The columns of a table, typed from Dataverse metadata.

        Parameters
        ----------
        table : str
            Logical name (``msdynci_unifiedactivity``) or entity set name.

        Returns
        -------
        pandas.DataFrame
            ``column`` (the property in rows, ``_x_value`` for lookups), ``type``
            (``AttributeType``), ``dtype`` (of the DataFrame column), ``v1_name``.

        Examples
        --------
        >>> ci.dataverse.columns("msdynci_customerprofile")  # doctest: +SKIP
        """
        from ci_toolkit import frames

        meta = self._metadata(table)
        rows = [
            {
                "column": c,
                "type": meta.types[c],
                "dtype": str(frames.convert([], frames.cdm_kind(meta.kinds()[c])).dtype),
                "v1_name": meta.v1(c),
            }
            for c in meta.columns
        ]
        frame = frames.records_frame(
            rows, [(c, c, "str") for c in ("column", "type", "dtype", "v1_name")]
        )
        frame.attrs["source"] = "dataverse"
        return frame

    def column_map(self, table: str) -> dict[str, str]:
        """Dataverse column -> v1 attribute name, for the columns of ``table``.

        Examples
        --------
        >>> names = ci.dataverse.column_map("msdynci_unifiedactivity")  # doctest: +SKIP
        >>> names["msdynci_activitytime"]  # doctest: +SKIP
        'ActivityTime'
        """
        meta = self._metadata(table)
        return {c: meta.v1(c) for c in meta.columns}

    def whoami(self) -> dict[str, str]:
        """Who Dataverse says is signed in (``WhoAmI``).

        Returns
        -------
        dict[str, str]
            ``UserId``, ``BusinessUnitId``, ``OrganizationId``.

        Examples
        --------
        >>> ci.dataverse.whoami()["UserId"]  # doctest: +SKIP
        """
        body = self._get("WhoAmI()") or {}
        return {
            k: str(body[k]) for k in ("UserId", "BusinessUnitId", "OrganizationId") if k in body
        }

    # --- reads ----------------------------------------------------------------------------
    def iter_pages(
        self,
        table: str,
        *,
        select: str | Sequence[str] | None = None,
        filter: Filter | str | None = None,
        orderby: str | Sequence[str] | None = None,
        top: int | None = None,
        count: bool = False,
        page_size: int = _defaults.DATAVERSE_MAX_PAGE_SIZE,
        names: Names = "dataverse",
        next_link: str | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Read a table page by page (one typed DataFrame per service page).

        Pages are asked for with ``Prefer: odata.maxpagesize`` and followed through
        ``@odata.nextLink`` unchanged (Dataverse has no ``$skip``).

        Parameters
        ----------
        table, select, filter, orderby, top, count, page_size, names
            As for :meth:`query`.
        next_link : str, optional
            Continue an earlier read from this ``@odata.nextLink``.

        Yields
        ------
        pandas.DataFrame
            One page, with the read's columns and dtypes (also when empty);
            ``.attrs["odata"]`` holds the context, the count and ``next_link``.

        Examples
        --------
        >>> for page in ci.dataverse.iter_pages("msdynci_unifiedactivity"):  # doctest: +SKIP
        ...     print(len(page))
        """
        from ci_toolkit import frames

        meta = self._metadata(table)
        selected = _check_names(select, "select", meta)
        order = _check_orderby(orderby)
        check_int(top, "top", 0)
        check_int(page_size, "page_size", 1, _defaults.DATAVERSE_MAX_PAGE_SIZE)
        if names not in ("dataverse", "v1"):
            raise ValueError(f"names must be 'dataverse' or 'v1', not {names!r}")
        params: dict[str, Any] = {}
        filter_text = dataverse_filter(filter, meta.types)
        if filter_text:
            params["$filter"] = filter_text
        if selected:
            params["$select"] = ",".join(selected)
        if order:
            params["$orderby"] = order
        if top is not None:
            params["$top"] = top
        if count:
            params["$count"] = "true"
        preferences = []
        if top is None:  # $top is ignored when odata.maxpagesize is sent
            preferences.append(f"odata.maxpagesize={page_size}")
        if count:
            preferences.append(
                'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,'
                'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'
            )
        header = ",".join(preferences) or None
        expected = selected or list(meta.columns)
        types = meta.kinds()
        url = meta.info.entity_set
        first = next_link is None
        if next_link is not None:
            url = next_link
        seen: set[str] = set()
        fetched = 0
        total: int | None = None
        capped = False
        while True:
            with prefer(header):
                body = self._get(url, params if first else None, table=meta.info.logical_name) or {}
            first = False
            rows = body.get("value") or []
            if top is not None and fetched + len(rows) > top:
                rows = rows[: top - fetched]
            fetched += len(rows)
            if body.get("@odata.count") is not None:
                total = int(body["@odata.count"])
                exceeded = body.get("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded")
                capped = bool(exceeded) if exceeded is not None else (
                    total >= _defaults.DATAVERSE_COUNT_CAP
                )  # fmt: skip
            link = body.get("@odata.nextLink")
            if link and link in seen:  # the Microsoft SDK's guard against a repeating link
                logger.warning("%s: the service repeated a nextLink; stopping", table)
                link = None
            done = not link or (top is not None and fetched >= top)
            frame = frames.entity_frame(rows, types, columns=expected, extra=not selected)
            if names == "v1":
                frame = self._to_v1(frame, meta)
            frame.attrs["source"] = "dataverse"
            frame.attrs["odata"] = {
                "context": body.get("@odata.context"),
                "count": total,
                "count_capped": capped,
                "next_link": None if done else link,
            }
            yield frame
            if done:
                if top is not None and fetched >= top and link:
                    warnings.warn(
                        f"dataverse.query({table!r}) stopped at top={top}; more rows match",
                        stacklevel=3,
                    )
                return
            seen.add(str(link))
            url = str(link)

    def query(
        self,
        table: str,
        *,
        select: str | Sequence[str] | None = None,
        filter: Filter | str | None = None,
        orderby: str | Sequence[str] | None = None,
        top: int | None = None,
        count: bool = False,
        page_size: int = _defaults.DATAVERSE_MAX_PAGE_SIZE,
        names: Names = "dataverse",
        progress: bool = True,
        next_link: str | None = None,
        parallel: bool = True,
        max_concurrency: int | None = None,
        key: str | None = None,
    ) -> pd.DataFrame:
        """Read a Customer Insights table into one DataFrame, following every page.

        Parameters
        ----------
        table : str
            Logical name (``msdynci_customerprofile``) or entity set name
            (``msdynci_customerprofiles``).
        select : str or Sequence[str], optional
            ``$select``: lower-case logical column names (the primary key always comes too).
        filter : Filter or str, optional
            ``$filter``: an ``F`` expression (rendered for Dataverse: GUID and date
            literals, ``in_``, ``contains`` wildcards) or a string sent as written.
        orderby : str or Sequence[str], optional
            ``$orderby``, e.g. ``"msdynci_activitytime desc"``.
        top : int, optional
            ``$top``: at most this many rows (then pages are the service's default size).
        count : bool
            ``$count=true``: the service's count (at most 5,000; ``count_capped`` says when
            it is a floor) lands in ``.attrs["odata"]``.
        page_size : int
            ``Prefer: odata.maxpagesize`` (1..500; 500 is the most these tables return).
        names : {"dataverse", "v1"}
            Column names as Dataverse has them, or the v1 attribute names (bookkeeping
            columns left out, see the README's mapping table).
        progress : bool
            A ``tqdm`` bar while more than one page is read.
        next_link : str, optional
            Continue an earlier read from an ``@odata.nextLink``.
        parallel : bool
            Read key ranges concurrently (see :meth:`iter_batches`) when the read is a whole
            table or filter: no ``orderby``, ``top``, ``count`` or ``next_link``. ``False``:
            one page after another.
        max_concurrency : int, optional
            Most requests in flight of a parallel read (16 by default, at most 52).
        key : str, optional
            The column a parallel read's key ranges are cut on (the primary id by default).

        Returns
        -------
        pandas.DataFrame
            Typed from the table's metadata; ``.attrs["source"] == "dataverse"``.

        Raises
        ------
        ci_toolkit.exceptions.QueryError
            The service rejected the query (unknown column, bad filter).
        ci_toolkit.exceptions.PermissionDeniedError
            The principal lacks the Customer Insights read role (named in the message).

        Examples
        --------
        >>> from ci_toolkit.odata import F
        >>> ci.dataverse.query("msdynci_customerprofile",  # doctest: +SKIP
        ...                    filter=F.contains("msdynci_lastname", "Smith"), top=10)
        """
        import pandas as pd

        if parallel and orderby is None and top is None and not count and next_link is None:
            parallel_result = self._dv_parallel_query(
                table, select=select, filter=filter, names=names, key=key, page_size=page_size,
                max_concurrency=max_concurrency, progress=progress,
            )  # fmt: skip
            if parallel_result is not None:
                return parallel_result
        parts: list[pd.DataFrame] = []
        bar: Any = None
        odata: dict[str, Any] = {}
        try:
            for page in self.iter_pages(
                table, select=select, filter=filter, orderby=orderby, top=top, count=count,
                page_size=page_size, names=names, next_link=next_link,
            ):  # fmt: skip
                parts.append(page)
                odata = dict(page.attrs.get("odata") or {})
                if bar is None and progress and odata.get("next_link"):
                    from tqdm.auto import tqdm

                    bar = tqdm(unit="rows", desc=table, leave=False)
                if bar is not None:
                    bar.update(len(page))
        finally:
            if bar is not None:
                bar.close()
        non_empty = [p for p in parts if len(p)] or parts[:1]
        result = non_empty[0] if len(non_empty) == 1 else pd.concat(non_empty, ignore_index=True)
        odata.pop("next_link", None)
        if odata.get("count_capped"):
            logger.info(
                "%s: the service's count stops at %s; %s rows were read",
                table,
                odata.get("count"),
                len(result),
            )
        result.attrs = {"source": "dataverse", "odata": odata}
        return result

    def _to_v1(self, frame: pd.DataFrame, meta: _Meta) -> pd.DataFrame:
        keep = [c for c in frame.columns if c not in SYSTEM_COLUMNS and c != meta.info.primary_id]
        renamed = frame[keep].rename(columns={c: meta.v1(c) for c in keep})
        renamed.attrs = dict(frame.attrs)
        return renamed

    # --- Customer Insights views ----------------------------------------------------------
    def profiles(
        self, customer_ids: Sequence[str], *, select: Sequence[str] | None = None,
        names: Names = "v1",
    ) -> pd.DataFrame:  # fmt: skip
        """The profiles of the given customer ids (in chunks of ``or`` filters).

        Parameters
        ----------
        customer_ids : Sequence[str]
            ``msdynci_customerid`` values.
        select : Sequence[str], optional
            Logical column names to read (all by default).
        names : {"v1", "dataverse"}
            Column names of the result.

        Returns
        -------
        pandas.DataFrame
            One row per profile found, in the order of ``customer_ids``.

        Examples
        --------
        >>> ci.dataverse.profiles(["ce759201f786d590bf2134bff576c369"])  # doctest: +SKIP
        """
        import pandas as pd

        from ci_toolkit.odata import F, or_

        ids = list(dict.fromkeys(str(i) for i in customer_ids))
        table = "msdynci_customerprofile"
        chunk = _defaults.DATAVERSE_OR_CHUNK
        parts = [
            self.query(
                table, select=select, names="dataverse", progress=False,
                filter=or_(*(F.eq("msdynci_customerid", i) for i in ids[start : start + chunk])),
            )
            for start in range(0, len(ids), chunk)
        ] or [self.query(table, select=select, top=0, progress=False)]  # fmt: skip
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        if len(frame) and "msdynci_customerid" in frame.columns:
            order = {cid: n for n, cid in enumerate(ids)}
            frame = (
                frame.assign(_order=frame["msdynci_customerid"].map(order))
                .sort_values("_order", kind="stable")
                .drop(columns="_order")
                .reset_index(drop=True)
            )
        if names == "v1":
            frame = self._to_v1(frame, self._metadata(table))
        frame.attrs = {"source": "dataverse"}
        return frame

    def _segment_filter(self, name: str) -> str:
        pattern = self.segment_pattern.format(name=name)
        return "contains(msdynci_segments," + "'" + pattern.replace("'", "''") + "')"

    def segment_member_ids(self, name: str) -> list[str]:
        """The customer ids of a segment's members (``msdynci_segmentmembership``).

        The ``contains`` match is confirmed on the JSON list, so ``Seg_1`` does not also
        return the members of ``SegX1`` (``_`` is a wildcard in Dataverse's ``contains``).

        Examples
        --------
        >>> ci.dataverse.segment_member_ids("HighValue")[:3]  # doctest: +SKIP
        """
        if not isinstance(name, str) or not name:
            raise ValueError("a segment name is required")
        rows = self.query(
            "msdynci_segmentmembership",
            select=["msdynci_customerid", "msdynci_segments"],
            filter=self._segment_filter(name),
            progress=False,
        )
        ids = [
            str(cid)
            for cid, segs in zip(rows["msdynci_customerid"], rows["msdynci_segments"], strict=True)
            if name in _segment_names(segs)
        ]
        return list(dict.fromkeys(ids))

    def segment_members(
        self,
        name: str,
        *,
        select: Sequence[str] | None = None,
        top: int | None = None,
        names: Names = "v1",
    ) -> pd.DataFrame:
        """The profiles of a segment's members, read through Dataverse.

        Parameters
        ----------
        name : str
            The segment's (output table) name.
        select : Sequence[str], optional
            Logical profile columns to read (``msdynci_customerid`` is always read).
        top : int, optional
            At most this many members (in customer id order).
        names : {"v1", "dataverse"}
            Column names of the result (v1 names by default, as ``ci.segment_members``).

        Returns
        -------
        pandas.DataFrame
            One row per member profile; ``.attrs["source"] == "dataverse"``.

        Examples
        --------
        >>> ci.dataverse.segment_members("HighValue", top=10)  # doctest: +SKIP
        """
        check_int(top, "top", 0)
        ids = sorted(self.segment_member_ids(name))
        if top is not None:
            ids = ids[:top]
        columns = list(select) if select else None
        if columns and "msdynci_customerid" not in columns:
            columns.insert(0, "msdynci_customerid")
        return self.profiles(ids, select=columns, names=names)

    def customer_segments(self, customer_id: str) -> list[str]:
        """The segments a customer is a member of.

        Examples
        --------
        >>> ci.dataverse.customer_segments("ce759201f786d590bf2134bff576c369")  # doctest: +SKIP
        ['HighValue', 'Newsletter']
        """
        from ci_toolkit.odata import F

        if not isinstance(customer_id, str) or not customer_id:
            raise ValueError("customer_id must be a non-empty string")
        rows = self.query(
            "msdynci_segmentmembership",
            select=["msdynci_segments"],
            filter=F.eq("msdynci_customerid", customer_id),
            progress=False,
        )
        names: list[str] = []
        for value in rows["msdynci_segments"]:
            names.extend(_segment_names(value))
        return sorted(dict.fromkeys(names))

    def measures(self, customer_id: str) -> dict[str, Any]:
        """A customer's measure values from ``msdynci_measures`` (name -> value).

        Examples
        --------
        >>> ci.dataverse.measures("ce759201f786d590bf2134bff576c369")  # doctest: +SKIP
        """
        from ci_toolkit.odata import F

        rows = self.query(
            "msdynci_customermeasure",
            select=["msdynci_measures"],
            filter=F.eq("msdynci_customerid", customer_id),
            progress=False,
        )
        values: dict[str, Any] = {}
        for text in rows["msdynci_measures"]:
            values.update(_json_object(text))
        return {name: _typed(value) for name, value in values.items()}

    def activities(self, customer_id: str) -> pd.DataFrame:
        """A customer's unified activities with v1 names, semantic fields as columns.

        Examples
        --------
        >>> ci.dataverse.activities("ce759201f786d590bf2134bff576c369")  # doctest: +SKIP
        """
        import pandas as pd

        from ci_toolkit import frames
        from ci_toolkit.odata import F

        frame = self.query(
            "msdynci_unifiedactivity",
            filter=F.eq("msdynci_customerid", customer_id),
            names="v1",
            progress=False,
        )
        if "SemanticData" in frame.columns and len(frame):
            fields = [_json_object(v) for v in frame["SemanticData"]]
            keys = list(dict.fromkeys(k for f in fields for k in f))
            extra = {
                k: frames.entity_frame([{k: f.get(k)} for f in fields], {}, columns=[k])[k]
                for k in keys
                if k not in frame.columns
            }
            if extra:
                frame = pd.concat([frame.drop(columns="SemanticData"), pd.DataFrame(extra)], axis=1)
            else:
                frame = frame.drop(columns="SemanticData")
        frame.attrs = {"source": "dataverse"}
        return frame


_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def _typed(value: Any) -> Any:
    """A JSON measure value as the v1 frames type it: ISO date-times become UTC timestamps."""
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value.strip()):
        import pandas as pd

        moment = pd.Timestamp(value.strip().replace(" ", "T"))
        return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return value


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    if isinstance(parsed, dict):
        return parsed
    if isinstance(parsed, list):  # [{"name": .., "value": ..}] pairs
        out: dict[str, Any] = {}
        for item in parsed:
            if isinstance(item, dict) and "name" in item:
                out[str(item["name"])] = item.get("value")
        return out
    return {}


def _segment_names(value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return [s.strip().strip('"') for s in value.split(",") if s.strip()]
    if isinstance(parsed, list):
        return [str(s.get("name") if isinstance(s, dict) else s) for s in parsed]
    return [str(parsed)]
