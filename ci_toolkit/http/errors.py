"""An error response -> the exception of its status, from the contract's three error shapes.

``ApiErrorResult`` (``errorCode``, ``message``, ``httpStatusCode``), ``ODataError``
(``errorCode``, ``message``, ``target``) and the gateway's ``{"statusCode", "message"}``.

Example
-------
>>> import httpx
>>> r = httpx.Response(404, json={"errorCode": "NotFound", "message": "No such segment"},
...                    request=httpx.Request("GET", "https://x/v1/s"))
>>> str(error_from_response(r))
'GET /v1/s: No such segment (status 404, code NotFound)'
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable
from typing import Any

import httpx

from ci_toolkit import _defaults
from ci_toolkit.exceptions import (
    ApiStatusError,
    AuthenticationError,
    QueryError,
    ThrottledError,
    exception_class_for_status,
)

__all__ = [
    "error_from_response",
    "request_id_of",
    "retry_after_of",
]


def request_id_of(response: httpx.Response) -> str | None:
    """The service's request id (``x-ms-request-id`` or a correlation id header).

    Example
    -------
    >>> request_id_of(httpx.Response(200, headers={"x-ms-request-id": "abc"}))
    'abc'
    """
    for name in _defaults.REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None


def retry_after_of(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), else ``None``.

    Example
    -------
    >>> retry_after_of(httpx.Response(429, headers={"Retry-After": "3"}))
    3.0
    """
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_from_response(
    response: httpx.Response, *, secrets: Iterable[str | None] = ()
) -> ApiStatusError:
    """The exception for an error response, carrying status, code, message and request id.

    Parameters
    ----------
    response
        A response with status >= 400 (its body read).
    secrets
        Secret values to scrub from the message.

    Returns
    -------
    ApiStatusError
        The mapped subclass; ``QueryError`` for a 400 ``ODataError`` on a data path.

    Example
    -------
    >>> r = httpx.Response(429, headers={"Retry-After": "2"},
    ...                    json={"statusCode": 429, "message": "Rate limit is exceeded."},
    ...                    request=httpx.Request("GET", "https://x/v1/instances"))
    >>> error_from_response(r).retry_after
    2.0
    """
    status = response.status_code
    body = _body(response)
    error_code: str | None = None
    target: str | None = None
    message = ""
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        assert isinstance(inner, dict)
        error_code = inner.get("errorCode") or inner.get("code")
        message = str(inner.get("message") or "")
        target = inner.get("target")
    elif response.text:
        message = response.text[:500]
    if not message:
        message = response.reason_phrase or f"HTTP {status}"
    request = response.request
    where = f"{request.method} {request.url.path}"
    cls = exception_class_for_status(status)
    request_id = request_id_of(response)
    full = f"{where}: {message}"
    if cls is AuthenticationError:
        full += (
            " Check the subscription key (CI_SUBSCRIPTION_KEY)."
            if "subscription key" in message.lower()
            else " The access token was refused; sign in again with connect()."
        )
    is_odata = isinstance(body, dict) and "httpStatusCode" not in body and "statusCode" not in body
    if status == 400 and (target is not None or (is_odata and "/data/" in request.url.path)):
        return QueryError(
            full,
            target=target,
            status=status,
            error_code=error_code,
            request_id=request_id,
            secrets=secrets,
        )
    if cls is ThrottledError:
        return ThrottledError(
            full,
            retry_after=retry_after_of(response),
            status=status,
            error_code=error_code,
            request_id=request_id,
            secrets=secrets,
        )
    return cls(full, status=status, error_code=error_code, request_id=request_id, secrets=secrets)
