"""``ApiSession``: the one object the resource modules use to talk to the API.

(Seam: a minimal working version; the HTTP/auth part of the client fleshes it out
with retries, the exception hierarchy and MSAL auth, keeping this interface.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["ApiSession"]


class ApiSession:
    """One ``httpx.Client`` for a connection: base URL, both credentials, timeouts, retries.

    Parameters
    ----------
    client
        A configured ``httpx.Client`` whose ``base_url`` ends with ``/v1/``.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api.ci.ai.dynamics.com/v1/``."""
        return str(self._client.base_url)

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
    ) -> Any:
        """Send a request and return the decoded JSON body (``None`` when empty).

        ``path`` is relative to the base URL (``instances/{id}/manage/segments``) or an
        absolute URL (an ``@odata.nextLink``). ``retry`` defaults to True for GET, PUT and
        DELETE and False for POST and PATCH (not safe to repeat blindly).
        """
        response = self._client.request(method, path, params=params, json=json)
        response.raise_for_status()
        return response.json() if response.content else None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
