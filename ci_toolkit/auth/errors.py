"""MSAL error dicts -> specific :class:`SignInError` subclasses: the one place that maps them.

Example
-------
>>> err = sign_in_error({"error": "invalid_scope", "error_description": "AADSTS70011: bad"})
>>> type(err).__name__
'InvalidScopeError'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ci_toolkit._numbers import parse_digits
from ci_toolkit.exceptions import (
    ConsentRequiredError,
    DeviceCodeExpiredError,
    InvalidClientSecretError,
    InvalidScopeError,
    SignInDeclinedError,
    SignInError,
    UnknownClientError,
    UnknownTenantError,
)

__all__ = ["sign_in_error"]

_AADSTS = re.compile(r"AADSTS(\d+)")

_BY_CODE: dict[int, tuple[type[SignInError], str]] = {
    70011: (
        InvalidScopeError,
        "Azure AD rejected the scope {scopes}. Use the Customer Insights scope "
        "(user_impersonation for device code, .default for client credentials) and check that "
        "app {client_id} has the API permission 'Dynamics 365 AI for Customer Insights'.",
    ),
    65001: (
        ConsentRequiredError,
        "App {client_id} has no consent to call Customer Insights. An admin must grant consent "
        "to its API permission (Azure portal > App registrations > API permissions > "
        "Grant admin consent), then connect again.",
    ),
    90002: (
        UnknownTenantError,
        "Tenant of {authority} was not found. Check tenant_id (CI_TENANT_ID) or authority "
        "(CI_AUTHORITY): use your directory's tenant id or domain.",
    ),
    700016: (
        UnknownClientError,
        "No app with client id {client_id} in the tenant of {authority}. Check client_id "
        "(CI_CLIENT_ID) and that the app is registered in (or consented to by) that tenant.",
    ),
    7000215: (
        InvalidClientSecretError,
        "The client secret of app {client_id} is invalid or expired. Create a new secret in "
        "the app registration and set client_secret (CI_CLIENT_SECRET).",
    ),
}

_DATAVERSE_SCOPE = (
    InvalidScopeError,
    "Azure AD does not know a Dataverse environment for the scope {scopes}. Check dataverse_url "
    "(CI_DATAVERSE_URL): it is the environment URL like 'https://contoso.crm.dynamics.com' "
    "(Power Platform admin center > Environments), in the tenant of {authority}.",
)
#: Codes whose meaning differs for a Dataverse scope (issue 14).
_DATAVERSE_BY_CODE: dict[int, tuple[type[SignInError], str]] = {
    70011: _DATAVERSE_SCOPE,
    500011: _DATAVERSE_SCOPE,  # "The resource principal named ... was not found in the tenant"
    65001: (
        ConsentRequiredError,
        "App {client_id} has no consent to call Dataverse. An admin must grant consent to its "
        "API permission 'Dynamics CRM' > user_impersonation (Azure portal > App registrations > "
        "API permissions > Grant admin consent), then connect again.",
    ),
}
_CI_RESOURCE = "https://api.ci.ai.microsoft.com/"

_BY_ERROR: dict[str, tuple[type[SignInError], str]] = {
    "expired_token": (
        DeviceCodeExpiredError,
        "The device code expired before sign-in completed. Run connect() again and enter the "
        "new code at the link before it expires.",
    ),
    "authorization_declined": (
        SignInDeclinedError,
        "Sign-in was declined on the device login page. Run connect() again and approve the "
        "request (or sign in with another account).",
    ),
    "invalid_scope": _BY_CODE[70011],
    "invalid_client": _BY_CODE[7000215],
    "unauthorized_client": _BY_CODE[700016],
    "consent_required": _BY_CODE[65001],
}


def _codes(result: Mapping[str, Any]) -> list[int]:
    codes = [n for c in result.get("error_codes") or [] if (n := parse_digits(str(c))) is not None]
    description = str(result.get("error_description") or "")
    codes += [int(c) for c in _AADSTS.findall(description)]
    return codes


def sign_in_error(
    result: Mapping[str, Any],
    *,
    client_id: str = "",
    authority: str = "",
    scopes: Iterable[str] = (),
    secrets: Iterable[str | None] = (),
) -> SignInError:
    """Turn an MSAL error result into the specific exception, with a message naming the fix.

    Parameters
    ----------
    result
        MSAL's dict with ``error``, ``error_description``, ``error_codes``, ``correlation_id``.
    client_id, authority, scopes
        Context named in the message.
    secrets
        Secret values to scrub from the message.

    Returns
    -------
    SignInError
        The most specific subclass (``SignInError`` itself for unknown errors).

    Example
    -------
    >>> sign_in_error({"error": "authorization_declined"}).__class__.__name__
    'SignInDeclinedError'
    """
    error = str(result.get("error") or "sign_in_failed")
    description = str(result.get("error_description") or "").strip()
    codes = _codes(result)
    scopes = list(scopes)
    dataverse = any(
        "://" in s and not s.lower().startswith(_CI_RESOURCE) for s in scopes
    )  # a Dataverse environment's scope
    table = {**_BY_CODE, **_DATAVERSE_BY_CODE} if dataverse else _BY_CODE
    match = next((table[c] for c in codes if c in table), None)
    if match is None and dataverse and error in ("invalid_scope", "invalid_resource"):
        match = _DATAVERSE_SCOPE
    match = match or _BY_ERROR.get(error)
    context = {
        "client_id": client_id or "?",
        "authority": authority or "?",
        "scopes": ", ".join(scopes) or "?",
    }
    error_code = f"AADSTS{codes[0]}" if codes else error
    if match is None:
        cls: type[SignInError] = SignInError
        message = f"Sign-in failed ({error})"
    else:
        cls, template = match
        message = template.format(**context)
    if description:
        first_line = description.splitlines()[0]
        message = f"{message} Azure AD said: {first_line}"
    correlation = result.get("correlation_id")
    return cls(
        message,
        error_code=error_code,
        request_id=str(correlation) if correlation else None,
        secrets=secrets,
    )
