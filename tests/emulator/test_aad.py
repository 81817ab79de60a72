"""The emulated Azure AD, driven by real MSAL over real HTTPS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import msal
import pytest

from ci_toolkit.emulator import Emulator
from ci_toolkit.emulator.identity import API_AUDIENCE, V1_ISSUER


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    """An HTTP client trusting the emulator's CA explicitly (never REQUESTS_CA_BUNDLE)."""
    with httpx.Client(verify=emulator.settings.ssl_context(), timeout=30) as client:
        yield client


@pytest.fixture
def manual_approval(emulator: Emulator) -> Iterator[None]:
    """Device codes wait for a person at /devicelogin during the test."""
    emulator.set_auto_approve(False)
    yield
    emulator.set_auto_approve(True, role=emulator.config.auto_approve_role)


def public_app(
    emulator: Emulator, http: httpx.Client, **kwargs: Any
) -> msal.PublicClientApplication:
    settings = emulator.settings
    return msal.PublicClientApplication(
        kwargs.pop("client_id", settings.client_id),
        authority=kwargs.pop("authority", settings.authority),
        instance_discovery=False,
        http_client=http,
        **kwargs,
    )


def confidential_app(
    emulator: Emulator,
    http: httpx.Client,
    *,
    secret: str | None = None,
    client_id: str | None = None,
) -> msal.ConfidentialClientApplication:
    settings = emulator.settings
    return msal.ConfidentialClientApplication(
        client_id or settings.confidential_client_id,
        client_credential=secret or settings.client_secret,
        authority=settings.authority,
        instance_discovery=False,
        http_client=http,
    )


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def call_api(emulator: Emulator, http: httpx.Client, token: str, path: str) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "Ocp-Apim-Subscription-Key": emulator.settings.subscription_key,
    }
    return http.get(emulator.settings.base_url + path, headers=headers)


def test_openid_configuration_and_jwks(emulator: Emulator, http: httpx.Client) -> None:
    """The v2.0 document (MSAL's) names the ID tokens' issuer; the v1.0 document names the
    access tokens' issuer and keys, and a v1.0 access token verifies against exactly those.

    Source: Microsoft identity platform, "Access token claims reference"
    (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference,
    MicrosoftDocs/entra-docs docs/identity-platform/access-token-claims-reference.md): the
    ``iss`` of a v2.0 token ends in ``/v2.0``; Azure AD's v1.0 discovery document names
    ``https://sts.windows.net/<tenant id>/``.
    """
    settings = emulator.settings
    doc = http.get(f"{settings.authority}/v2.0/.well-known/openid-configuration").json()
    assert doc["issuer"] == f"{settings.authority}/v2.0"
    assert doc["device_authorization_endpoint"] == f"{settings.authority}/oauth2/v2.0/devicecode"
    assert doc["token_endpoint"] == f"{settings.authority}/oauth2/v2.0/token"
    v1 = http.get(f"{settings.authority}/.well-known/openid-configuration").json()
    assert v1["issuer"] == V1_ISSUER.format(tenant_id=settings.tenant_id)
    assert v1["issuer"] == f"https://sts.windows.net/{settings.tenant_id}/"
    keys = http.get(v1["jwks_uri"]).json()["keys"]
    assert keys[0]["kty"] == "RSA"
    assert http.get(doc["jwks_uri"]).json()["keys"] == keys
    # An access token verifies against the published key, audience and v1.0 issuer.
    token = emulator.mint_token("viewer")
    key = jwt.PyJWK(keys[0]).key
    verified = jwt.decode(
        token, key, algorithms=["RS256"], audience=API_AUDIENCE, issuer=v1["issuer"]
    )
    assert verified["ver"] == "1.0"


def test_device_code_auto_approve_with_msal(emulator: Emulator, http: httpx.Client) -> None:
    """Real MSAL's device code flow gets a v1.0 access token and a v2.0 ID token.

    Source: Microsoft identity platform, "Access token claims reference"
    (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference):
    with an App ID URI as ``aud`` (``https://api.ci.ai.microsoft.com``, the scope's resource)
    the token is v1.0 ("In v2.0 tokens, this value is always the client ID of the API");
    ``appid``/``appidacr``/``unique_name`` are "only present in v1.0 tokens", ``azp``,
    ``azpacr`` and ``preferred_username`` "only present in v2.0 tokens"; ``x5t`` is "emitted
    only in v1.0 access tokens". "ID token claims reference": an ID token's version "is based
    on the endpoint from where it was requested" (MSAL uses v2.0).
    """
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=[emulator.settings.scope])
    assert flow["verification_uri"].endswith("/devicelogin")
    assert flow["user_code"] in flow["message"]
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    token_claims = claims(result["access_token"])
    admin = emulator.state.directory.user_for_role("admin")
    assert token_claims["aud"] == API_AUDIENCE
    assert token_claims["iss"] == f"https://sts.windows.net/{emulator.settings.tenant_id}/"
    assert token_claims["ver"] == "1.0"
    # v1.0 only: appid/appidacr and unique_name; never the v2.0 azp or preferred_username.
    assert token_claims["appid"] == emulator.settings.client_id
    assert token_claims["appidacr"] == "0"
    assert token_claims["unique_name"] == admin.upn
    assert not {"azp", "azpacr", "preferred_username"} & set(token_claims)
    header = jwt.get_unverified_header(result["access_token"])
    assert header["x5t"] == header["kid"]
    # The ID token comes from the v2.0 endpoint: v2.0, issued by the authority's v2.0 issuer.
    assert result["id_token_claims"]["iss"] == emulator.settings.authority + "/v2.0"
    assert result["id_token_claims"]["ver"] == "2.0"
    assert token_claims["scp"] == "user_impersonation"
    assert token_claims["oid"] == admin.object_id
    assert token_claims["tid"] == emulator.settings.tenant_id
    assert token_claims["upn"] == admin.upn
    assert token_claims["exp"] - token_claims["iat"] == emulator.config.token_lifetime
    assert result["id_token_claims"]["preferred_username"] == admin.upn
    assert call_api(emulator, http, result["access_token"], "/instances").status_code == 200
    # MSAL built an account from the response, so silent acquisition works.
    [account] = app.get_accounts()
    assert account["username"] == admin.upn
    cached = app.acquire_token_silent([emulator.settings.scope], account=account)
    assert cached is not None
    assert cached["access_token"] == result["access_token"]


@pytest.mark.usefixtures("manual_approval")
def test_device_code_manual_approval_as_viewer(emulator: Emulator, http: httpx.Client) -> None:
    root = emulator.settings.base_url.removesuffix("/v1")
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=[emulator.settings.scope])
    token_url = f"{emulator.settings.authority}/oauth2/v2.0/token"
    pending = http.post(
        token_url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": emulator.settings.client_id,
            "device_code": flow["device_code"],
        },
    )
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    assert pending.json()["error_codes"] == [70016]
    page = http.get(f"{root}/devicelogin")
    assert page.status_code == 200
    assert '<form method="post" action="/devicelogin">' in page.text
    assert "Vic Viewer" in page.text
    approved = http.post(
        f"{root}/devicelogin",
        data={"user_code": flow["user_code"].lower(), "user": "viewer", "action": "approve"},
    )
    assert approved.status_code == 200
    assert "data-status='approved'" in approved.text
    assert "Vic Viewer" in approved.text
    result = app.acquire_token_by_device_flow(flow)
    viewer = emulator.state.directory.user_for_role("viewer")
    assert claims(result["access_token"])["oid"] == viewer.object_id
    again = http.post(
        f"{root}/devicelogin",
        data={"user_code": flow["user_code"], "user": "admin", "action": "approve"},
    )
    assert again.status_code == 400
    assert "already been used" in again.text


@pytest.mark.usefixtures("manual_approval")
def test_device_code_declined(emulator: Emulator, http: httpx.Client) -> None:
    root = emulator.settings.base_url.removesuffix("/v1")
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=[emulator.settings.scope])
    declined = http.post(
        f"{root}/devicelogin",
        data={"user_code": flow["user_code"], "user": "admin", "action": "decline"},
    )
    assert "data-status='declined'" in declined.text
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" not in result
    assert result["error"] == "authorization_declined"


@pytest.mark.usefixtures("manual_approval")
@pytest.mark.filterwarnings("ignore:Attempted too soon")
def test_device_code_expired_and_unknown(emulator: Emulator, http: httpx.Client) -> None:
    root = emulator.settings.base_url.removesuffix("/v1")
    app = public_app(emulator, http)
    flow = app.initiate_device_flow(scopes=[emulator.settings.scope])
    emulator.aad._flows[flow["device_code"]].expires_at = time.time() - 1
    result = app.acquire_token_by_device_flow(flow)
    assert result["error"] == "expired_token"
    late = http.post(
        f"{root}/devicelogin",
        data={"user_code": flow["user_code"], "user": "admin", "action": "approve"},
    )
    assert late.status_code == 400
    assert "expired" in late.text
    unknown = http.post(
        f"{root}/devicelogin", data={"user_code": "NOPE12345", "user": "admin", "action": "approve"}
    )
    assert unknown.status_code == 400
    assert "recognised" in unknown.text
    bogus = dict(flow, device_code="not-a-device-code")
    assert app.acquire_token_by_device_flow(bogus)["error"] == "bad_verification_code"


def test_refresh_token_grant_with_msal(emulator: Emulator, http: httpx.Client) -> None:
    app = public_app(emulator, http)
    first = app.acquire_token_by_device_flow(
        app.initiate_device_flow(scopes=[emulator.settings.scope])
    )
    assert "refresh_token" in first
    [account] = app.get_accounts()
    refreshed = app.acquire_token_silent(
        [emulator.settings.scope], account=account, force_refresh=True
    )
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    assert claims(refreshed["access_token"])["oid"] == claims(first["access_token"])["oid"]
    assert call_api(emulator, http, refreshed["access_token"], "/instances").status_code == 200
    bad = app.acquire_token_by_refresh_token("not-a-refresh-token", [emulator.settings.scope])
    assert bad["error"] == "invalid_grant"


def test_client_credentials_with_msal(emulator: Emulator, http: httpx.Client) -> None:
    """An app token is v1.0 too: ``appid`` and ``appidacr`` ``1`` ("When you use the client ID
    and client secret, the value is 1", "Access token claims reference"), no ``azp``."""
    app = confidential_app(emulator, http)
    result = app.acquire_token_for_client([emulator.settings.app_scope])
    assert "access_token" in result, result
    assert result["scope"] == emulator.settings.app_scope
    token_claims = claims(result["access_token"])
    assert token_claims["roles"] == ["api.access"]
    assert "scp" not in token_claims
    assert token_claims["appid"] == emulator.settings.confidential_client_id
    assert token_claims["appidacr"] == "1"
    assert token_claims["ver"] == "1.0"
    assert "azp" not in token_claims
    assert token_claims["oid"] == emulator.state.directory.app_principal.object_id
    response = call_api(emulator, http, result["access_token"], "/instances")
    assert response.status_code == 200
    assert response.json()


def test_client_credentials_errors(emulator: Emulator, http: httpx.Client) -> None:
    wrong_secret = confidential_app(emulator, http, secret="wrong").acquire_token_for_client(
        [emulator.settings.app_scope]
    )
    assert wrong_secret["error"] == "invalid_client"
    assert 7000215 in wrong_secret["error_codes"]
    unknown = confidential_app(
        emulator, http, client_id="00000000-0000-0000-0000-000000000001"
    ).acquire_token_for_client([emulator.settings.app_scope])
    assert unknown["error"] == "unauthorized_client"
    assert 700016 in unknown["error_codes"]
    not_default = confidential_app(emulator, http).acquire_token_for_client(
        [emulator.settings.scope]
    )
    assert not_default["error"] == "invalid_scope"
    other_api = confidential_app(emulator, http).acquire_token_for_client(
        ["https://graph.microsoft.com/.default"]
    )
    assert other_api["error"] == "invalid_scope"
    assert 70011 in other_api["error_codes"]
    assert other_api["error_description"].startswith("AADSTS70011:")


def test_device_code_errors(emulator: Emulator, http: httpx.Client) -> None:
    bad_scope = public_app(emulator, http).initiate_device_flow(
        scopes=["https://graph.microsoft.com/User.Read"]
    )
    assert bad_scope["error"] == "invalid_scope"
    assert 70011 in bad_scope["error_codes"]
    unknown = public_app(
        emulator, http, client_id="00000000-0000-0000-0000-000000000002"
    ).initiate_device_flow(scopes=[emulator.settings.scope])
    assert unknown["error"] == "unauthorized_client"
    assert 700016 in unknown["error_codes"]


def test_unknown_tenant(emulator: Emulator, http: httpx.Client) -> None:
    root = emulator.settings.base_url.removesuffix("/v1")
    other = f"{root}/00000000-0000-0000-0000-00000000beef"
    with pytest.raises(ValueError, match="authority"):
        public_app(emulator, http, authority=other)
    discovery = http.get(f"{other}/v2.0/.well-known/openid-configuration")
    assert discovery.status_code == 400
    assert discovery.json()["error_description"].startswith("AADSTS90002:")
    token = http.post(
        f"{other}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": emulator.settings.client_id},
    )
    assert token.status_code == 400
    assert token.json()["error_codes"] == [90002]


def test_domain_authority_works_too(emulator: Emulator, http: httpx.Client) -> None:
    root = emulator.settings.base_url.removesuffix("/v1")
    domain = emulator.state.directory.tenant_domain
    app = public_app(emulator, http, authority=f"{root}/{domain}")
    result = app.acquire_token_by_device_flow(
        app.initiate_device_flow(scopes=[emulator.settings.scope])
    )
    assert claims(result["access_token"])["iss"] == V1_ISSUER.format(
        tenant_id=emulator.settings.tenant_id
    )
    assert result["id_token_claims"]["iss"] == emulator.settings.authority + "/v2.0"


def test_expired_token_is_refused_and_msal_refreshes_it(
    emulator: Emulator, http: httpx.Client
) -> None:
    lifetime = emulator.aad.token_lifetime
    emulator.aad.token_lifetime = 1
    try:
        app = public_app(emulator, http)
        first = app.acquire_token_by_device_flow(
            app.initiate_device_flow(scopes=[emulator.settings.scope])
        )
        assert first["expires_in"] == 1
        time.sleep(1.2)
        expired = call_api(emulator, http, first["access_token"], "/instances")
        assert expired.status_code == 401
        assert "expired" in expired.headers["WWW-Authenticate"]
        emulator.aad.token_lifetime = lifetime
        [account] = app.get_accounts()
        fresh = app.acquire_token_silent([emulator.settings.scope], account=account)
        assert fresh is not None
        assert fresh["access_token"] != first["access_token"]
        assert call_api(emulator, http, fresh["access_token"], "/instances").status_code == 200
    finally:
        emulator.aad.token_lifetime = lifetime
