"""Adaptive concurrency for bulk pulls: additive increase, multiplicative decrease (AIMD).

The controller decides how many page requests may be in flight. It starts small and grows
while responses are healthy (slow start: +1 per success, doubling per round trip, until the
first sign of congestion; then +1 per round trip), and halves on a 429, a 503 or a transport
failure, at most once per round trip. A response much slower than the fastest seen so far
(``latency_factor`` times) counts as congestion too, with a gentler decrease. A
``Retry-After`` pauses every new request until it has passed. The limit never leaves
``[1, ceiling]``.

It is thread-safe and takes its clock as a parameter, so tests drive it without sleeping.

Example
-------
>>> c = AimdController(ceiling=8, initial=2)
>>> c.limit
2
>>> c.on_success(0.05)
>>> c.limit
3
>>> c.on_throttle(1.0)
>>> c.limit, c.pause_remaining() > 0
(1, True)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["AimdController"]

logger = logging.getLogger(__name__)


class AimdController:
    """How many requests may be in flight, adapted to the service's answers.

    Parameters
    ----------
    ceiling : int
        The most requests ever in flight (``max_concurrency``).
    initial : int
        The limit to start from (capped at ``ceiling``).
    decrease : float
        Factor applied on a throttle or failure (0.5 halves).
    latency_factor : float
        A success slower than this many times the fastest one seen counts as congestion
        (0 turns latency signals off).
    clock : Callable[[], float]
        Monotonic seconds (``time.monotonic``; tests pass a fake).

    Examples
    --------
    >>> c = AimdController(ceiling=4, initial=4)
    >>> c.on_error()
    >>> c.limit
    2
    """

    def __init__(
        self,
        *,
        ceiling: int,
        initial: int = 2,
        decrease: float = 0.5,
        latency_factor: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 1:
            raise ValueError(f"max_concurrency must be an integer >= 1, got {ceiling!r}")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self.ceiling = ceiling
        self._window = float(max(1, min(initial, ceiling)))
        self._decrease = decrease
        self._latency_factor = latency_factor
        self._clock = clock
        self._lock = threading.Lock()
        self._slow_start = True
        self._fastest: float | None = None
        self._last_rtt = 0.0
        self._last_decrease = float("-inf")
        self._pause_until = float("-inf")
        self.throttles = 0
        self.errors = 0
        self.successes = 0
        self.peak = int(self._window)

    @property
    def limit(self) -> int:
        """Requests allowed in flight now (an integer in ``[1, ceiling]``)."""
        with self._lock:
            return int(self._window)

    def pause_remaining(self) -> float:
        """Seconds until new requests may start (0 when not paused by a ``Retry-After``)."""
        with self._lock:
            return max(0.0, self._pause_until - self._clock())

    def on_success(self, latency: float) -> None:
        """Record a healthy answer that took ``latency`` seconds."""
        with self._lock:
            self.successes += 1
            self._last_rtt = latency
            if self._fastest is None or latency < self._fastest:
                self._fastest = latency
            if (
                self._latency_factor > 0
                and self._fastest is not None
                and latency > self._latency_factor * self._fastest + 0.005
            ):
                self._decrease_locked(0.9, "latency %.0f ms" % (latency * 1000))
                return
            step = 1.0 if self._slow_start else 1.0 / self._window
            self._window = min(float(self.ceiling), self._window + step)
            self.peak = max(self.peak, int(self._window))

    def on_throttle(self, retry_after: float | None) -> None:
        """Record a 429: pause every request for ``retry_after`` seconds, halve the limit."""
        with self._lock:
            self.throttles += 1
            if retry_after is not None and retry_after > 0:
                self._pause_until = max(self._pause_until, self._clock() + retry_after)
            self._decrease_locked(self._decrease, "throttled")

    def on_error(self) -> None:
        """Record a transport failure (dropped connection, timeout): halve the limit."""
        with self._lock:
            self.errors += 1
            self._decrease_locked(self._decrease, "transport error")

    def _decrease_locked(self, factor: float, reason: str) -> None:
        now = self._clock()
        self._slow_start = False
        # One decrease per round trip: the answers of one burst are one signal.
        if now - self._last_decrease < max(self._last_rtt, 0.001):
            return
        self._last_decrease = now
        before = self._window
        self._window = max(1.0, self._window * factor)
        logger.debug("concurrency %.1f -> %.1f (%s)", before, self._window, reason)
