"""The OData data endpoint ``GET /instances/{instanceId}/data/{relativePath}``, and helpers the
data room's route modules share (store lookup, query parameters, error mapping).

Database work runs in a worker thread (``run_in_threadpool``) with that thread's own DuckDB
cursor, so concurrent requests proceed in parallel. A data page that needs none (cut from
rendered rows in memory, :meth:`DataStore.memory_page`) is answered on the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ci_toolkit.emulator.data.jsonrows import reference_json
from ci_toolkit.emulator.data.odata import ODataQueryError
from ci_toolkit.emulator.data.store import DataStore, DefinitionError, NotFoundError, ODataPage
from ci_toolkit.emulator.errors import ApiError
from ci_toolkit.emulator.numbers import parse_digits
from ci_toolkit.emulator.routes import RequestContext, operation
from ci_toolkit.emulator.routes._common import require_instance

__all__ = [
    "bool_param",
    "call_store",
    "documented_membership_form",
    "int_param",
    "page_body",
    "store_of",
]

T = TypeVar("T")


def store_of(ctx: RequestContext) -> DataStore:
    """The DataStore of the instance named in the path."""
    return require_instance(ctx).data


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter (``true``/``false``); 400 for anything else."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in {"true", "false"}:
        raise ApiError(400, "InvalidParameter", f"'{name}' must be true or false, not '{value}'.")
    return value.lower() == "true"


def int_param(request: Request, name: str) -> int | None:
    """A non-negative integer query parameter; 400 for anything else."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    number = parse_digits(value)
    if number is None:
        raise ApiError(
            400, "InvalidParameter", f"'{name}' must be a non-negative integer, not '{value}'."
        )
    return number


async def call_store(
    func: Callable[..., T],
    *args: Any,
    odata: bool = False,
    raise_definition_errors: bool = False,
    **kwargs: Any,
) -> T:
    """Run a DataStore method in a worker thread, mapping its errors to API errors.

    With ``raise_definition_errors`` a :class:`DefinitionError` propagates as is (for the
    operations whose 400 body is a ``ParsingError``).
    """
    try:
        return await run_in_threadpool(func, *args, **kwargs)
    except NotFoundError as exc:
        code = "".join(part.capitalize() for part in exc.kind.split()) + "NotFound"
        raise ApiError(404, code, exc.message, odata=odata, target=exc.name) from None
    except DefinitionError as exc:
        if raise_definition_errors:
            raise
        raise ApiError(400, "InvalidDefinition", exc.message, odata=odata) from None
    except ODataQueryError as exc:
        raise ApiError(400, exc.code, exc.message, odata=True, target=exc.target) from None


_MEMBERSHIP_PARAMETER = re.compile(r"^\s*IsMemberOfSegment\s*\(.*\)\s*$", re.IGNORECASE | re.DOTALL)


def documented_membership_form(options: dict[str, str]) -> dict[str, str]:
    """The query options with a bare ``&IsMemberOfSegment('Name')`` joined to ``$filter``.

    Microsoft's "OData query examples" page writes the segment membership of one customer as
    ``$filter=CustomerId eq '{CID}'&IsMemberOfSegment('{SegmentName}')`` and documents the
    answer: "Returns the customer profile if they're a member of the given segment". The
    ``&`` makes ``IsMemberOfSegment(...)`` a query parameter of its own, without a value; the
    service reads it as a further condition of ``$filter`` (``... and IsMemberOfSegment(...)``),
    and so does the emulator. Any other parameter without ``$`` is left alone (ignored, as
    OData services ignore custom query options).

    Examples
    --------
    >>> documented_membership_form({"$filter": "CustomerId eq '1'", "IsMemberOfSegment('S')": ""})
    {'$filter': "(CustomerId eq '1') and IsMemberOfSegment('S')"}
    """
    extra = [k for k, v in options.items() if not v and _MEMBERSHIP_PARAMETER.match(k)]
    if not extra:
        return options
    out = {k: v for k, v in options.items() if k not in extra}
    conditions = [f"({out['$filter']})"] if out.get("$filter", "").strip() else []
    conditions += [k.strip() for k in extra]
    out["$filter"] = " and ".join(conditions)
    return out


def _next_link(request: Request, token: str) -> str:
    kept = [
        (k, v) for k, v in request.query_params.multi_items() if k not in {"$skip", "$skiptoken"}
    ]
    kept.append(("$skiptoken", token))
    base = str(request.url.replace(query=""))
    query = urlencode(kept, quote_via=quote, safe="$,()'")
    return f"{base}?{query}"


def _context(request: Request, page: ODataPage) -> str:
    url = str(request.url.replace(query=""))
    root = url[: url.rfind("/data/") + len("/data/")]
    suffix = f"({','.join(page.select)})" if page.select else ""
    return f"{root}$metadata#{page.entity}{suffix}"


@operation("Get-entities-with-OData-path")
async def get_entities(request: Request, ctx: RequestContext) -> Response:
    """One page of an entity's rows with ``$filter``, ``$select``, ``$orderby``... applied."""
    store = store_of(ctx)
    path = str(request.path_params.get("relativePath", "")).strip("/")
    if not path or "/" in path or "(" in path:
        raise ApiError(
            404 if path else 400,
            "EntityNotFound" if path else "BadRequest",
            f"'{path}' is not an entity; use /data/<EntityName>, e.g. /data/Customer."
            if path
            else "The request names no entity; use /data/<EntityName>, e.g. /data/Customer.",
            odata=True,
            target=path or None,
        )
    options = documented_membership_form({k: v for k, v in request.query_params.items()})
    try:  # pages cut from memory need no worker thread (handing over costs more)
        page = store.memory_page(path, options)
    except (NotFoundError, ODataQueryError):
        page = None  # odata_page raises it again, mapped to the API error
    if page is None:
        page = await call_store(store.odata_page, path, options, odata=True)
    next_link = None if page.next_token is None else _next_link(request, page.next_token)
    return Response(
        page_body(_context(request, page), page, next_link),
        media_type="application/json",
        headers={"x-ms-request-id": ctx.request_id},
    )


def page_body(context: str, page: ODataPage, next_link: str | None) -> bytes:
    """The response body of one page, with the rows' JSON text spliced in as it is.

    The bytes are those ``JSONResponse`` writes for ``{"@odata.context": ...,
    "@odata.count": ..., "value": [...], "@odata.nextLink": ...}`` (count and link only
    when present), without decoding and re-encoding the rows.

    Examples
    --------
    >>> page = ODataPage("Customer", b'[{"Id":"a"}]', 1, None, None)
    >>> page_body("https://x/$metadata#Customer", page, None)
    b'{"@odata.context":"https://x/$metadata#Customer","@odata.count":1,"value":[{"Id":"a"}]}'
    """
    parts = [b'{"@odata.context":', reference_json(context)]
    if page.count is not None:
        parts += [b',"@odata.count":', reference_json(page.count)]
    parts += [b',"value":', page.value]
    if next_link is not None:
        parts += [b',"@odata.nextLink":', reference_json(next_link)]
    parts.append(b"}")
    return b"".join(parts)
