"""Helpers of the Dataverse Web API tests (importable by other test folders too).

- :func:`dataverse_client`: httpx on an emulator's Web API with an org-audience token;
- :func:`follow`: every row of a query, following ``@odata.nextLink`` unchanged;
- :func:`assert_error`: Dataverse's error body with an expected status and code.
"""

from __future__ import annotations

from typing import Any

import httpx

from ci_toolkit.emulator import Emulator

ROOT = "/api/data/v9.2/"


def dataverse_client(emu: Emulator, *, role: str = "viewer", **headers: str) -> httpx.Client:
    """An httpx client on ``emu``'s Web API with a token whose audience is the org URL."""
    s = emu.settings
    token = emu.mint_token(role, audience=s.dataverse_url, lifetime=3600)
    return httpx.Client(
        base_url=s.dataverse_url + ROOT,
        verify=s.ssl_context(),
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json", **headers},
    )


def follow(
    client: httpx.Client, url: str, *, page_size: int | None = None, **params: Any
) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Every row of a query, following ``@odata.nextLink`` unchanged; the rows and responses."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    rows: list[dict[str, Any]] = []
    responses = []
    next_url: str | None = url
    first = True
    while next_url:
        response = client.get(next_url, params=params if first else None, headers=headers)
        assert response.status_code == 200, response.text
        first = False
        responses.append(response)
        body = response.json()
        rows += body["value"]
        next_url = body.get("@odata.nextLink")
    return rows, responses


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check Dataverse's error shape; the ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error
