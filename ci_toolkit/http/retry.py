"""Retries with exponential backoff and jitter (tenacity), honouring ``Retry-After``.

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import tenacity

from ci_toolkit import _defaults
from ci_toolkit.http.errors import is_certificate_failure, retry_after_of

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
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


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
        wait = retry_after_of(response)
        return wait is None or wait <= policy.max_retry_after

    def retry_error(exc: BaseException) -> bool:
        if not isinstance(exc, httpx.TransportError) or is_certificate_failure(exc):
            return False
        return retry or isinstance(exc, NOT_SENT_ERRORS)

    backoff = tenacity.wait_exponential_jitter(
        multiplier=policy.backoff_initial, max=policy.backoff_max, jitter=policy.jitter
    )

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            asked = retry_after_of(outcome.result())
            if asked is not None:
                return asked
        return float(backoff(state))

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
