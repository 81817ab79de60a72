"""``ApiSession``: the one object the resource modules use to talk to the API.

One ``httpx.Client`` per connection: base URL, the subscription key header, bearer tokens
through :class:`~ci_toolkit.auth.TokenAuth` (silent refresh, one re-send on 401), connect and
read timeouts, a connection pool, ``verify`` set to the private CA when one is configured,
retries per :mod:`ci_toolkit.http.retry`, and every error status turned into the exception
of :mod:`ci_toolkit.exceptions`. Each attempt is logged at DEBUG (method, path, status,
request id, elapsed), never a header or a body.

It is synchronous and never touches an event loop, so it works the same in a script and in
a Jupyter kernel whose loop is already running.

Example
-------
>>> import httpx
>>> transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"value": []}))
>>> session = ApiSession(httpx.Client(base_url="https://x/v1/", transport=transport))
>>> session.request_json("GET", "instances")
{'value': []}
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ci_toolkit import _defaults
from ci_toolkit.exceptions import (
    ApiStatusError,
    ConfigurationError,
    CustomerInsightsError,
    ServiceUnreachableError,
    unreachable_hint,
)
from ci_toolkit.http.errors import error_from_response, request_id_of
from ci_toolkit.http.retry import RetryPolicy, send_with_retries

if TYPE_CHECKING:
    from ci_toolkit.auth.credentials import Credential
    from ci_toolkit.auth.prompt import DeviceCodeCallback
    from ci_toolkit.config import Settings

__all__ = ["ApiSession", "build_http_client", "open_session", "ssl_context"]

logger = logging.getLogger(__name__)


def ssl_context(ca_file: Path | None) -> ssl.SSLContext | bool:
    """TLS verification: the given CA bundle only, else the system default (``True``).

    Environment variables such as ``REQUESTS_CA_BUNDLE`` play no part when ``ca_file``
    is given; verification is never turned off.

    Example
    -------
    >>> ssl_context(None)
    True
    """
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise ConfigurationError(
            f"ca_file {ca_file} (CI_CA_FILE) is not a CA bundle in PEM form ({reason}): point "
            "it at the PEM file of the CA that signed the service's certificate (for the "
            "emulator, its settings' ca_file), or unset it to trust the system's CAs."
        ) from None


def _timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if timeout is None:
        return httpx.Timeout(
            connect=_defaults.CONNECT_TIMEOUT,
            read=_defaults.READ_TIMEOUT,
            write=_defaults.WRITE_TIMEOUT,
            pool=_defaults.POOL_TIMEOUT,
        )
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigurationError(
            f"timeout must be a positive number of seconds or an httpx.Timeout, not {timeout!r}"
        )
    return httpx.Timeout(float(timeout))


def build_http_client(
    *,
    base_url: str | None = None,
    ca_file: Path | None = None,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float | httpx.Timeout | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with ci-toolkit's timeouts, pool limits and TLS verification.

    Parameters
    ----------
    base_url
        The API root (a trailing ``/`` is added).
    ca_file
        A private CA bundle to trust instead of the system's.
    auth
        The request auth (e.g. :class:`~ci_toolkit.auth.TokenAuth`).
    headers
        Default headers (e.g. the subscription key).
    transport
        A custom transport (tests).
    timeout
        Seconds for each phase (connect, read, write, pool) or an ``httpx.Timeout``;
        ``None`` for the defaults (connect 10 s, read and write 60 s, pool 10 s).

    Returns
    -------
    httpx.Client
        The configured client.

    Example
    -------
    >>> build_http_client(base_url="https://api.ci.ai.dynamics.com/v1").base_url
    URL('https://api.ci.ai.dynamics.com/v1/')
    """
    return httpx.Client(
        base_url=(base_url.rstrip("/") + "/") if base_url else "",
        auth=auth,
        headers={"User-Agent": _defaults.USER_AGENT, **(headers or {})},
        timeout=_timeout(timeout),
        limits=httpx.Limits(max_connections=_defaults.MAX_CONNECTIONS),
        verify=ssl_context(ca_file),
        transport=transport,
    )


class ApiSession:
    """One ``httpx.Client`` for a connection: base URL, both credentials, timeouts, retries.

    Parameters
    ----------
    client
        A configured ``httpx.Client`` whose ``base_url`` ends with ``/v1/``.
    credential
        The sign-in behind the client's auth (for :meth:`sign_out`); optional.
    retry_policy
        Retries; :class:`RetryPolicy` defaults when ``None``.
    secrets
        Secret values scrubbed from every exception message.
    closeables
        Further clients closed with the session (e.g. MSAL's HTTP client).

    Example
    -------
    >>> session = ApiSession(httpx.Client(base_url="https://x/v1/"))
    >>> session.base_url
    'https://x/v1/'
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        credential: Credential | None = None,
        retry_policy: RetryPolicy | None = None,
        secrets: Sequence[str] = (),
        closeables: Sequence[httpx.Client] = (),
    ) -> None:
        self._client = client
        self.credential = credential
        self.retry_policy = retry_policy or RetryPolicy()
        self._secrets = tuple(secrets)
        self._closeables = tuple(closeables)

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api.ci.ai.dynamics.com/v1/``."""
        return str(self._client.base_url)

    @property
    def client(self) -> httpx.Client:
        """The connection's ``httpx.Client`` (credentials, TLS, timeouts, connection pool).

        For code that schedules its own requests, such as the parallel pulls of
        :mod:`ci_toolkit.bulk`; it is thread-safe and shared, so do not close it.

        Example
        -------
        >>> ApiSession(httpx.Client(base_url="https://x/v1/")).client.base_url
        URL('https://x/v1/')
        """
        return self._client

    @property
    def secrets(self) -> tuple[str, ...]:
        """Secret values to scrub from any message built from this session's traffic.

        Example
        -------
        >>> ApiSession(httpx.Client(), secrets=["k3y-value"]).secrets
        ('k3y-value',)
        """
        return self._secrets

    def __repr__(self) -> str:
        return f"ApiSession(base_url={self.base_url!r})"

    def _url(self, path: str) -> str:
        if "://" not in path:
            return path
        # An absolute URL (an @odata.nextLink) must stay on the API's origin: the request
        # carries the subscription key and the token.
        target, base = httpx.URL(path), self._client.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise CustomerInsightsError(
                f"Refusing to send credentials to {target.scheme}://{target.host}: "
                f"not the API at {base.host}."
            )
        return path

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one attempt, no retry: for callers that schedule their own retries.

        The parallel pulls of :mod:`ci_toolkit.bulk` send every request through here, so
        they share this session's origin check (an absolute URL such as an
        ``@odata.nextLink`` must be on the API's origin: the request carries the token and
        the subscription key), its credentials and its logging; they apply the session's
        :attr:`retry_policy` themselves.

        Parameters
        ----------
        method
            HTTP method.
        path
            Relative path or same-origin absolute URL.
        params
            Query parameters.
        json
            A JSON body.

        Returns
        -------
        httpx.Response
            The response, read (an error status is not raised here).

        Raises
        ------
        CustomerInsightsError
            ``path`` is an absolute URL on another origin (nothing is sent).
        httpx.TransportError
            The connection failed.

        Example
        -------
        >>> session.send("GET", "instances").status_code  # doctest: +SKIP
        200
        """
        return self._send_once(method.upper(), self._url(path), params, json)

    def _send_once(
        self, method: str, url: str, params: Mapping[str, Any] | None, json: Any
    ) -> httpx.Response:
        if self._client.is_closed:
            raise CustomerInsightsError(
                "This connection is closed (ci.close(), or its with block ended): "
                "connect() again for a new one."
            )
        request = self._client.build_request(method, url, params=params, json=json)
        if params and len(str(request.url)) > _defaults.MAX_URL_LENGTH:
            raise ValueError(
                f"{method} {request.url.path}: the request URL would be "
                f"{len(str(request.url)):,} characters long, over the "
                f"{_defaults.MAX_URL_LENGTH:,} that the service's front end accepts: split the "
                "query (e.g. F.in_ over fewer values per call, the results joined with "
                "pd.concat) or filter on a broader condition."
            )
        started = time.perf_counter()
        try:
            response = self._client.send(request)
        except httpx.TransportError as exc:
            logger.debug(
                "%s %s failed after %.0f ms: %s",
                method,
                httpx.URL(url).path,
                (time.perf_counter() - started) * 1000,
                type(exc).__name__,
            )
            raise
        logger.debug(
            "%s %s -> %d (request id %s, %.0f ms)",
            method,
            response.request.url.path,
            response.status_code,
            request_id_of(response) or "-",
            (time.perf_counter() - started) * 1000,
        )
        return response

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
        absolute URL on the same origin (an ``@odata.nextLink``). ``retry`` defaults to True
        for GET, PUT and DELETE and False for POST and PATCH (not safe to repeat blindly:
        re-sent only when the connection failed before the request went out).

        Parameters
        ----------
        method
            HTTP method.
        path
            Relative path or same-origin absolute URL.
        params
            Query parameters.
        json
            A JSON body.
        retry
            Whether the request is safe to repeat; by method when ``None``.

        Returns
        -------
        Any
            The decoded JSON, or ``None`` for an empty body.

        Raises
        ------
        ApiStatusError
            A subclass per status (``NotFoundError``, ``ThrottledError``, ``QueryError``...).
        ServiceUnreachableError
            When the service cannot be reached after the retries.

        Example
        -------
        >>> session.request_json("GET", "instances")  # doctest: +SKIP
        [{'instanceId': ...}]
        """
        method = method.upper()
        url = self._url(path)
        safe = method in _defaults.SAFE_METHODS if retry is None else retry
        shown = httpx.URL(url).path or url
        try:
            response = send_with_retries(
                lambda: self._send_once(method, url, params, json),
                method=method,
                path=shown,
                retry=safe,
                policy=self.retry_policy,
            )
        except httpx.TransportError as exc:
            raise ServiceUnreachableError(
                f"{method} {shown}: cannot reach {self._client.base_url.host} "
                f"({type(exc).__name__}: {exc}).{unreachable_hint(exc)}",
                secrets=self._secrets,
            ) from None  # httpx's exception stays on __context__
        if response.is_error:
            raise error_from_response(response, secrets=self._secrets)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiStatusError(
                f"{method} {shown}: the answer is not JSON",
                status=response.status_code,
                request_id=request_id_of(response),
            ) from None

    def sign_out(self) -> None:
        """Forget the signed-in account and delete its token cache file.

        The next request signs in again.

        Example
        -------
        >>> session.sign_out()  # doctest: +SKIP
        """
        if self.credential is not None:
            self.credential.sign_out()

    def close(self) -> None:
        """Close the connection pool (and MSAL's HTTP client).

        Example
        -------
        >>> session.close()  # doctest: +SKIP
        """
        self._client.close()
        for client in self._closeables:
            client.close()

    def __enter__(self) -> ApiSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_session(
    settings: Settings,
    *,
    prompt: DeviceCodeCallback | None = None,
    token_cache: bool = True,
    cache_dir: Path | None = None,
    retry_policy: RetryPolicy | None = None,
    scopes: Sequence[str] | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float | httpx.Timeout | None = None,
) -> ApiSession:
    """An :class:`ApiSession` for ``settings``: MSAL credential, token cache, HTTP client.

    Nothing is sent until the first request (which signs in if needed).

    Parameters
    ----------
    settings
        Resolved settings.
    prompt
        The device code callback (plain text on stderr when ``None``).
    token_cache
        Keep tokens in the persistent cache file (memory only when False).
    cache_dir
        Where the cache file lives (the user cache dir when ``None``).
    retry_policy
        Retries (defaults when ``None``).
    scopes
        Override the sign-in scopes.
    transport
        A custom transport for the API client (tests).
    timeout
        Request timeouts of the API and Azure AD clients (see :func:`build_http_client`).

    Returns
    -------
    ApiSession
        The session.

    Example
    -------
    >>> session = open_session(settings)  # doctest: +SKIP
    """
    from ci_toolkit.auth import TokenAuth, TokenCacheStore, make_credential

    msal_http = build_http_client(ca_file=settings.ca_file, timeout=timeout)
    store = (
        TokenCacheStore.open(settings.cache_key, directory=cache_dir)
        if token_cache
        else TokenCacheStore.in_memory()
    )
    credential = make_credential(
        settings, cache=store, http_client=msal_http, prompt=prompt, scopes=scopes
    )
    client = build_http_client(
        base_url=settings.base_url,
        ca_file=settings.ca_file,
        auth=TokenAuth(credential),
        headers=(
            {_defaults.SUBSCRIPTION_KEY_HEADER: settings.subscription_key}
            if settings.subscription_key
            else None
        ),
        transport=transport,
        timeout=timeout,
    )
    return ApiSession(
        client,
        credential=credential,
        retry_policy=retry_policy,
        secrets=settings.secrets,
        closeables=[msal_http],
    )
