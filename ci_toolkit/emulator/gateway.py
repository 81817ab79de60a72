"""The API gateway in front of ``/v1``: request ids, both credentials, throttling and faults.

It imitates Azure API Management in front of Customer Insights, in this order:

1. added latency and injected faults (429, 503, dropped connection, slow response),
2. the subscription key (``Ocp-Apim-Subscription-Key`` header or ``subscription-key`` query),
3. the rate limit (token bucket per subscription key, 429 with ``Retry-After``),
4. the bearer token (signature, audience, issuer, lifetime, scope; 401 otherwise).

The principal the token names goes into the ASGI scope for the app (``PRINCIPAL_KEY``).
Nothing here takes a global lock: each request only touches its own bucket entry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ci_toolkit.emulator.errors import api_error, gateway_error, odata_error
from ci_toolkit.emulator.identity import V1_ISSUER, Principal
from ci_toolkit.emulator.state import EmulatorState
from ci_toolkit.emulator.tokens import TokenError

__all__ = [
    "FAULT_KINDS",
    "PRINCIPAL_KEY",
    "REQUEST_ID_KEY",
    "TRANSPORT_KEY",
    "FaultInjector",
    "FaultSettings",
    "GatewayMiddleware",
    "RequestIdMiddleware",
    "request_id_of",
]

logger = logging.getLogger(__name__)

REQUEST_ID_KEY: Final = "ci.request_id"
PRINCIPAL_KEY: Final = "ci.principal"
#: Set by the server's protocol class so a fault can drop the connection.
TRANSPORT_KEY: Final = "ci.transport"

#: Injected fault kinds: throttled (429), unavailable (503), dropped connection, slow response.
FAULT_KINDS: tuple[str, ...] = ("throttle", "unavailable", "drop", "slow")

MISSING_KEY_MESSAGE = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription."
)
INVALID_TOKEN_MESSAGE = "Unauthorized. Access token is missing or invalid."


def request_id_of(scope: Scope) -> str:
    """The request id the outer middleware gave this request (a new one if none)."""
    rid = scope.get(REQUEST_ID_KEY)
    if not isinstance(rid, str):
        rid = str(uuid.uuid4())
        scope[REQUEST_ID_KEY] = rid
    return rid


class RequestIdMiddleware:
    """Gives every request an ``x-ms-request-id`` and puts it on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        scope[REQUEST_ID_KEY] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-ms-request-id" not in headers:
                    headers["x-ms-request-id"] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


@dataclass(frozen=True)
class FaultSettings:
    """What the gateway injects; change it on a running emulator with ``Emulator.set_faults``.

    Parameters
    ----------
    latency_ms
        Added to every API request (``asyncio.sleep``).
    rate_limit
        Requests per second per subscription key; ``None`` for no limit.
    fault_rate
        Share of API requests (0..1) answered with a fault drawn from ``kinds``.
    kinds
        Which faults to draw from (a subset of ``FAULT_KINDS``).
    slow_seconds
        Extra delay of a ``slow`` fault before the request is served normally.
    retry_after
        ``Retry-After`` seconds of an injected 429.
    seed
        Seed of the fault draws, so a run with the same requests injects the same faults.
    """

    latency_ms: float = 0.0
    rate_limit: float | None = None
    fault_rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 2.0
    retry_after: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be > 0 (or None for no limit)")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be a non-empty subset of {FAULT_KINDS}")
        if self.slow_seconds < 0 or self.retry_after < 0:
            raise ValueError("slow_seconds and retry_after must be >= 0")


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class FaultInjector:
    """Latency, the per-key token bucket and the random faults of one run."""

    settings: FaultSettings
    _rng: random.Random = field(init=False)
    _buckets: dict[str, _Bucket] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.settings.seed)

    def configure(self, **changes: Any) -> FaultSettings:
        """Replace some settings (validated); a new ``seed`` restarts the draws."""
        self.settings = replace(self.settings, **changes)
        if "seed" in changes:
            self._rng = random.Random(self.settings.seed)
        if "rate_limit" in changes:
            self._buckets.clear()
        return self.settings

    def draw_fault(self) -> str | None:
        """The fault for the next request, if any (deterministic for a seed)."""
        settings = self.settings
        if settings.fault_rate <= 0:
            return None
        if self._rng.random() >= settings.fault_rate:
            return None
        return self._rng.choice(settings.kinds)

    def throttle(self, key: str) -> int | None:
        """Take a token from ``key``'s bucket; the ``Retry-After`` seconds when it is empty."""
        rate = self.settings.rate_limit
        if rate is None:
            return None
        now = time.monotonic()
        capacity = max(1.0, rate)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _drop_connection(scope: Scope, receive: Receive, send: Send) -> None:
    """Close the connection without answering."""
    transport = scope.get(TRANSPORT_KEY)
    if transport is not None:
        transport.abort()
        # Wait until the server notices, so it does not try to answer on a closed connection.
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    # No transport handle (another server): start a response and break it off.
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ConnectionAbortedError("injected dropped connection")


class GatewayMiddleware:
    """ASGI middleware checking both credentials and injecting faults (see module doc)."""

    def __init__(self, app: ASGIApp, state: EmulatorState, faults: FaultInjector) -> None:
        self.app = app
        self.state = state
        self.faults = faults

    def expected_issuer(self, scope: Scope) -> str:
        """The issuer tokens must carry: the tenant's v1.0 STS (API tokens are v1.0)."""
        return V1_ISSUER.format(tenant_id=self.state.directory.tenant_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._handle(scope, receive, tracking_send)
        except Exception:
            rid = request_id_of(scope)
            logger.exception(
                "Gateway failed on %s %s (request %s)", scope["method"], scope["path"], rid
            )
            if started:
                raise
            response = api_error(
                500,
                "InternalServerError",
                f"The emulator's gateway failed. Request id: {rid}.",
                rid,
                culprit="system",
            )
            await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id_of(scope)
        settings = self.faults.settings
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        fault = self.faults.draw_fault()
        if fault is not None:
            logger.info("Injecting fault %r into %s %s", fault, scope["method"], scope["path"])
        if fault == "throttle":
            seconds = settings.retry_after
            response = gateway_error(
                429,
                f"Rate limit is exceeded. Try again in {seconds} seconds.",
                rid,
                headers={"Retry-After": str(seconds)},
            )
            await response(scope, receive, send)
            return
        if fault == "unavailable":
            message = "The service is temporarily unavailable. Try again later."
            # The data (OData) endpoints answer errors as ODataError, the others ApiErrorResult.
            if "/data/" in scope["path"]:
                response = odata_error(503, "ServiceUnavailable", message, rid)
            else:
                response = api_error(503, "ServiceUnavailable", message, rid, culprit="system")
            response.headers["Retry-After"] = str(settings.retry_after)
            await response(scope, receive, send)
            return
        if fault == "drop":
            await _drop_connection(scope, receive, send)
            return
        if fault == "slow":
            await asyncio.sleep(settings.slow_seconds)

        key = _header(scope, b"ocp-apim-subscription-key")
        if key is None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            key = query.get("subscription-key", [None])[0]
        if not key:
            await gateway_error(401, MISSING_KEY_MESSAGE, rid)(scope, receive, send)
            return
        if key not in self.state.directory.subscription_keys:
            await gateway_error(401, INVALID_KEY_MESSAGE, rid)(scope, receive, send)
            return

        retry_after = self.faults.throttle(key)
        if retry_after is not None:
            response = gateway_error(
                429,
                f"Rate limit is exceeded. Try again in {retry_after} seconds.",
                rid,
                headers={"Retry-After": str(retry_after)},
            )
            await response(scope, receive, send)
            return

        principal = self._authenticate(scope)
        if isinstance(principal, str):
            challenge = (
                f'Bearer error="invalid_token", error_description="{principal}"'
                if principal
                else "Bearer"
            )
            response = gateway_error(
                401, INVALID_TOKEN_MESSAGE, rid, headers={"WWW-Authenticate": challenge}
            )
            await response(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)

    def _authenticate(self, scope: Scope) -> Principal | str:
        """The token's principal, or why it was rejected (empty when there is no token)."""
        authorization = _header(scope, b"authorization")
        if not authorization:
            return ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "The authorization header is not a bearer token."
        try:
            return self.state.tokens.validate_access_token(
                token.strip(), issuer=self.expected_issuer(scope)
            )
        except TokenError as exc:
            return exc.description
