"""``TokenAuth``: the ``httpx.Auth`` that puts a fresh bearer token on every request.

It asks the credential for a token on each request (served from memory while fresh, so
refreshes happen silently before expiry, also in the middle of a long pull) and, when the
API still answers 401, refreshes once (``force_refresh``; threads that meet the same 401
share one refresh) and re-sends the request. A 401 from the API gateway about the
subscription key is not a token problem and is not retried.

Example
-------
>>> import httpx
>>> class Fixed:
...     def get_token(self, *, force_refresh=False, refused=None):
...         return "t"
>>> client = httpx.Client(auth=TokenAuth(Fixed()))
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Protocol

import httpx

__all__ = ["TokenAuth", "TokenSource"]

logger = logging.getLogger(__name__)


class TokenSource(Protocol):
    """Anything with ``get_token(force_refresh=..., refused=...)``, e.g. a :class:`Credential`."""

    def get_token(self, *, force_refresh: bool = False, refused: str | None = None) -> str:
        """Return an access token (a new one, unless ``refused`` was already replaced)."""
        ...


def _is_subscription_key_rejection(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and "statusCode" in body
        and "subscription key" in str(body.get("message", "")).lower()
    )


class TokenAuth(httpx.Auth):
    """Bearer token auth with one refresh-and-resend on 401.

    Parameters
    ----------
    source
        Where tokens come from.

    Example
    -------
    >>> auth = TokenAuth(credential)  # doctest: +SKIP
    """

    requires_response_body = True

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the token, send, and on a token 401 refresh once and re-send.

        (``auth_flow`` rather than ``sync_auth_flow``: httpx's ``sync_auth_flow`` wraps it and
        reads the 401 body first, as ``requires_response_body`` asks.)
        """
        sent = self.source.get_token()
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code == 401 and not _is_subscription_key_rejection(response):
            logger.debug(
                "401 on %s %s: refreshing the token once", request.method, request.url.path
            )
            # Several threads may meet the same 401: only the first refreshes.
            fresh = self.source.get_token(force_refresh=True, refused=sent)
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request
