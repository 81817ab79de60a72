"""Retries with exponential backoff and jitter (tenacity), honouring ``Retry-After``.

One policy for every request of a connection: :func:`send_with_retries` applies it to the
session's requests one at a time, and the parallel pulls of :mod:`ci_toolkit.bulk` apply the
same :class:`RetryPolicy` (:meth:`RetryPolicy.backoff`, :meth:`RetryPolicy.honours`,
``max_attempts``) to the requests they schedule themselves.

Policy
------
- Retried: 429, 502, 503, 504 and transport errors (connection refused or reset,
  timeouts; not a TLS certificate failure, which no retry fixes), up to ``max_attempts``
  attempts and ``max_elapsed`` seconds.
- Waits: the response's ``Retry-After`` when present (a 429 or 503 asking for more than
  ``max_retry_after`` seconds is not waited for: its ``ThrottledError`` / ``ServiceError``
  is raised with ``retry_after``), else exponential backoff with jitter.
- Only requests safe to repeat are re-sent: GET, PUT, DELETE (``retry=True``). A POST or
  PATCH (``retry=False``, e.g. a job submission) is re-sent only when the connection failed
  *before* the request went out (connect error, connect or pool timeout), never after a
  status or a read failure, so a job is never submitted twice.

Example
-------
>>> import httpx
>>> calls = []
>>> def send():
...     calls.append(1)
...     return httpx.Response(503 if len(calls) < 3 else 200)
>>> policy = RetryPolicy(sleep=lambda s: None)
>>> send_with_retries(send, method="GET", path="/x", retry=True, policy=policy).status_code
200
>>> len(calls)
3
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import tenacity

from ci_toolkit import _defaults
from ci_toolkit.exceptions import is_certificate_failure
from ci_toolkit.http.errors import retry_after_of

__all__ = ["NOT_SENT_ERRORS", "RetryPolicy", "send_with_retries"]

logger = logging.getLogger(__name__)

NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
"""Transport errors raised before any byte of the request reached the service."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry.

    Parameters
    ----------
    max_attempts
        Attempts in total, the first included (1 disables retries).
    max_elapsed
        No attempt starts after this many seconds.
    backoff_initial, backoff_max, jitter
        Exponential backoff: ``initial * 2**n`` capped at ``max``, plus up to ``jitter`` s.
    max_retry_after
        Longest ``Retry-After`` waited for.
    statuses
        Statuses retried.
    max_throttled_attempts
        Attempts of one request of a parallel pull answered with a throttle (429, 502, 503,
        504) before it gives up: there the pull's controller pauses or slows every request,
        so a throttle costs less than a failure of a request sent alone.
    sleep
        The sleep function (tests pass a recorder).

    Example
    -------
    >>> RetryPolicy(max_attempts=1).max_attempts
    1
    """

    max_attempts: int = _defaults.MAX_RETRY_ATTEMPTS
    max_elapsed: float = _defaults.MAX_RETRY_ELAPSED
    backoff_initial: float = _defaults.BACKOFF_INITIAL
    backoff_max: float = _defaults.BACKOFF_MAX
    jitter: float = _defaults.BACKOFF_JITTER
    max_retry_after: float = _defaults.MAX_RETRY_AFTER
    statuses: frozenset[int] = _defaults.RETRY_STATUSES
    max_throttled_attempts: int = _defaults.MAX_THROTTLED_ATTEMPTS
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed attempt in a row (the one formula).

        ``backoff_initial * 2**(failures - 1)``, capped at ``backoff_max``, plus up to
        ``jitter`` seconds.

        Example
        -------
        >>> RetryPolicy(backoff_initial=1, backoff_max=3, jitter=0).backoff(3)
        3.0
        """
        wait = min(self.backoff_max, self.backoff_initial * 2 ** max(0, failures - 1))
        return float(wait + random.uniform(0, self.jitter))

    def honours(self, retry_after: float | None) -> bool:
        """True when a ``Retry-After`` of this many seconds is waited for (the one rule).

        Longer waits are not: the request fails at once with its ``ThrottledError`` (or
        ``ServiceError``), whose ``retry_after`` says when to try again.

        Example
        -------
        >>> RetryPolicy().honours(90), RetryPolicy().honours(2), RetryPolicy().honours(None)
        (False, True, True)
        """
        return retry_after is None or retry_after <= self.max_retry_after


def send_with_retries(
    send: Callable[[], httpx.Response],
    *,
    method: str,
    path: str,
    retry: bool,
    policy: RetryPolicy,
) -> httpx.Response:
    """Call ``send`` until it gives a final answer, per the policy.

    Parameters
    ----------
    send
        Sends the request once and returns the (read) response.
    method, path
        For log lines.
    retry
        True when the request is safe to repeat (see the module docstring).
    policy
        The retry policy.

    Returns
    -------
    httpx.Response
        The last response (possibly an error status the caller turns into an exception).

    Raises
    ------
    httpx.TransportError
        The last transport error when every attempt failed to connect.

    Example
    -------
    >>> send_with_retries(lambda: httpx.Response(204), method="GET", path="/",
    ...                   retry=True, policy=RetryPolicy()).status_code
    204
    """

    def retry_status(response: httpx.Response) -> bool:
        if not retry or response.status_code not in policy.statuses:
            return False
        return policy.honours(retry_after_of(response))

    def retry_error(exc: BaseException) -> bool:
        if not isinstance(exc, httpx.TransportError) or is_certificate_failure(exc):
            return False
        return retry or isinstance(exc, NOT_SENT_ERRORS)

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            asked = retry_after_of(outcome.result())
            if asked is not None:
                return asked
        return policy.backoff(state.attempt_number)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        assert outcome is not None
        reason = (
            type(outcome.exception()).__name__
            if outcome.failed
            else f"status {outcome.result().status_code}"
        )
        delay = state.upcoming_sleep
        logger.log(
            logging.WARNING if delay >= 10 else logging.INFO,
            "%s %s: %s, retrying in %.1f s (attempt %d of %d)",
            method,
            path,
            reason,
            delay,
            state.attempt_number + 1,
            policy.max_attempts,
        )

    def give_up(state: tenacity.RetryCallState) -> httpx.Response:
        assert state.outcome is not None
        last: httpx.Response = state.outcome.result()  # or re-raises the last error
        return last

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts)
        | tenacity.stop_after_delay(policy.max_elapsed),
        wait=wait,
        retry=tenacity.retry_if_result(retry_status) | tenacity.retry_if_exception(retry_error),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
        reraise=True,
    )
    response: httpx.Response = retrying(send)
    return response
