"""Tokens for the Dataverse org from the emulated Azure AD, with real MSAL.

The org URL is the emulator's origin; its scopes are ``<origin>/user_impersonation``
(delegated) and ``<origin>/.default`` (client credentials). One sign-in serves both
resources: the refresh token is multi-resource, as Azure AD's is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import msal
import pytest

from ci_toolkit.emulator import Emulator
from ci_toolkit.emulator.identity import API_AUDIENCE


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(verify=emulator.settings.ssl_context(), timeout=30) as client:
        yield client


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def whoami(emulator: Emulator, http: httpx.Client, token: str) -> httpx.Response:
    url = emulator.settings.dataverse_url + "/api/data/v9.2/WhoAmI"
    return http.get(url, headers={"Authorization": f"Bearer {token}"})


def test_settings_name_the_org_and_its_scopes(emulator: Emulator) -> None:
    s = emulator.settings
    assert s.dataverse_url == s.base_url.removesuffix("/v1")
    assert s.dataverse_scope == f"{s.dataverse_url}/user_impersonation"
    assert s.dataverse_app_scope == f"{s.dataverse_url}/.default"


def test_one_device_code_sign_in_serves_both_resources(
    emulator: Emulator, http: httpx.Client
) -> None:
    s = emulator.settings
    app = msal.PublicClientApplication(
        s.client_id, authority=s.authority, instance_discovery=False, http_client=http
    )
    flow = app.initiate_device_flow(scopes=[s.scope])
    ci = app.acquire_token_by_device_flow(flow)
    assert claims(ci["access_token"])["aud"] == API_AUDIENCE
    [account] = app.get_accounts()
    dataverse = app.acquire_token_silent([s.dataverse_scope], account=account)
    assert dataverse is not None, "the refresh token should serve the org too"
    token_claims = claims(dataverse["access_token"])
    assert token_claims["aud"] == s.dataverse_url
    assert token_claims["scp"] == "user_impersonation"
    assert whoami(emulator, http, dataverse["access_token"]).status_code == 200
    # Each resource keeps its own token in MSAL's cache.
    again = app.acquire_token_silent([s.scope], account=account)
    assert again is not None
    assert again["access_token"] == ci["access_token"]
    sdk_style = app.acquire_token_silent([s.dataverse_app_scope], account=account)
    assert sdk_style is not None
    assert claims(sdk_style["access_token"])["aud"] == s.dataverse_url


def test_device_code_for_the_org_first(emulator: Emulator, http: httpx.Client) -> None:
    s = emulator.settings
    app = msal.PublicClientApplication(
        s.client_id, authority=s.authority, instance_discovery=False, http_client=http
    )
    result = app.acquire_token_by_device_flow(app.initiate_device_flow(scopes=[s.dataverse_scope]))
    assert result["scope"] == s.dataverse_scope
    assert claims(result["access_token"])["aud"] == s.dataverse_url
    assert whoami(emulator, http, result["access_token"]).status_code == 200


def test_client_credentials_for_the_org(emulator: Emulator, http: httpx.Client) -> None:
    s = emulator.settings
    app = msal.ConfidentialClientApplication(
        s.confidential_client_id,
        client_credential=s.client_secret,
        authority=s.authority,
        instance_discovery=False,
        http_client=http,
    )
    result = app.acquire_token_for_client(scopes=[s.dataverse_app_scope])
    assert "access_token" in result, result
    assert claims(result["access_token"])["aud"] == s.dataverse_url
    body = whoami(emulator, http, result["access_token"]).json()
    app_principal = emulator.state.directory.app_principal
    assert body["UserId"] == emulator.dataverse.system_user_id(app_principal)
    other = app.acquire_token_for_client(scopes=[s.app_scope])
    assert claims(other["access_token"])["aud"] == API_AUDIENCE


def test_two_resources_in_one_request_are_refused(emulator: Emulator, http: httpx.Client) -> None:
    s = emulator.settings
    response = http.post(
        f"{s.authority}/oauth2/v2.0/devicecode",
        data={"client_id": s.client_id, "scope": f"{s.scope} {s.dataverse_scope}"},
    )
    assert response.status_code == 400
    assert response.json()["error_codes"] == [28000]
    other_org = http.post(
        f"{s.authority}/oauth2/v2.0/devicecode",
        data={"client_id": s.client_id, "scope": "https://contoso.crm.dynamics.com/.default"},
    )
    assert other_org.json()["error_codes"] == [70011]
