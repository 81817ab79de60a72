"""The Dataverse Web API session: its own ``ApiSession`` on the same sign-in as the v1 API.

One ``ApiSession`` per resource: this one has the service root
``<environment URL>/api/data/v9.2/`` as base URL, the OData headers of every Dataverse
request, no subscription key, and a :class:`~ci_toolkit.auth.TokenAuth` whose tokens come
from the connection's credential for the Dataverse scope (the same MSAL app, account and
cache as the v1 API: the Dataverse token is acquired silently after the one sign-in).

Scopes: ``<environment URL>/user_impersonation`` for a device code (delegated) sign-in and
``<environment URL>/.default`` for client credentials (DATAVERSE-NOTES section 3.1).

Example
-------
>>> from ci_toolkit.config import Settings
>>> s = Settings(client_id="c", subscription_key=None, authority="https://login.example/t",
...              dataverse_url="https://contoso.crm.dynamics.com")
>>> dataverse_scopes(s)
['https://contoso.crm.dynamics.com/user_impersonation']
>>> service_root("https://contoso.crm.dynamics.com")
'https://contoso.crm.dynamics.com/api/data/v9.2/'
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from ci_toolkit import _defaults
from ci_toolkit.exceptions import ConfigurationError
from ci_toolkit.http.session import ApiSession, build_http_client

if TYPE_CHECKING:
    from pathlib import Path

    from ci_toolkit.auth.credentials import Credential
    from ci_toolkit.auth.prompt import DeviceCodeCallback
    from ci_toolkit.config import Settings
    from ci_toolkit.http.retry import RetryPolicy

__all__ = [
    "dataverse_scopes",
    "open_credential",
    "open_dataverse_session",
    "prefer",
    "service_root",
]

logger = logging.getLogger(__name__)

_PREFER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "ci_toolkit_dataverse_prefer", default=None
)


def service_root(url: str) -> str:
    """The Web API service root of an environment URL (with the trailing ``/``).

    Example
    -------
    >>> service_root("https://org.crm4.dynamics.com/")
    'https://org.crm4.dynamics.com/api/data/v9.2/'
    """
    return f"{url.rstrip('/')}/{_defaults.DATAVERSE_API_PATH}/"


def dataverse_scopes(settings: Settings) -> list[str]:
    """The Dataverse scope for the sign-in kind of ``settings``.

    Raises
    ------
    ConfigurationError
        When ``settings`` has no ``dataverse_url``.

    Example
    -------
    >>> from ci_toolkit.config import Settings
    >>> s = Settings(client_id="c", subscription_key=None, authority="https://a/t",
    ...              client_secret="x", dataverse_url="https://org.crm.dynamics.com")
    >>> dataverse_scopes(s)
    ['https://org.crm.dynamics.com/.default']
    """
    if not settings.dataverse_url:
        raise ConfigurationError(
            "The Dataverse path is not configured: set dataverse_url (CI_DATAVERSE_URL)."
        )
    suffix = ".default" if settings.uses_client_credentials else "user_impersonation"
    return [f"{settings.dataverse_url.rstrip('/')}/{suffix}"]


@contextlib.contextmanager
def prefer(value: str | None) -> Iterator[None]:
    """Send ``Prefer: <value>`` on the Dataverse requests made inside the block (this thread).

    Example
    -------
    >>> with prefer("odata.maxpagesize=100"):
    ...     pass
    """
    token = _PREFER.set(value)
    try:
        yield
    finally:
        _PREFER.reset(token)


def _add_prefer(request: httpx.Request) -> None:
    value = _PREFER.get()
    if value:
        request.headers["Prefer"] = value


def open_credential(
    settings: Settings,
    *,
    prompt: DeviceCodeCallback | None = None,
    token_cache: bool = True,
    cache_dir: Path | None = None,
    timeout: float | httpx.Timeout | None = None,
) -> tuple[Credential, httpx.Client]:
    """The sign-in for a Dataverse-only connection (its first scope is Dataverse's).

    Returns
    -------
    tuple[Credential, httpx.Client]
        The credential and the HTTP client MSAL uses (close it with the session).

    Example
    -------
    >>> credential, msal_http = open_credential(settings)  # doctest: +SKIP
    """
    from ci_toolkit.auth import TokenCacheStore, make_credential

    msal_http = build_http_client(ca_file=settings.ca_file, timeout=timeout)
    store = (
        TokenCacheStore.open(settings.cache_key, directory=cache_dir)
        if token_cache
        else TokenCacheStore.in_memory()
    )
    credential = make_credential(
        settings,
        cache=store,
        http_client=msal_http,
        prompt=prompt,
        scopes=dataverse_scopes(settings),
    )
    return credential, msal_http


def open_dataverse_session(
    settings: Settings,
    credential: Credential,
    *,
    retry_policy: RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = None,
    transport: httpx.BaseTransport | None = None,
    closeables: tuple[httpx.Client, ...] = (),
) -> ApiSession:
    """An :class:`ApiSession` on the Dataverse service root, tokens from ``credential``.

    Parameters
    ----------
    settings
        Settings with ``dataverse_url``.
    credential
        The connection's credential (shared with the v1 session, if any).
    retry_policy, timeout
        As for :func:`ci_toolkit.connect`.
    transport
        A custom transport (tests).
    closeables
        Clients closed with the session.

    Returns
    -------
    ApiSession
        The session (nothing is sent until the first request).

    Example
    -------
    >>> session = open_dataverse_session(settings, credential)  # doctest: +SKIP
    """
    from ci_toolkit.auth import TokenAuth

    assert settings.dataverse_url
    source = credential.token_source(dataverse_scopes(settings))
    client = build_http_client(
        base_url=service_root(settings.dataverse_url),
        ca_file=settings.ca_file,
        auth=TokenAuth(source),
        headers=_defaults.DATAVERSE_HEADERS,
        transport=transport,
        timeout=timeout,
    )
    client.event_hooks = {"request": [_add_prefer], "response": []}
    return ApiSession(
        client,
        credential=credential,
        retry_policy=retry_policy,
        secrets=settings.secrets,
        closeables=closeables,
    )
