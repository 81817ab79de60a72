"""Service protection: each limit, its code and Retry-After, on a fake clock."""

from __future__ import annotations

import pytest

from ci_toolkit.emulator.dataverse.limits import ServiceProtection, ServiceProtectionLimits


def test_requests_slide_out_of_the_window() -> None:
    protection = ServiceProtection(ServiceProtectionLimits(requests=2, window_seconds=10))
    for now in (0.0, 4.0):
        assert protection.admit("u", now=now) is None
        protection.finish("u", elapsed_ms=1, now=now)
    error = protection.admit("u", now=5.0)
    assert error is not None
    assert (error.status, error.code, error.headers["Retry-After"]) == (429, "0x80072322", "5")
    assert protection.admit("other", now=5.0) is None  # per user
    assert protection.admit("u", now=10.5) is None  # the first one left the window


def test_execution_time_and_concurrency() -> None:
    protection = ServiceProtection(
        ServiceProtectionLimits(execution_ms=100, concurrent=1, window_seconds=60)
    )
    assert protection.admit("u", now=0.0) is None
    busy = protection.admit("u", now=0.1)
    assert busy is not None
    assert busy.code == "0x80072326"
    assert busy.message == "Number of concurrent requests exceeded the limit of 1."
    protection.finish("u", elapsed_ms=150, now=1.0)
    slow = protection.admit("u", now=2.0)
    assert slow is not None
    assert slow.code == "0x80072321"
    assert "exceeded limit of 100  milliseconds over time window of 60 seconds" in slow.message
    assert slow.headers["Retry-After"] == "59"
    assert protection.admit("u", now=61.5) is None


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ServiceProtectionLimits(requests=0)
    protection = ServiceProtection()
    assert protection.configure(concurrent=3).concurrent == 3
    with pytest.raises(ValueError, match="greater than 0"):
        protection.configure(window_seconds=0)
