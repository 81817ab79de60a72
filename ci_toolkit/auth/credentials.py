"""MSAL sign-in: device code (public client) and client credentials (confidential client).

A credential hands out access tokens: from a small in-memory memo while the token is fresh,
else silently from MSAL's token cache (refreshing with the refresh token), else by a new
sign-in. Every MSAL error dict becomes a specific :class:`SignInError` in
:func:`ci_toolkit.auth.errors.sign_in_error`.

Waiting for a device code sign-in: MSAL's ``acquire_token_by_device_flow`` polls and blocks.
It runs in a worker thread while the calling thread waits in short ``join`` steps, telling
the prompt the time left (a widget's countdown keeps moving: a kernel busy with a cell still
*sends* widget updates). The copy button and the link work in the browser alone, so nothing
needs the busy kernel. Interrupting the kernel (``KeyboardInterrupt``) stops the polling
(MSAL's documented ``flow["expires_at"] = 0``) and reports "interrupted" on the prompt.

Example
-------
>>> from ci_toolkit.config import Settings
>>> import httpx
>>> s = Settings(client_id="c", subscription_key="k", authority="https://login.example/t")
>>> cred = make_credential(s, cache=TokenCacheStore.in_memory(), http_client=httpx.Client())
>>> type(cred).__name__
'DeviceCodeCredential'
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ci_toolkit import _defaults
from ci_toolkit.auth.cache import TokenCacheStore
from ci_toolkit.auth.errors import sign_in_error
from ci_toolkit.auth.prompt import DeviceCodeCallback, SignInObserver, TerminalPrompt
from ci_toolkit.config import Settings
from ci_toolkit.exceptions import (
    ServiceUnreachableError,
    SignInError,
    UnknownTenantError,
    scrub,
    unreachable_hint,
)

__all__ = [
    "ClientSecretCredential",
    "Credential",
    "DeviceCodeCredential",
    "ScopedTokenSource",
    "make_credential",
]

logger = logging.getLogger(__name__)

_MICROSOFT_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.windows.net",
    }
)


def _resource_of(scope: str) -> str:
    """``https://org.crm.dynamics.com/.default`` -> ``https://org.crm.dynamics.com`` (lower)."""
    head, _, _ = scope.rstrip("/").rpartition("/")
    return (head or scope).lower()


class ScopedTokenSource:
    """Access tokens of one resource (scope set) from a :class:`Credential`'s MSAL app.

    Each source keeps its own in-memory token; all of them share the credential's MSAL app,
    account, token cache and lock, so one sign-in serves them all.

    Parameters
    ----------
    credential
        The credential whose MSAL app and cache are used.
    scopes
        The scopes of this resource.

    Example
    -------
    >>> scopes = ["https://org.crm.dynamics.com/.default"]
    >>> source = credential.token_source(scopes)  # doctest: +SKIP
    """

    def __init__(self, credential: Credential, scopes: list[str]) -> None:
        self.credential = credential
        self.scopes = scopes
        self._token: str | None = None
        self._refresh_at = 0.0
        self.acquisitions = 0
        """How many tokens came from MSAL (cache or Azure AD) rather than the memo."""

    def __repr__(self) -> str:
        return f"ScopedTokenSource(scopes={self.scopes!r})"

    def forget(self) -> None:
        """Drop the in-memory token (the next request asks MSAL again)."""
        with self.credential._lock:
            self._token = None
            self._refresh_at = 0.0

    def get_token(self, *, force_refresh: bool = False, refused: str | None = None) -> str:
        """An access token: the memo while fresh, else silently from MSAL, else sign in.

        Parameters
        ----------
        force_refresh
            Skip the memo and MSAL's cached access token (after a 401).
        refused
            The token the API refused (see :meth:`Credential.get_token`).

        Returns
        -------
        str
            The access token.

        Example
        -------
        >>> source.get_token()  # doctest: +SKIP
        """
        credential = self.credential
        with credential._lock:
            now = time.time()
            if not force_refresh and self._token and now < self._refresh_at:
                return self._token
            if force_refresh and refused is not None and self._token not in (None, refused):
                return str(self._token)
            try:
                result = credential._acquire(self.scopes, force_refresh=force_refresh)
            except httpx.TransportError as exc:
                raise ServiceUnreachableError(
                    f"Cannot reach Azure AD at {credential.settings.authority}: {exc}."
                    f"{unreachable_hint(exc)}",
                    secrets=credential.settings.secrets,
                ) from None  # httpx's exception stays on __context__
            if "access_token" not in result:
                raise credential._error(result, self.scopes)
            lifetime = float(result.get("expires_in") or 3600)
            self._token = str(result["access_token"])
            self._refresh_at = now + lifetime - min(_defaults.TOKEN_REFRESH_MARGIN, lifetime / 2)
            self.acquisitions += 1
            logger.debug(
                "Access token for %s from %s, valid %.0f s",
                " ".join(self.scopes),
                result.get("token_source", "msal"),
                lifetime,
            )
            return self._token


class Credential:
    """Base of the two sign-in kinds: token memo, lock, sign-out.

    Parameters
    ----------
    settings
        The connection's settings (authority, client id, secret).
    cache
        The token cache store (persistent or in memory).
    http_client
        The ``httpx.Client`` MSAL talks to Azure AD with (it carries ``verify``).
    scopes
        Override the scopes (tests); the Customer Insights scope for the flow otherwise.
    """

    default_scope: str = _defaults.DELEGATED_SCOPE

    def __init__(
        self,
        settings: Settings,
        *,
        cache: TokenCacheStore,
        http_client: httpx.Client,
        scopes: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.scopes = list(scopes or [self.default_scope])
        self._http_client = http_client
        self._app: Any = None
        self._lock = threading.RLock()
        self._primary = ScopedTokenSource(self, self.scopes)
        self._sources: dict[tuple[str, ...], ScopedTokenSource] = {
            tuple(self.scopes): self._primary
        }

    @property
    def _token(self) -> str | None:
        """The sign-in scopes' in-memory token (tests replace it to simulate a refusal)."""
        return self._primary._token

    @_token.setter
    def _token(self, value: str | None) -> None:
        self._primary._token = value

    @property
    def acquisitions(self) -> int:
        """How many tokens of the sign-in scopes came from MSAL rather than the memo."""
        return self._primary.acquisitions

    def token_source(self, scopes: Sequence[str]) -> ScopedTokenSource:
        """A token source for another resource, on the same MSAL app, account and cache.

        One sign-in serves every resource: the refresh token is multi-resource, so the first
        token of a second resource (e.g. Dataverse next to the v1 API) is acquired silently.

        Parameters
        ----------
        scopes
            The other resource's scopes, e.g. ``["https://org.crm.dynamics.com/.default"]``.

        Returns
        -------
        ScopedTokenSource
            One source per scope set (asking twice returns the same object).

        Example
        -------
        >>> scopes = ["https://org.crm.dynamics.com/.default"]
        >>> dv = credential.token_source(scopes)  # doctest: +SKIP
        >>> token = dv.get_token()  # doctest: +SKIP
        """
        key = tuple(scopes)
        with self._lock:
            if key not in self._sources:
                self._sources[key] = ScopedTokenSource(self, list(scopes))
            return self._sources[key]

    # --- MSAL plumbing -------------------------------------------------------------------------
    def _new_app(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _msal_app(self) -> Any:
        if self._app is None:
            host = urlsplit(self.settings.authority).hostname or ""
            try:
                self._app = self._new_app(
                    authority=self.settings.authority,
                    token_cache=self.cache.cache,
                    http_client=self._http_client,
                    instance_discovery=host in _MICROSOFT_HOSTS,
                )
            except ValueError as exc:  # MSAL: "Unable to get authority configuration ..."
                said = str(exc).split(". ")[0].strip().rstrip(".")
                said = "" if said.startswith("Unable to get authority") else f" MSAL said: {said}."
                # from None: the traceback shows this error, not MSAL's internals first;
                # MSAL's exception stays on __context__.
                raise UnknownTenantError(
                    f"Azure AD authority {self.settings.authority} did not answer with a "
                    "configuration (unknown tenant?). Check tenant_id (CI_TENANT_ID) or "
                    "authority (CI_AUTHORITY): use your directory's tenant id or domain."
                    f"{said}",
                    error_code="AADSTS90002",
                    secrets=self.settings.secrets,
                ) from None
        return self._app

    def _error(self, result: Mapping[str, Any], scopes: Sequence[str] | None = None) -> SignInError:
        return sign_in_error(
            result,
            client_id=self.settings.client_id,
            authority=self.settings.authority,
            scopes=list(scopes or self.scopes),
            secrets=self.settings.secrets,
        )

    def _acquire(self, scopes: Sequence[str], *, force_refresh: bool) -> Mapping[str, Any]:
        raise NotImplementedError

    # --- public API ----------------------------------------------------------------------------
    def get_token(self, *, force_refresh: bool = False, refused: str | None = None) -> str:
        """An access token of the sign-in scopes: the memo, else silently, else sign in.

        Parameters
        ----------
        force_refresh
            Skip the memo and MSAL's cached access token (after a 401).
        refused
            The token the API refused: with ``force_refresh``, a newer one already in memo
            (another thread refreshed first) is returned instead of refreshing again.

        Returns
        -------
        str
            The access token.

        Raises
        ------
        SignInError
            When Azure AD refuses (a specific subclass).
        ServiceUnreachableError
            When Azure AD cannot be reached.

        Example
        -------
        >>> token = credential.get_token()  # doctest: +SKIP
        """
        return self._primary.get_token(force_refresh=force_refresh, refused=refused)

    def forget_token(self) -> None:
        """Drop the in-memory token (the next request asks MSAL again).

        Example
        -------
        >>> credential.forget_token()  # doctest: +SKIP
        """
        with self._lock:
            for source in self._sources.values():
                source.forget()

    def sign_out(self) -> None:
        """Remove the signed-in accounts and tokens, and delete the token cache file.

        Example
        -------
        >>> credential.sign_out()  # doctest: +SKIP
        """
        with self._lock:
            self.forget_token()
            if self._app is not None:
                for account in self._app.get_accounts():
                    self._app.remove_account(account)
            self._app = None
            self.cache.remove()  # a later sign-in writes a new file (mode 0600 again)
            logger.info("Signed out of %s", self.settings.authority)


class DeviceCodeCredential(Credential):
    """Delegated sign-in with a device code (``user_impersonation``), MSAL public client.

    Parameters
    ----------
    settings, cache, http_client, scopes
        As for :class:`Credential`.
    prompt
        The device code callback; :class:`TerminalPrompt` when ``None``.

    Example
    -------
    >>> cred = DeviceCodeCredential(settings, cache=store, http_client=client)  # doctest: +SKIP
    """

    default_scope = _defaults.DELEGATED_SCOPE

    def __init__(
        self,
        settings: Settings,
        *,
        cache: TokenCacheStore,
        http_client: httpx.Client,
        scopes: Sequence[str] | None = None,
        prompt: DeviceCodeCallback | None = None,
    ) -> None:
        super().__init__(settings, cache=cache, http_client=http_client, scopes=scopes)
        self.prompt: DeviceCodeCallback = prompt or TerminalPrompt()

    def _new_app(self, **kwargs: Any) -> Any:
        import msal

        return msal.PublicClientApplication(self.settings.client_id, **kwargs)

    def _acquire(self, scopes: Sequence[str], *, force_refresh: bool) -> Mapping[str, Any]:
        app = self._msal_app()
        accounts = app.get_accounts()
        if accounts:
            # The account's refresh token serves every resource: a second resource's first
            # token comes from here, silently.
            result = app.acquire_token_silent_with_error(
                list(scopes), account=accounts[0], force_refresh=force_refresh
            )
            if result and "access_token" in result:
                return dict(result)
            if result:
                logger.info(
                    "Silent sign-in for %s failed (%s); a new device code sign-in follows",
                    " ".join(scopes),
                    result.get("error"),
                )
        flow = app.initiate_device_flow(scopes=list(scopes))
        if "user_code" not in flow:
            raise self._error(flow, scopes)
        return self._wait(app, flow, scopes)

    def _wait(self, app: Any, flow: dict[str, Any], scopes: Sequence[str]) -> Mapping[str, Any]:
        observer = self.prompt if isinstance(self.prompt, SignInObserver) else None
        expires_on = datetime.fromtimestamp(float(flow["expires_at"]), tz=UTC)
        self.prompt(str(flow["verification_uri"]), str(flow["user_code"]), expires_on)
        box: dict[str, Any] = {}

        def poll() -> None:
            try:
                box["result"] = app.acquire_token_by_device_flow(flow)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc

        worker = threading.Thread(target=poll, name="ci-toolkit-device-code", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(_defaults.DEVICE_CODE_POLL_STEP)
                if observer is not None and worker.is_alive():
                    observer.waiting(max(0.0, float(flow["expires_at"]) - time.time()))
        except KeyboardInterrupt:
            flow["expires_at"] = 0  # MSAL stops polling at its next step
            if observer is not None:
                observer.finished(success=False, message="Sign-in interrupted.")
            raise
        if "error" in box:
            if observer is not None:
                message = scrub(f"Sign-in failed: {box['error']}", self.settings.secrets)
                observer.finished(success=False, message=message)
            raise box["error"]
        result: Mapping[str, Any] = box.get("result") or {"error": "no_result"}
        if observer is not None:
            if "access_token" in result:
                user = (result.get("id_token_claims") or {}).get("preferred_username")
                who = f" as {user}" if user else ""
                observer.finished(success=True, message=f"Signed in{who}.")
            else:
                observer.finished(success=False, message=str(self._error(result, scopes)))
        return result


class ClientSecretCredential(Credential):
    """Server-to-server sign-in with client credentials (``.default``), MSAL confidential client.

    Example
    -------
    >>> cred = ClientSecretCredential(settings, cache=store, http_client=client)  # doctest: +SKIP
    """

    default_scope = _defaults.SERVICE_SCOPE

    def _new_app(self, **kwargs: Any) -> Any:
        import msal

        return msal.ConfidentialClientApplication(
            self.settings.client_id, client_credential=self.settings.client_secret, **kwargs
        )

    def _acquire(self, scopes: Sequence[str], *, force_refresh: bool) -> Mapping[str, Any]:
        app = self._msal_app()
        if force_refresh:  # MSAL's acquire_token_for_client has no force_refresh: drop the AT
            cache = app.token_cache
            # only this resource's token: another resource's stays valid
            resources = {_resource_of(scope) for scope in scopes}
            for entry in list(
                cache.search(cache.CredentialType.ACCESS_TOKEN, query={"client_id": app.client_id})
            ):
                targets = {_resource_of(t) for t in str(entry.get("target") or "").split()}
                if not targets or targets & resources:
                    cache.remove_at(entry)
        return dict(app.acquire_token_for_client(scopes=list(scopes)))


def make_credential(
    settings: Settings,
    *,
    cache: TokenCacheStore,
    http_client: httpx.Client,
    prompt: DeviceCodeCallback | None = None,
    scopes: Sequence[str] | None = None,
) -> Credential:
    """Client credentials when ``settings`` has a client secret, device code otherwise.

    Parameters
    ----------
    settings
        Resolved settings.
    cache
        The token cache store.
    http_client
        The client MSAL uses (verify set for a private CA).
    prompt
        The device code callback (ignored for client credentials).
    scopes
        Override the scopes.

    Returns
    -------
    Credential
        A :class:`ClientSecretCredential` or a :class:`DeviceCodeCredential`.

    Example
    -------
    >>> make_credential(settings, cache=store, http_client=client)  # doctest: +SKIP
    """
    if settings.uses_client_credentials:
        return ClientSecretCredential(settings, cache=cache, http_client=http_client, scopes=scopes)
    return DeviceCodeCredential(
        settings, cache=cache, http_client=http_client, scopes=scopes, prompt=prompt
    )
