"""Run the emulator: uvicorn over HTTPS on 127.0.0.1, in a background thread.

Example
-------
>>> from ci_toolkit.emulator import Emulator
>>> with Emulator(profiles=1_000) as emu:  # doctest: +SKIP
...     settings = emu.settings
...     token = emu.mint_token("viewer")
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ci_toolkit.emulator.aad import AzureAD
from ci_toolkit.emulator.app import build_app
from ci_toolkit.emulator.config import EmulatorConfig
from ci_toolkit.emulator.dataverse import DataverseService
from ci_toolkit.emulator.gateway import TRANSPORT_KEY, FaultInjector, FaultSettings
from ci_toolkit.emulator.identity import (
    API_SCOPE_DEFAULT,
    API_SCOPE_USER_IMPERSONATION,
    V1_ISSUER,
    resource_scopes,
)
from ci_toolkit.emulator.state import EmulatorState
from ci_toolkit.emulator.tls import TlsFiles

__all__ = ["Emulator", "EmulatorSettings"]

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class EmulatorSettings:
    """Everything a client needs to reach a running emulator (secrets hidden from repr).

    Attributes
    ----------
    base_url
        ``https://127.0.0.1:<port>/v1``.
    authority
        ``https://127.0.0.1:<port>/<tenant_id>`` for MSAL (with ``instance_discovery=False``).
    tenant_id
        The demo tenant.
    client_id
        The public client (device code flow).
    confidential_client_id
        The confidential client (client credentials flow).
    client_secret
        The confidential client's secret.
    subscription_key
        The demo API subscription key (``Ocp-Apim-Subscription-Key``).
    instance_id
        The demo production instance.
    ca_file
        The CA certificate to trust for this emulator's HTTPS.
    scope
        The delegated scope (``.../user_impersonation``).
    app_scope
        The client credentials scope (``.../.default``).
    dataverse_url
        The Dataverse org URL (the emulator's origin, ``https://127.0.0.1:<port>``); the
        Web API is under ``<dataverse_url>/api/data/v9.2/``.
    """

    base_url: str
    authority: str
    tenant_id: str
    client_id: str
    confidential_client_id: str
    client_secret: str = field(repr=False)
    subscription_key: str = field(repr=False)
    instance_id: str
    ca_file: Path
    scope: str = API_SCOPE_USER_IMPERSONATION
    app_scope: str = API_SCOPE_DEFAULT
    dataverse_url: str = ""

    @property
    def dataverse_scope(self) -> str:
        """The delegated Dataverse scope, ``<dataverse_url>/user_impersonation``."""
        return resource_scopes(self.dataverse_url)[0]

    @property
    def dataverse_app_scope(self) -> str:
        """The client credentials Dataverse scope, ``<dataverse_url>/.default``."""
        return resource_scopes(self.dataverse_url)[1]

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting this emulator's CA only (``httpx.Client(verify=...)``)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, handing the transport to the app so a fault can drop it.

    httptools parses in C (llhttp); with uvloop it cuts the emulator's CPU per bulk-pull
    request by about 12% against h11 and asyncio (BENCHMARKS.md, section 7), and that cost
    is what bounds a bulk pull.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        raw = transport.get_extra_info("socket")
        if raw is not None:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope[TRANSPORT_KEY] = transport
            await inner(scope, receive, send)

        self.app = app

    def shutdown(self) -> None:
        """Drop idle keep-alive connections at once (TLS close would wait for the client)."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()


class Emulator:
    """A running Customer Insights emulator (context manager, or ``start()``/``stop()``).

    Parameters
    ----------
    config
        Settings of the run; defaults of :class:`EmulatorConfig` when ``None``.
    **overrides
        Fields of :class:`EmulatorConfig` to change, e.g. ``profiles=10_000``.

    Raises
    ------
    TypeError
        For an unknown override.
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        self.config = dataclasses.replace(config or EmulatorConfig(), **overrides)
        self._state: EmulatorState | None = None
        self._app: Starlette | None = None
        self._tls: TlsFiles | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._settings: EmulatorSettings | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Build the demo world and serve it; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        started = time.perf_counter()
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say so,
        # and without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self.config.port))
            sock.listen(128)
            port = sock.getsockname()[1]
            self._tls = TlsFiles.create()
            self._state = EmulatorState(self.config)
            self._state.public_url = f"https://{HOST}:{port}"
            self._app = build_app(self._state)
            uv_config = uvicorn.Config(
                self._app,
                http=_Protocol,
                lifespan="off",
                loop="auto",  # uvloop where installed (not on Windows): cheaper TLS and I/O
                ssl_certfile=str(self._tls.cert_file),
                ssl_keyfile=str(self._tls.key_file),
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=2,
            )
            self._server = uvicorn.Server(uv_config)
            self._thread = threading.Thread(
                target=self._serve, args=(self._server, sock), name="ci-emulator", daemon=True
            )
            self._thread.start()
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not self._server.started:
                if not self._thread.is_alive():
                    raise RuntimeError("the emulator's server stopped while starting")
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start in time")
                time.sleep(0.01)
        except BaseException:
            self._cleanup()
            sock.close()
            raise
        state = self._state
        directory = state.directory
        self._settings = EmulatorSettings(
            base_url=f"https://{HOST}:{port}/v1",
            authority=f"https://{HOST}:{port}/{directory.tenant_id}",
            tenant_id=directory.tenant_id,
            client_id=directory.public_client.client_id,
            confidential_client_id=directory.confidential_client.client_id,
            client_secret=directory.confidential_client.secret or "",
            subscription_key=directory.subscription_keys[0],
            instance_id=state.default_instance_id,
            ca_file=self._tls.ca_file,
            dataverse_url=f"https://{HOST}:{port}",
        )
        logger.info(
            "Emulator serving %s (started in %.2f s)",
            self._settings.base_url,
            time.perf_counter() - started,
        )
        return self

    @staticmethod
    def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except Exception:
            logger.exception("The emulator's server failed")
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving, stop jobs and remove temporary files (safe to call twice)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_TIMEOUT)
            if self._thread.is_alive():
                logger.warning("The emulator's server thread did not stop in time")
        self._cleanup()

    def _cleanup(self) -> None:
        if self._state is not None:
            self._state.close()
        if self._tls is not None:
            self._tls.cleanup()
        self._state = None
        self._app = None
        self._tls = None
        self._server = None
        self._thread = None
        self._settings = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests and the CLI use ----------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def settings(self) -> EmulatorSettings:
        """Connection settings of the running emulator."""
        if self._settings is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._settings

    @property
    def state(self) -> EmulatorState:
        """The emulated world (instances, data, workflows, identities)."""
        if self._state is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._state

    @property
    def app(self) -> Starlette:
        """The ASGI app being served."""
        if self._app is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._app

    @property
    def aad(self) -> AzureAD:
        """The emulated Azure AD (device flows, auto-approve, token lifetime)."""
        aad: AzureAD = self.app.state.aad
        return aad

    @property
    def dataverse(self) -> DataverseService:
        """The Dataverse Web API (security roles, service protection limits, GUID order)."""
        service: DataverseService = self.app.state.dataverse
        return service

    @property
    def faults(self) -> FaultSettings:
        """The faults the gateway currently injects."""
        injector: FaultInjector = self.app.state.faults
        return injector.settings

    def set_faults(self, **changes: Any) -> FaultSettings:
        """Change injected faults on the running emulator.

        Parameters
        ----------
        **changes
            Fields of :class:`~ci_toolkit.emulator.gateway.FaultSettings`: ``latency_ms``,
            ``rate_limit``, ``fault_rate``, ``kinds``, ``slow_seconds``, ``retry_after``,
            ``seed``.

        Returns
        -------
        FaultSettings
            The settings now in force.

        Example
        -------
        >>> emu.set_faults(fault_rate=1.0, kinds=("unavailable",))  # doctest: +SKIP
        """
        injector: FaultInjector = self.app.state.faults
        return injector.configure(**changes)

    def set_auto_approve(self, enabled: bool, *, role: str | None = None) -> None:
        """Switch auto-approval of device codes (and the demo user it signs in as)."""
        aad = self.aad
        if role is not None:
            self.state.directory.user_for_role(role)  # validates
            aad.auto_approve_role = role
        aad.auto_approve = enabled

    def mint_token(
        self,
        role: str = "admin",
        *,
        lifetime: int | None = None,
        audience: str | None = None,
        scopes: list[str] | None = None,
    ) -> str:
        """A properly signed access token for a demo principal (for tests).

        Parameters
        ----------
        role
            ``admin``, ``contributor`` or ``viewer`` for a demo user, ``app`` for the
            confidential client's application token.
        lifetime
            Seconds until expiry (negative for an expired token); the run's token lifetime
            when ``None``.
        audience
            ``aud`` claim; the API's audience when ``None``.
        scopes
            ``scp`` claim of a user token; ``["user_impersonation"]`` when ``None``.
        """
        state = self.state
        directory = state.directory
        principal = directory.app_principal if role == "app" else directory.user_for_role(role)
        return state.tokens.mint_access_token(
            principal,
            issuer=V1_ISSUER.format(tenant_id=directory.tenant_id),
            lifetime=self.aad.token_lifetime if lifetime is None else lifetime,
            audience=audience,
            scopes=scopes,
        )
