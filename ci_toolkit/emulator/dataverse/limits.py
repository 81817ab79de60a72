"""Dataverse's service protection limits, per user (DATAVERSE-NOTES section 9).

Three limits: the number of requests and their combined execution time over a sliding
window (6,000 requests and 1,200,000 ms per 300 s), and concurrent requests (52). A request
over a limit gets 429 with ``Retry-After`` in seconds and the limit's own error code. The
emulator counts only requests it admitted, so a client that waits ``Retry-After`` gets in.

Example
-------
>>> protection = ServiceProtection(ServiceProtectionLimits(requests=1))
>>> protection.admit("user", now=0.0) is None
True
>>> protection.finish("user", elapsed_ms=5.0, now=0.1)
>>> protection.admit("user", now=1.0).code
'0x80072322'
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from ci_toolkit.emulator.dataverse.errors import (
    CONCURRENCY_LIMIT,
    EXECUTION_TIME_LIMIT,
    REQUEST_LIMIT,
    DataverseError,
)

__all__ = ["ServiceProtection", "ServiceProtectionLimits"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceProtectionLimits:
    """The limits in force (Dataverse's defaults; configurable like ``--rate-limit``).

    Parameters
    ----------
    requests
        Requests per user per window.
    window_seconds
        Length of the sliding window.
    execution_ms
        Combined execution time per user per window, in milliseconds.
    concurrent
        Requests of one user in flight at once.
    """

    requests: int = 6_000
    window_seconds: float = 300.0
    execution_ms: float = 1_200_000.0
    concurrent: int = 52

    def __post_init__(self) -> None:
        if self.requests < 1 or self.concurrent < 1:
            raise ValueError("requests and concurrent must be at least 1")
        if self.window_seconds <= 0 or self.execution_ms <= 0:
            raise ValueError("window_seconds and execution_ms must be greater than 0")


@dataclass
class _Usage:
    starts: deque[float] = field(default_factory=deque)
    #: (finished at, milliseconds) of finished requests in the window.
    executions: deque[tuple[float, float]] = field(default_factory=deque)
    executed_ms: float = 0.0
    in_flight: int = 0


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class ServiceProtection:
    """The usage of each user and the decision to admit or throttle a request."""

    def __init__(self, limits: ServiceProtectionLimits | None = None) -> None:
        self.limits = limits or ServiceProtectionLimits()
        self._usage: dict[str, _Usage] = {}
        self._lock = threading.Lock()

    def configure(self, **changes: Any) -> ServiceProtectionLimits:
        """Replace some limits (validated) and forget the usage so far."""
        self.limits = replace(self.limits, **changes)
        with self._lock:
            self._usage.clear()
        return self.limits

    def admit(self, user: str, *, now: float) -> DataverseError | None:
        """Admit a request of ``user`` (``None``) or the 429 error to answer."""
        limits = self.limits
        window = limits.window_seconds
        with self._lock:
            usage = self._usage.setdefault(user, _Usage())
            while usage.starts and usage.starts[0] <= now - window:
                usage.starts.popleft()
            while usage.executions and usage.executions[0][0] <= now - window:
                usage.executed_ms -= usage.executions.popleft()[1]
            if usage.in_flight >= limits.concurrent:
                return _throttled(
                    CONCURRENCY_LIMIT,
                    f"Number of concurrent requests exceeded the limit of {limits.concurrent}.",
                    1,
                )
            if len(usage.starts) >= limits.requests:
                return _throttled(
                    REQUEST_LIMIT,
                    f"Number of requests exceeded the limit of {limits.requests} over time "
                    f"window of {_seconds(window)} seconds.",
                    usage.starts[0] + window - now,
                )
            if usage.executed_ms >= limits.execution_ms:
                return _throttled(
                    EXECUTION_TIME_LIMIT,
                    "Combined execution time of incoming requests exceeded limit of "
                    f"{limits.execution_ms:,.0f}  milliseconds over time window of "
                    f"{_seconds(window)} seconds. Decrease number of concurrent requests or "
                    "reduce the duration of requests and try again later.",
                    usage.executions[0][0] + window - now,
                )
            usage.starts.append(now)
            usage.in_flight += 1
        return None

    def finish(self, user: str, *, elapsed_ms: float, now: float) -> None:
        """Record that an admitted request of ``user`` ended after ``elapsed_ms``."""
        with self._lock:
            usage = self._usage.setdefault(user, _Usage())
            usage.in_flight = max(usage.in_flight - 1, 0)
            usage.executions.append((now, elapsed_ms))
            usage.executed_ms += elapsed_ms


def _throttled(code: str, message: str, retry_after: float) -> DataverseError:
    seconds = max(1, math.ceil(retry_after))
    logger.info("Dataverse service protection: %s (Retry-After %s s)", code, seconds)
    return DataverseError(429, code, message, headers={"Retry-After": str(seconds)})
