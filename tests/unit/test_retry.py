"""Retries, backoff, Retry-After, POST safety and the 401 refresh, over httpx.MockTransport."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from ci_toolkit import exceptions as exc
from ci_toolkit.auth.httpx_auth import TokenAuth
from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession, build_http_client
from ci_toolkit.resources.jobs import JobHandle

KEY = "subscr1ption-key-value"
Handler = Callable[[httpx.Request], httpx.Response]


class Tokens:
    """A token source counting refreshes."""

    def __init__(self) -> None:
        self.issued = 0
        self.forced = 0

    def get_token(self, *, force_refresh: bool = False, refused: str | None = None) -> str:
        if force_refresh:
            self.forced += 1
            self.issued += 1
        return f"eyJtoken.{self.issued}.sig"


def _session(
    handler: Handler,
    *,
    sleeps: list[float] | None = None,
    tokens: Tokens | None = None,
    **policy: object,
) -> ApiSession:
    client = build_http_client(
        base_url="https://api.example/v1",
        transport=httpx.MockTransport(handler),
        auth=TokenAuth(tokens or Tokens()),
        headers={"Ocp-Apim-Subscription-Key": KEY},
    )
    recorder = sleeps if sleeps is not None else []
    return ApiSession(
        client,
        retry_policy=RetryPolicy(sleep=recorder.append, **policy),  # type: ignore[arg-type]
        secrets=[KEY],
    )


def _copy(request: httpx.Request) -> httpx.Request:
    """A snapshot (the auth flow re-sends the same request object with a new header)."""
    return httpx.Request(request.method, request.url, headers=dict(request.headers))


def _sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(_copy(request))
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_get_retries_503_then_succeeds() -> None:
    handler, seen = _sequence(
        httpx.Response(503), httpx.Response(502), httpx.Response(200, json=[1])
    )
    sleeps: list[float] = []
    assert _session(handler, sleeps=sleeps).request_json("GET", "instances") == [1]
    assert len(seen) == 3
    assert len(sleeps) == 2
    assert all(0 < s <= 16.5 for s in sleeps)


def test_retry_after_is_honoured() -> None:
    throttled = httpx.Response(
        429, headers={"Retry-After": "3"}, json={"statusCode": 429, "message": "Rate limit"}
    )
    handler, seen = _sequence(throttled, httpx.Response(200, json={}))
    sleeps: list[float] = []
    _session(handler, sleeps=sleeps).request_json("GET", "instances")
    assert sleeps == [3.0]
    assert len(seen) == 2


def test_retry_after_beyond_the_cap_raises_throttled_at_once() -> None:
    handler, seen = _sequence(
        httpx.Response(
            429, headers={"Retry-After": "600"}, json={"statusCode": 429, "message": "x"}
        )
    )
    sleeps: list[float] = []
    with pytest.raises(exc.ThrottledError) as info:
        _session(handler, sleeps=sleeps).request_json("GET", "instances")
    assert info.value.retry_after == 600.0
    assert len(seen) == 1
    assert sleeps == []


def test_gives_up_after_max_attempts_with_mapped_error() -> None:
    handler, seen = _sequence(httpx.Response(504, json={"errorCode": "Timeout", "message": "slow"}))
    with pytest.raises(exc.ServiceError) as info:
        _session(handler, max_attempts=4).request_json("GET", "instances")
    assert len(seen) == 4
    assert info.value.status == 504
    assert info.value.error_code == "Timeout"


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    handler, _ = _sequence(httpx.Response(503))
    sleeps: list[float] = []
    with pytest.raises(exc.ServiceError):
        _session(
            handler, sleeps=sleeps, max_attempts=5, backoff_initial=1.0, jitter=0.5
        ).request_json("GET", "x")
    assert len(sleeps) == 4
    for n, slept in enumerate(sleeps):
        assert 2**n <= slept <= 2**n + 0.5


def test_post_is_not_resent_on_503_or_429() -> None:
    for status in (503, 429):
        handler, seen = _sequence(httpx.Response(status, headers={"Retry-After": "1"}))
        with pytest.raises(exc.ApiStatusError):
            _session(handler).request_json("POST", "instances/i/workflows/main/jobs")
        assert len(seen) == 1


def test_post_is_not_resent_after_a_read_failure() -> None:
    handler, seen = _sequence(httpx.ReadTimeout("read timed out"), httpx.Response(200, json={}))
    with pytest.raises(exc.ServiceUnreachableError):
        _session(handler).request_json("POST", "instances/i/workflows/main/jobs")
    assert len(seen) == 1


def test_post_is_resent_when_the_connection_failed_before_sending() -> None:
    handler, seen = _sequence(httpx.ConnectError("refused"), httpx.Response(200, json={"jobId": 1}))
    assert _session(handler).request_json("POST", "jobs") == {"jobId": 1}
    assert len(seen) == 2


def test_explicit_retry_true_allows_post_retries() -> None:
    handler, seen = _sequence(httpx.Response(503), httpx.Response(200, json={}))
    _session(handler).request_json("POST", "x", retry=True)
    assert len(seen) == 2


def test_get_retries_read_timeouts_then_raises_unreachable() -> None:
    handler, seen = _sequence(httpx.ReadTimeout("slow"))
    with pytest.raises(exc.ServiceUnreachableError, match=r"cannot reach api\.example") as info:
        _session(handler, max_attempts=3).request_json("GET", "instances")
    assert len(seen) == 3
    assert info.value.status is None


def test_401_refreshes_the_token_once_and_resends() -> None:
    tokens = Tokens()
    handler, seen = _sequence(
        httpx.Response(401, json={"message": "expired"}), httpx.Response(200, json=[])
    )
    assert _session(handler, tokens=tokens).request_json("GET", "instances") == []
    assert tokens.forced == 1
    assert [r.headers["Authorization"] for r in seen] == [
        "Bearer eyJtoken.0.sig",
        "Bearer eyJtoken.1.sig",
    ]


def test_persistent_401_is_raised_after_one_refresh() -> None:
    tokens = Tokens()
    handler, seen = _sequence(
        httpx.Response(401, json={"errorCode": "Unauthorized", "message": "no"})
    )
    with pytest.raises(exc.AuthenticationError, match="sign in again"):
        _session(handler, tokens=tokens).request_json("GET", "instances")
    assert len(seen) == 2
    assert tokens.forced == 1


def test_subscription_key_401_does_not_refresh_the_token() -> None:
    tokens = Tokens()
    body = {"statusCode": 401, "message": "Access denied due to invalid subscription key."}
    handler, seen = _sequence(httpx.Response(401, json=body))
    with pytest.raises(exc.AuthenticationError, match="CI_SUBSCRIPTION_KEY"):
        _session(handler, tokens=tokens).request_json("GET", "instances")
    assert len(seen) == 1
    assert tokens.forced == 0


def test_both_credentials_are_sent() -> None:
    handler, seen = _sequence(httpx.Response(200, json={}))
    _session(handler).request_json("GET", "instances")
    assert seen[0].headers["Ocp-Apim-Subscription-Key"] == KEY
    assert seen[0].headers["Authorization"].startswith("Bearer ")
    assert str(seen[0].url) == "https://api.example/v1/instances"


def test_next_link_on_another_origin_is_refused() -> None:
    handler, seen = _sequence(httpx.Response(200, json={}))
    session = _session(handler)
    session.request_json("GET", "https://api.example/v1/instances?$skiptoken=2")
    with pytest.raises(exc.CustomerInsightsError, match="Refusing to send credentials"):
        session.request_json("GET", "https://evil.example/v1/instances")
    assert len(seen) == 1


def test_requests_are_logged_at_debug_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = _sequence(
        httpx.Response(503), httpx.Response(200, json={}, headers={"x-ms-request-id": "rid-42"})
    )
    caplog.set_level(logging.DEBUG, logger="ci_toolkit")
    _session(handler).request_json("GET", "instances", params={"x": 1})
    text = caplog.text
    assert "GET /v1/instances -> 503" in text
    assert "GET /v1/instances -> 200 (request id rid-42" in text
    assert "retrying in" in text
    assert KEY not in text
    assert "eyJtoken" not in text


def test_empty_body_returns_none() -> None:
    handler, _ = _sequence(httpx.Response(204))
    assert _session(handler).request_json("DELETE", "instances/i/manage/segments/s") is None


def test_job_poll_rides_out_failed_polls_until_too_many_in_a_row() -> None:
    job_body = {"jobId": "j1", "jobStatus": "running", "tasks": []}
    done_body = {**job_body, "jobStatus": "successful"}
    handler, _ = _sequence(
        httpx.Response(503),
        httpx.Response(200, json=job_body),
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(200, json=done_body),
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(503),
    )
    session = _session(handler, max_attempts=1)
    job = JobHandle(session, "instances/i/workflows/main/jobs", job_body)

    assert job.poll() is False  # skipped, status kept
    assert job.status == "running"
    assert job.poll() is True  # a success resets the count of failures in a row
    assert [job.poll(), job.poll()] == [False, False]
    assert job.poll() is True
    assert job.status == "successful"
    assert [job.poll(), job.poll()] == [False, False]
    with pytest.raises(exc.ServiceError):
        job.poll()  # the third failed poll in a row is raised
