"""The Dataverse Web API under ``/api/data/v9.2/``: requests, checks and answers.

A request passes, in this order: the injected faults (the same
:class:`~ci_toolkit.emulator.gateway.FaultInjector` as ``/v1``, with Dataverse's error
bodies), the bearer token (audience: the org URL, i.e. the emulator's origin; 401 with
``WWW-Authenticate`` otherwise), the service protection limits (429 with ``Retry-After``),
the added latency (inside the limits: it stands for the service's own time), then the
resource: the service document, ``$metadata``, ``WhoAmI``, ``EntityDefinitions``
or a Customer Insights table (which needs the read roles: 403 ``0x80040220`` otherwise).
Writes to the ``msdynci_`` tables are refused with the privilege error: Customer Insights'
roles grant read only, and Microsoft says to use GET only.

Example
-------
>>> service = DataverseService(state, faults, issuer=gateway.expected_issuer)  # doctest: +SKIP
>>> Mount(DATAVERSE_ROOT, app=service)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ci_toolkit.emulator.data.jsonrows import reference_json
from ci_toolkit.emulator.dataverse import metadata, query
from ci_toolkit.emulator.dataverse.errors import (
    GENERIC,
    OBJECT_DOES_NOT_EXIST,
    PRIVILEGE_DENIED,
    REQUEST_LIMIT,
    RESOURCE_NOT_FOUND,
    DataverseError,
    error_response,
)
from ci_toolkit.emulator.dataverse.guids import GUID_ORDERS, GuidOrder, table_guid
from ci_toolkit.emulator.dataverse.limits import ServiceProtection, ServiceProtectionLimits
from ci_toolkit.emulator.dataverse.tables import (
    TABLES,
    Column,
    Table,
    by_entity_set,
    columns_of,
    materialize,
    source_signature,
)
from ci_toolkit.emulator.gateway import FaultInjector, _drop_connection, request_id_of
from ci_toolkit.emulator.identity import Principal
from ci_toolkit.emulator.state import EmulatorState
from ci_toolkit.emulator.tokens import TokenError

__all__ = [
    "BASIC_USER_ROLE",
    "CONFIGURATION_VIEWER_ROLE",
    "DATAVERSE_ROOT",
    "DATAVERSE_ROOTS",
    "READ_ROLE",
    "READ_ROLES",
    "DataverseService",
]

logger = logging.getLogger(__name__)

#: Where the Web API is served, relative to the org URL.
DATAVERSE_ROOT = "/api/data/v9.2"
#: Older versions in the URL keep working, as on the real service (same answers).
DATAVERSE_ROOTS = ("/api/data/v9.0", "/api/data/v9.1", DATAVERSE_ROOT)
#: The security roles Customer Insights data needs (both), and their role ids.
READ_ROLE = "Customer Insights Data Read Access"
CONFIGURATION_VIEWER_ROLE = "Customer Insights Data Configuration Viewer"
BASIC_USER_ROLE = "Basic User"
READ_ROLES = (READ_ROLE, CONFIGURATION_VIEWER_ROLE)
ROLE_IDS = {
    READ_ROLE: "ff6139ec-3fd2-42a5-8b79-a7f401600d40",
    CONFIGURATION_VIEWER_ROLE: table_guid("role", CONFIGURATION_VIEWER_ROLE),
    BASIC_USER_ROLE: table_guid("role", BASIC_USER_ROLE),
}
#: Customer Insights role -> the Dataverse roles it comes with (CI's user-roles doc).
_CI_ROLE_TO_DATAVERSE = {
    "viewer": (BASIC_USER_ROLE, *READ_ROLES),
    "contributor": (BASIC_USER_ROLE, *READ_ROLES, "Customizer", "Environment Maker"),
    "admin": (BASIC_USER_ROLE, *READ_ROLES, "Customizer", "Environment Maker",
              "System Administrator"),
}  # fmt: skip
_JSON = "application/json; odata.metadata=minimal"
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(\{?([0-9A-Fa-f-]{36})\}?\)$")
_METADATA_KEY = re.compile(
    r"^EntityDefinitions\((?:LogicalName='([^']*)'|\{?([0-9A-Fa-f-]{36})\}?)\)$"
)
_CAST = re.compile(r"^Microsoft\.Dynamics\.CRM\.\w+AttributeMetadata$")
_WRITE_PRIVILEGE = {
    "POST": "prvCreate",
    "PATCH": "prvWrite",
    "PUT": "prvWrite",
    "DELETE": "prvDelete",
}


def _header(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name]


class DataverseService:
    """The emulated Dataverse org of one run (an ASGI app, mounted at :data:`DATAVERSE_ROOT`).

    Parameters
    ----------
    state
        The emulated world; the org serves its production instance's data.
    faults
        The fault injector shared with ``/v1`` (latency, injected faults).
    issuer
        The token issuer for a request (the one ``/v1``'s gateway expects).
    limits
        The service protection limits; Dataverse's defaults when ``None``.
    guid_order
        How GUID columns order: ``sqlserver`` (default) or ``lexicographic``.
    """

    def __init__(
        self,
        state: EmulatorState,
        faults: FaultInjector,
        *,
        issuer: Callable[[Scope], str],
        limits: ServiceProtectionLimits | None = None,
        guid_order: GuidOrder = "sqlserver",
    ) -> None:
        self.state = state
        self.faults = faults
        self.issuer = issuer
        self.protection = ServiceProtection(limits)
        self.guid_order: GuidOrder = guid_order
        #: principal object id -> Dataverse security roles, overriding the derived ones.
        self._roles: dict[str, frozenset[str]] = {}
        #: logical name -> (what it was built from, DuckDB table) of the built tables.
        self._built: dict[str, tuple[tuple[Any, ...], str]] = {}
        self._build_lock = threading.Lock()
        self._build_locks: dict[str, threading.Lock] = {}

    @classmethod
    def from_config(
        cls, state: EmulatorState, faults: FaultInjector, *, issuer: Callable[[Scope], str]
    ) -> DataverseService:
        """The service with the limits and GUID order of ``state.config``."""
        config = state.config
        order = config.dataverse_guid_order
        if order not in GUID_ORDERS:
            raise ValueError(f"dataverse_guid_order must be one of {', '.join(GUID_ORDERS)}")
        limits = ServiceProtectionLimits(
            requests=config.dataverse_rate_limit,
            window_seconds=config.dataverse_window,
            execution_ms=config.dataverse_execution_ms,
            concurrent=config.dataverse_concurrency,
        )
        return cls(state, faults, issuer=issuer, limits=limits, guid_order=order)

    # -- who holds what ----------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        """The Customer Insights instance whose tables this org holds (the production demo)."""
        return self.state.default_instance_id

    def security_roles(self, principal: Principal) -> frozenset[str]:
        """The Dataverse security roles ``principal`` holds.

        Unless set with :meth:`set_security_roles`, they follow the principal's Customer
        Insights role on the instance (Viewer = Basic User + Data Read Access + Configuration
        Viewer, ...); a principal without a role there holds none.
        """
        if principal.object_id in self._roles:
            return self._roles[principal.object_id]
        instance = self.state.instances[self.instance_id]
        role = instance.role_assignments.get(principal.object_id)
        return frozenset(_CI_ROLE_TO_DATAVERSE.get(role or "", ()))

    def set_security_roles(self, who: str, roles: Iterable[str] | None) -> None:
        """Give a principal exactly ``roles`` (``None``: back to the derived roles).

        Parameters
        ----------
        who
            A demo role (``admin``, ``contributor``, ``viewer``), ``app``, or an object id.
        roles
            Role names, e.g. ``[BASIC_USER_ROLE]`` for a user without the read roles.
        """
        directory = self.state.directory
        if who == "app":
            oid = directory.app_principal.object_id
        elif who in {u.role for u in directory.users}:
            oid = directory.user_for_role(who).object_id
        else:
            oid = who
        if roles is None:
            self._roles.pop(oid, None)
        else:
            self._roles[oid] = frozenset(roles)

    def _relation(self, table: Table, order: GuidOrder) -> str:
        """The DuckDB table holding ``table``'s rows, built (again) when its sources changed."""
        store = self.state.instances[self.instance_id].data
        cursor = store.cursor()
        signature = (order, *source_signature(cursor, table, store))
        with self._build_lock:
            lock = self._build_locks.setdefault(table.logical, threading.Lock())
        with lock:  # one build per table at a time; other tables are served meanwhile
            built = self._built.get(table.logical)
            if built is None or built[0] != signature:
                started = time.perf_counter()
                name = materialize(cursor, table, store, order=order)
                self._built[table.logical] = (signature, name)
                logger.info(
                    "Dataverse table %s built in %.2f s",
                    table.logical,
                    time.perf_counter() - started,
                )
            return self._built[table.logical][1]

    def system_user_id(self, principal: Principal) -> str:
        """The ``systemuserid`` of a principal in this org (``WhoAmI``'s ``UserId``)."""
        return table_guid("systemuser", principal.object_id)

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        rid = request_id_of(scope)
        settings = self.faults.settings
        fault = self.faults.draw_fault()
        if fault == "drop":
            await _drop_connection(scope, receive, send)
            return
        if fault == "slow":
            await asyncio.sleep(settings.slow_seconds)
        started = time.perf_counter()
        user: str | None = None
        try:
            if fault == "throttle":
                limits = self.protection.limits
                raise DataverseError(
                    429,
                    REQUEST_LIMIT,
                    f"Number of requests exceeded the limit of {limits.requests} over time "
                    f"window of {limits.window_seconds:g} seconds.",
                    headers={"Retry-After": str(settings.retry_after)},
                )
            if fault == "unavailable":
                raise DataverseError(
                    503,
                    GENERIC,
                    "The service is temporarily unavailable. Try again later.",
                    headers={"Retry-After": str(settings.retry_after)},
                )
            request = Request(scope, receive)
            principal = self._authenticate(scope, request)
            throttled = self.protection.admit(principal.object_id, now=time.monotonic())
            if throttled is not None:
                raise throttled
            user = principal.object_id
            if settings.latency_ms > 0:  # the service's own time: it counts as execution time
                await asyncio.sleep(settings.latency_ms / 1000)
            response = await self._route(request, principal, rid)
        except DataverseError as exc:
            response = exc.response(rid)
        except Exception:
            logger.exception(
                "Dataverse request %s %s failed (%s)", scope["method"], scope["path"], rid
            )
            response = error_response(
                500, GENERIC, f"The emulator failed on this request. Request id: {rid}.", rid
            )
        finally:
            if user is not None:
                elapsed = (time.perf_counter() - started) * 1000
                self.protection.finish(user, elapsed_ms=elapsed, now=time.monotonic())
        response.headers.setdefault("OData-Version", "4.0")
        response.headers.setdefault("x-ms-service-request-id", rid)
        await response(scope, receive, send)

    def org_url(self, scope: Scope) -> str:
        """The org URL clients use: the emulator's origin, ``https://127.0.0.1:<port>``."""
        if self.state.public_url is not None:
            return self.state.public_url
        host = (_header(scope, b"host") or ["127.0.0.1"])[0]
        return f"{scope.get('scheme', 'https')}://{host}"

    def _authenticate(self, scope: Scope, request: Request) -> Principal:
        org = self.org_url(scope)
        challenge = (
            f"Bearer authorization_uri={org}/{self.state.directory.tenant_id}/oauth2/authorize, "
            f"resource_id={org}/"
        )
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise DataverseError(
                401, "", "The request has no bearer token.", headers={"WWW-Authenticate": challenge}
            )
        try:
            return self.state.tokens.validate_access_token(
                token.strip(), issuer=self.issuer(scope), audiences=(org, f"{org}/")
            )
        except TokenError as exc:
            raise DataverseError(
                401,
                "0x80072560",
                f"The user is not a member of the organization or the token is not valid: "
                f"{exc.description}",
                headers={
                    "WWW-Authenticate": f'{challenge}, error="invalid_token", '
                    f'error_description="{exc.description}"'
                },
            ) from None

    # -- routing -----------------------------------------------------------------------------

    def _path(self, scope: Scope) -> str:
        path = str(scope["path"])
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        return path.strip("/")

    async def _route(self, request: Request, principal: Principal, rid: str) -> Response:
        path = self._path(request.scope)
        method = request.method
        segments = path.split("/") if path else []
        first = segments[0] if segments else ""
        table = by_entity_set(_KEY.sub(r"\1", first)) if first else None
        if table is not None and method in _WRITE_PRIVILEGE:
            raise self._privilege_error(principal, table, _WRITE_PRIVILEGE[method])
        if method != "GET":
            raise DataverseError(
                404 if first in {"WhoAmI", "WhoAmI()"} or not first else 405,
                "",
                "No HTTP resource was found that matches the request URI "
                f"'{self._root(request)}{path}'.",
            )
        if not path:
            return self._service_document(request)
        if path == "$metadata":
            return Response(
                self._csdl(), media_type="application/xml", headers={"OData-Version": "4.0"}
            )
        if path in {"WhoAmI", "WhoAmI()"}:
            return self._whoami(request, principal)
        if first.startswith("RetrieveTotalRecordCount(") and len(segments) == 1:
            return await self._total_record_count(request, principal, first)
        if first == "EntityDefinitions" or first.startswith("EntityDefinitions("):
            return self._entity_definitions(request, segments)
        if table is not None and len(segments) <= 2:
            self._check_read(principal, table)
            return await self._table(request, table, segments)
        raise DataverseError(
            404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{first}'."
        )

    # -- resources ---------------------------------------------------------------------------

    def _root(self, request: Request) -> str:
        root = str(request.scope.get("root_path") or DATAVERSE_ROOT)
        return f"{self.org_url(request.scope)}{root}/"

    def _json(self, body: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(orjson.dumps(body), media_type=_JSON, headers=headers)

    def _service_document(self, request: Request) -> Response:
        sets = [
            {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
            for t in TABLES.values()
        ]
        sets.append({"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"})
        return self._json({"@odata.context": f"{self._root(request)}$metadata", "value": sets})

    def _columns(self) -> dict[Table, list[Column]]:
        store = self.state.instances[self.instance_id].data
        return {t: columns_of(t, store) for t in TABLES.values()}

    def _csdl(self) -> str:
        return metadata.csdl(self._columns())

    def _whoami(self, request: Request, principal: Principal) -> Response:
        return self._json(
            {
                "@odata.context": (
                    f"{self._root(request)}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
                ),
                "BusinessUnitId": table_guid("businessunit", self.instance_id),
                "UserId": self.system_user_id(principal),
                "OrganizationId": table_guid("organization", self.instance_id),
            }
        )

    def _entity_definitions(self, request: Request, segments: list[str]) -> Response:
        params = request.query_params
        for name in params:
            if name in query.UNSUPPORTED_OPTIONS:
                raise DataverseError(400, GENERIC, f"The query parameter {name} is not supported")
        root = self._root(request)
        if segments == ["EntityDefinitions"]:
            items = [metadata.entity_definition(t) for t in TABLES.values()]
            items = metadata.filter_metadata(items, params.get("$filter"))  # type: ignore[assignment]
            value = metadata.select_metadata(items, params.get("$select"))
            return self._json(
                {"@odata.context": f"{root}$metadata#EntityDefinitions", "value": value}
            )
        found = _METADATA_KEY.match(segments[0])
        table = None
        if found is not None:
            logical, metadata_id = found.groups()
            for candidate in TABLES.values():
                if candidate.logical == logical or (
                    metadata_id is not None and candidate.metadata_id == metadata_id.lower()
                ):
                    table = candidate
        if table is None:
            raise DataverseError(
                404,
                OBJECT_DOES_NOT_EXIST,
                "Could not find an entity with the key "
                f"{segments[0].removeprefix('EntityDefinitions')}.",
            )
        if len(segments) == 1:
            item = metadata.select_metadata(
                [metadata.entity_definition(table)], params.get("$select")
            )[0]
            return self._json(
                {"@odata.context": f"{root}$metadata#EntityDefinitions/$entity", **item}
            )
        cast = segments[2] if len(segments) == 3 else None
        if (
            segments[1] == "Attributes"
            and len(segments) <= 3
            and (cast is None or _CAST.match(cast))
        ):
            store = self.state.instances[self.instance_id].data
            attributes = [metadata.attribute_definition(table, c) for c in columns_of(table, store)]
            if cast is not None:  # e.g. Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata
                attributes = [a for a in attributes if a["@odata.type"] == f"#{cast}"]
            attributes = metadata.filter_metadata(attributes, params.get("$filter"))  # type: ignore[assignment]
            value = metadata.select_metadata(attributes, params.get("$select"))
            context = f"{root}$metadata#EntityDefinitions('{table.metadata_id}')/Attributes"
            return self._json({"@odata.context": context, "value": value})
        raise DataverseError(
            404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{segments[1]}'."
        )

    async def _total_record_count(
        self, request: Request, principal: Principal, call: str
    ) -> Response:
        """``RetrieveTotalRecordCount(EntityNames=[...])``: row counts beyond the ``$count`` cap.

        The argument may be inline (``EntityNames=['a','b']``) or an alias
        (``EntityNames=@p1`` with ``@p1=[...]``). The counts are current (the service's are
        a snapshot up to 24 hours old).
        """
        found = re.fullmatch(r"RetrieveTotalRecordCount\(EntityNames=(.*)\)", call)
        argument = found.group(1) if found else ""
        if argument.startswith("@"):
            argument = request.query_params.get(argument, "")
        names = re.findall(r"""['"]([^'"]*)['"]""", argument)
        if not found or not names:
            raise DataverseError(
                400,
                GENERIC,
                "RetrieveTotalRecordCount needs EntityNames, e.g. "
                "RetrieveTotalRecordCount(EntityNames=['msdynci_customerprofile']).",
            )
        tables = []
        for name in names:
            table = TABLES.get(name)
            if table is None:
                raise DataverseError(
                    404, OBJECT_DOES_NOT_EXIST, f"Could not find an entity with the name {name}."
                )
            self._check_read(principal, table)
            tables.append(table)
        store = self.state.instances[self.instance_id].data
        order = self.guid_order

        def count() -> list[int]:
            cursor = store.cursor()
            return [
                int(
                    cursor.execute(f"SELECT count(*) FROM {self._relation(t, order)}").fetchall()[
                        0
                    ][0]
                )
                for t in tables
            ]

        values = await run_in_threadpool(count)
        return self._json(
            {
                "@odata.context": f"{self._root(request)}$metadata#"
                "Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse",
                "EntityRecordCountCollection": {
                    "Count": len(names),
                    "IsReadOnly": False,
                    "Keys": names,
                    "Values": values,
                },
            }
        )

    def _check_read(self, principal: Principal, table: Table) -> None:
        if not set(READ_ROLES) <= self.security_roles(principal):
            raise self._privilege_error(principal, table, "prvRead")

    def _privilege_error(
        self, principal: Principal, table: Table, privilege: str
    ) -> DataverseError:
        roles = self.security_roles(principal)
        user = self.system_user_id(principal)
        name = f"{privilege}{table.logical}"
        return DataverseError(
            403,
            PRIVILEGE_DENIED,
            f"Principal user (Id={user}, type=8, roleCount={len(roles)}, "
            f"privilegeCount={len(roles) * 100}, accessMode=0), is missing {name} privilege "
            f"(Id={table_guid('privilege', name)}) on OTC={table.object_type_code} for entity "
            f"'{table.logical}'. context.Caller={user}",
        )

    async def _table(self, request: Request, table: Table, segments: list[str]) -> Response:
        prefs = query.parse_prefer(request.headers.getlist("prefer"))
        options = dict(request.query_params)
        key_match = _KEY.match(segments[0])
        key = key_match.group(2).lower() if key_match else None
        count_only = len(segments) == 2 and segments[1] == "$count"
        if len(segments) == 2 and not count_only:
            raise DataverseError(
                404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{segments[1]}'."
            )
        if count_only:
            options["$count"] = "true"
            options.pop("$select", None)
        if key is not None:
            options.pop("$skiptoken", None)
        store = self.state.instances[self.instance_id].data
        order = self.guid_order

        def run() -> query.Page:
            columns = columns_of(table, store)
            relation = self._relation(table, order)
            return query.query_table(
                store.cursor(), table, relation, columns, options, prefs, order=order, key=key
            )

        page = await run_in_threadpool(run)
        headers = {"Preference-Applied": ",".join(prefs.applied)} if prefs.applied else {}
        if count_only:
            return Response(str(page.count), media_type="text/plain", headers=headers)
        root = self._root(request)
        suffix = f"({','.join(page.select)})" if page.select else ""
        if key is not None:
            rows = orjson.loads(page.value)
            if not rows:
                raise DataverseError(
                    404, OBJECT_DOES_NOT_EXIST, f"{table.logical} With Id = {key} Does Not Exist"
                )
            context = f"{root}$metadata#{table.entity_set}{suffix}/$entity"
            return self._json({"@odata.context": context, **rows[0]}, headers)
        parts = [
            b'{"@odata.context":',
            reference_json(f"{root}$metadata#{table.entity_set}{suffix}"),
        ]
        if page.count is not None:
            parts += [b',"@odata.count":', str(page.count).encode()]
            if prefs.wants("Microsoft.Dynamics.CRM.totalrecordcount"):
                parts += [b',"@Microsoft.Dynamics.CRM.totalrecordcount":', str(page.count).encode()]
            if prefs.wants("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
                flag = b"true" if page.count_exceeded else b"false"
                parts += [b',"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded":', flag]
        parts += [b',"value":', page.value]
        if page.skiptoken is not None:
            parts += [
                b',"@odata.nextLink":',
                reference_json(self._next_link(request, page.skiptoken)),
            ]
        parts.append(b"}")
        return Response(b"".join(parts), media_type=_JSON, headers=headers)

    def _next_link(self, request: Request, token: str) -> str:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "$skiptoken"]
        kept.append(("$skiptoken", token))
        path = self._path(request.scope)
        return f"{self._root(request)}{path}?{urlencode(kept, quote_via=quote, safe='$,()')}"
