"""One page request of a bulk pull, as run in a worker thread.

The worker sends the request on the connection's shared ``httpx.Client`` (thread-safe;
its auth refreshes the token and re-sends once on a 401), decodes the JSON (with orjson)
and converts the rows to typed columns right away, so the raw list
of dicts lives only as long as one page. Throttling and transport failures are not retried
here: they come back as an :class:`Outcome` for the scheduler, which adapts the
concurrency, honours ``Retry-After`` and sends the request again.

Example
-------
>>> import httpx
>>> client = httpx.Client(transport=httpx.MockTransport(
...     lambda r: httpx.Response(429, headers={"Retry-After": "2"})))
>>> fetch_page(client, "https://x/data/T", None, convert=len).retry_after
2.0
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ci_toolkit.exceptions import ApiStatusError
from ci_toolkit.http.errors import error_from_response, is_certificate_failure, retry_after_of

__all__ = ["THROTTLE_STATUSES", "Outcome", "fetch_page", "loads"]

logger = logging.getLogger(__name__)

THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses that mean "later": the request is sent again after a pause."""


def loads(data: bytes) -> Any:
    """Decode JSON bytes with orjson (about twice as fast as the standard library).

    Examples
    --------
    >>> loads(b'{"a": 1}')
    {'a': 1}
    """
    return orjson.loads(data)


@dataclass
class Outcome:
    """What one attempt of a page request gave.

    Attributes
    ----------
    value : Any
        ``convert(rows)`` on success (``None`` otherwise).
    rows : int
        Rows in the page.
    next_link : str or None
        The page's ``@odata.nextLink``.
    count : int or None
        ``@odata.count`` when the page carried it.
    last_key : Any
        The key of the page's last row (when a key was named).
    latency : float
        Seconds the attempt took.
    retry_after : float or None
        Set on a throttle (429/503...): the ``Retry-After`` seconds (0.0 when absent).
    transport_error : BaseException or None
        Set when the connection failed.
    first_key : Any
        The key of the page's first row.
    context : str or None
        The page's ``@odata.context``.
    status : int or None
        The HTTP status of a throttle (429, 502, 503, 504); ``None`` otherwise.

    Examples
    --------
    >>> Outcome(value=None, rows=0).ok
    True
    """

    value: Any
    rows: int
    next_link: str | None = None
    count: int | None = None
    last_key: Any = None
    latency: float = 0.0
    retry_after: float | None = None
    transport_error: BaseException | None = None
    first_key: Any = None
    context: str | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        """True when the page arrived."""
        return self.retry_after is None and self.transport_error is None


def fetch_page(
    client: httpx.Client,
    url: str,
    params: Mapping[str, Any] | None,
    *,
    convert: Callable[[list[dict[str, Any]]], Any],
    key: str | None = None,
    secrets: Sequence[str] = (),
) -> Outcome:
    """Send one page request and convert its rows; throttles and drops become outcomes.

    Parameters
    ----------
    client : httpx.Client
        The connection's client (base URL, credentials, TLS).
    url : str
        A path relative to the base URL, or an ``@odata.nextLink``.
    params : Mapping[str, Any] or None
        Query options (``None`` for a nextLink, which carries them).
    convert : Callable[[list[dict[str, Any]]], Any]
        Turns the page's rows into what the scheduler keeps (typed columns).
    key : str or None
        The key attribute, to report the page's first and last keys.
    secrets : Sequence[str]
        Secret values scrubbed from error messages.

    Returns
    -------
    Outcome
        The converted page, or why it should be sent again.

    Raises
    ------
    ci_toolkit.exceptions.ApiStatusError
        For an error status that a retry cannot fix (400, 403, 404, a 401 after refresh).

    Examples
    --------
    >>> body = {"value": [{"Id": "a"}], "@odata.count": 1}
    >>> client = httpx.Client(transport=httpx.MockTransport(
    ...     lambda r: httpx.Response(200, json=body)))
    >>> out = fetch_page(client, "https://x/data/T", {}, convert=len, key="Id")
    >>> out.value, out.count, out.last_key
    (1, 1, 'a')
    """
    started = time.perf_counter()
    try:
        response = client.get(url, params=params)
    except httpx.TransportError as exc:
        if is_certificate_failure(exc):
            raise
        logger.debug("GET %s failed: %s", httpx.URL(url).path, type(exc).__name__)
        return Outcome(None, 0, latency=time.perf_counter() - started, transport_error=exc)
    latency = time.perf_counter() - started
    if response.status_code in THROTTLE_STATUSES:
        wait = retry_after_of(response)
        logger.debug("GET %s -> %d (Retry-After %s)", response.url.path, response.status_code, wait)
        return Outcome(
            None, 0, latency=latency, retry_after=wait or 0.0, status=response.status_code
        )
    if response.is_error:
        raise error_from_response(response, secrets=secrets)
    try:
        body = loads(response.content)
    except ValueError:
        raise ApiStatusError(
            f"GET {response.url.path}: the answer is not JSON", status=response.status_code
        ) from None
    rows: list[dict[str, Any]] = body.get("value") or []
    count = body.get("@odata.count")
    first = rows[0].get(key) if key and rows else None
    last = rows[-1].get(key) if key and rows else None
    return Outcome(
        value=convert(rows),
        rows=len(rows),
        next_link=body.get("@odata.nextLink"),
        count=None if count is None else int(count),
        last_key=last,
        latency=latency,
        first_key=first,
        context=body.get("@odata.context"),
    )
