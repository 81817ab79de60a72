"""``connect()``: settings -> sign-in -> a ``CustomerInsights`` client.

(Named ``connection`` rather than ``connect``: a submodule ``ci_toolkit.connect`` would
replace the package attribute ``ci_toolkit.connect``, the function, once imported.)

The one client module that may import :mod:`ci_toolkit.emulator`: when nothing configures a
connection it starts the embedded emulator (once per process) and says so in one log line.

Example
-------
>>> import ci_toolkit
>>> ci = ci_toolkit.connect()  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_toolkit import _defaults
from ci_toolkit.auth.prompt import DeviceCodeCallback, TerminalPrompt, in_ipython_kernel
from ci_toolkit.config import Settings, check_instance_id, config_file_path, resolve_settings
from ci_toolkit.exceptions import ConfigurationError
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession, open_session

if TYPE_CHECKING:
    import httpx

    from ci_toolkit.client import CustomerInsights
    from ci_toolkit.dataverse import Dataverse
    from ci_toolkit.emulator import Emulator

__all__ = ["connect", "connect_session", "default_prompt", "embedded_emulator"]

logger = logging.getLogger(__name__)

_emulator_lock = threading.Lock()
_emulator: Emulator | None = None


def default_prompt() -> DeviceCodeCallback:
    """The device code prompt for where the code runs: a widget in a kernel, text elsewhere.

    Returns
    -------
    DeviceCodeCallback
        :class:`ci_toolkit.widgets.DeviceCodePrompt` inside an IPython kernel (detected by
        its kernel object, not by the front end), :class:`TerminalPrompt` otherwise.

    Example
    -------
    >>> type(default_prompt()).__name__
    'TerminalPrompt'
    """
    if in_ipython_kernel():
        try:
            from ci_toolkit.widgets.device_code import DeviceCodePrompt
        except ImportError:  # ipywidgets missing: plain text still works
            return TerminalPrompt()
        return DeviceCodePrompt()
    return TerminalPrompt()


def embedded_emulator() -> Emulator:
    """The process's embedded emulator with demo data, started on first use.

    Returns
    -------
    Emulator
        The running emulator (stopped when the process exits).

    Example
    -------
    >>> embedded_emulator().settings.base_url  # doctest: +SKIP
    'https://127.0.0.1:50123/v1'
    """
    global _emulator
    with _emulator_lock:
        if _emulator is None or not _emulator.running:
            from ci_toolkit.emulator import Emulator

            _emulator = Emulator().start()
            atexit.register(_emulator.stop)
        return _emulator


def _emulator_settings(instance_id: str | None) -> Settings:
    emu = embedded_emulator().settings
    settings = Settings(
        client_id=emu.client_id,
        subscription_key=emu.subscription_key,
        authority=emu.authority,
        tenant_id=emu.tenant_id,
        instance_id=instance_id or emu.instance_id,
        base_url=emu.base_url,
        ca_file=Path(emu.ca_file),
        source="embedded emulator",
        emulator=True,
        dataverse_url=getattr(emu, "dataverse_url", None),
    )
    env = ", ".join(
        _defaults.ENV_VARS[name]
        for name in ("tenant_id", "client_id", "subscription_key", "dataverse_url")
    )
    logger.warning(
        "ci-toolkit: no Customer Insights settings found, using the embedded emulator with "
        "demo data at %s (Dataverse: %s). To connect to a real environment set %s (and %s; "
        "%s for app sign-in), pass them to connect(), or write them to %s.",
        settings.base_url,
        settings.dataverse_url or "not served",
        env,
        _defaults.ENV_VARS["instance_id"],
        _defaults.ENV_VARS["client_secret"],
        config_file_path(),
    )
    return settings


def _resolve(
    explicit: dict[str, str | os.PathLike[str] | None],
    *,
    emulator: bool | None,
    config_file: str | os.PathLike[str] | None,
) -> Settings:
    if emulator:
        instance = explicit.get("instance_id")
        return _emulator_settings(os.fspath(instance) if instance else None)
    path = Path(config_file) if config_file is not None else config_file_path()
    settings = resolve_settings(explicit=explicit, config_file=path)
    if settings is not None:
        return settings
    if emulator is False:
        raise ConfigurationError(
            "No Customer Insights settings found and emulator=False: set CI_TENANT_ID, "
            "CI_CLIENT_ID and CI_SUBSCRIPTION_KEY and/or CI_DATAVERSE_URL (or pass them to "
            f"connect(), or write them to {path})."
        )
    instance = explicit.get("instance_id")
    return _emulator_settings(os.fspath(instance) if instance else None)


def connect_session(
    *,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    subscription_key: str | None = None,
    instance_id: str | None = None,
    base_url: str | None = None,
    authority: str | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    dataverse_url: str | None = None,
    prompt: DeviceCodeCallback | None = None,
    token_cache: bool = True,
    emulator: bool | None = None,
    config_file: str | os.PathLike[str] | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = None,
    sign_in: bool = True,
) -> tuple[ApiSession, Settings]:
    """Resolve settings, sign in and open the HTTP session (``connect()`` without the client).

    Parameters are those of :func:`connect`.

    Returns
    -------
    tuple[ApiSession, Settings]
        The signed-in session and the settings it uses.

    Example
    -------
    >>> session, settings = connect_session(emulator=True)  # doctest: +SKIP
    """
    explicit: dict[str, str | os.PathLike[str] | None] = {
        "tenant_id": tenant_id,
        "client_id": client_id,
        "client_secret": client_secret,
        "subscription_key": subscription_key,
        "instance_id": instance_id,
        "base_url": base_url,
        "authority": authority,
        "ca_file": ca_file,
        "dataverse_url": dataverse_url,
    }
    settings = _resolve(explicit, emulator=emulator, config_file=config_file)
    if settings.instance_id is not None:  # a malformed id is refused before any request
        settings = dataclasses.replace(
            settings, instance_id=check_instance_id(settings.instance_id)
        )
    if settings.has_v1:
        session = open_session(
            settings,
            prompt=prompt or default_prompt(),
            token_cache=token_cache and not settings.emulator,
            retry_policy=retry_policy,
            timeout=timeout,
        )
    else:  # Dataverse only: the sign-in's first scope is Dataverse's
        from ci_toolkit.dataverse.paths import V1NotConfigured
        from ci_toolkit.dataverse.session import open_credential

        credential, msal_http = open_credential(
            settings,
            prompt=prompt or default_prompt(),
            token_cache=token_cache and not settings.emulator,
            timeout=timeout,
        )
        session = V1NotConfigured(credential=credential, closeables=(msal_http,))
    if sign_in and session.credential is not None:
        try:
            session.credential.get_token()
        except BaseException:
            session.close()
            raise
    logger.info(
        "Connected to %s (settings from %s)",
        " and ".join(u for u in (settings.base_url * settings.has_v1, settings.dataverse_url) if u),
        settings.source,
    )
    return session, settings


def connect(
    *,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    subscription_key: str | None = None,
    instance_id: str | None = None,
    base_url: str | None = None,
    authority: str | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    dataverse_url: str | None = None,
    prompt: DeviceCodeCallback | None = None,
    token_cache: bool = True,
    emulator: bool | None = None,
    config_file: str | os.PathLike[str] | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = None,
    sign_in: bool = True,
    source: str | None = None,
) -> CustomerInsights:
    """Connect to Customer Insights (or the embedded emulator) and sign in.

    Each setting resolves from the argument, else its ``CI_*`` environment variable, else
    the user config file. With none set, the embedded emulator with demo data starts.

    Parameters
    ----------
    tenant_id, client_id, client_secret, subscription_key, instance_id, base_url, authority
        Settings (``CI_TENANT_ID``, ``CI_CLIENT_ID``, ...). A client secret selects client
        credentials sign-in; without one, a device code sign-in.
    ca_file
        A private CA bundle to trust (``CI_CA_FILE``), e.g. a separately run emulator's.
    dataverse_url
        The Dataverse environment URL (``CI_DATAVERSE_URL``), e.g.
        ``https://contoso.crm.dynamics.com``: opens the Dataverse read path
        (``ci.dataverse``), alone (no subscription key needed) or next to the v1 API, on the
        same sign-in.
    prompt
        Device code callback ``(verification_uri, user_code, expires_on)``; a widget in
        notebooks and plain text on stderr elsewhere when ``None``.
    token_cache
        Keep tokens in the user cache dir (file mode 0600) so a new process signs in
        silently; False keeps them in memory.
    emulator
        True: always use the embedded emulator; False: never fall back to it.
    config_file
        Another TOML config file instead of the user's.
    retry_policy
        Retry settings (:class:`ci_toolkit.http.RetryPolicy`).
    timeout
        Seconds each request phase may take (connect, read, write, pool), or an
        ``httpx.Timeout``; default connect 10 s, read and write 60 s.
    sign_in
        Sign in now (default) rather than at the first request; with both paths, the
        Dataverse token is then acquired silently from the same sign-in.
    source
        The default read path, ``"v1"`` or ``"dataverse"`` (``ci.source``); v1 when it is
        configured, Dataverse otherwise.

    Returns
    -------
    CustomerInsights
        The client.

    Raises
    ------
    ConfigurationError
        Partial or invalid settings (the message names what is missing).
    SignInError
        Azure AD refused (a specific subclass naming what to fix).

    Example
    -------
    >>> import ci_toolkit
    >>> ci = ci_toolkit.connect()  # doctest: +SKIP
    >>> ci.segments()  # doctest: +SKIP
    """
    from ci_toolkit.client import CustomerInsights

    session, settings = connect_session(
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=client_secret,
        subscription_key=subscription_key,
        instance_id=instance_id,
        base_url=base_url,
        authority=authority,
        ca_file=ca_file,
        dataverse_url=dataverse_url,
        prompt=prompt,
        token_cache=token_cache,
        emulator=emulator,
        config_file=config_file,
        retry_policy=retry_policy,
        timeout=timeout,
        sign_in=sign_in,
    )
    try:
        dataverse = _open_dataverse(
            session, settings, retry_policy=retry_policy, timeout=timeout, sign_in=sign_in
        )
        kwargs: dict[str, Any] = {"instance_id": settings.instance_id}
        return CustomerInsights(
            session, dataverse=dataverse, source=source, has_v1=settings.has_v1, **kwargs
        )
    except BaseException:
        session.close()
        raise


def _open_dataverse(
    session: ApiSession,
    settings: Settings,
    *,
    retry_policy: RetryPolicy | None,
    timeout: float | httpx.Timeout | None,
    sign_in: bool,
) -> Dataverse | None:
    """The Dataverse path on the connection's credential, or ``None`` when not configured."""
    if not settings.has_dataverse or session.credential is None:
        return None
    from ci_toolkit.dataverse import Dataverse
    from ci_toolkit.dataverse.session import dataverse_scopes, open_dataverse_session

    assert settings.dataverse_url
    dv_session = open_dataverse_session(
        settings, session.credential, retry_policy=retry_policy, timeout=timeout
    )
    if sign_in:
        try:  # silently, from the one sign-in (the refresh token serves both resources)
            session.credential.token_source(dataverse_scopes(settings)).get_token()
        except BaseException:
            dv_session.close()
            raise
    return Dataverse(dv_session, url=settings.dataverse_url)
