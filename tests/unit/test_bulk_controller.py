"""The AIMD concurrency controller, driven by a fake clock."""

from __future__ import annotations

import pytest

from ci_toolkit.bulk.controller import AimdController


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_slow_start_grows_to_the_ceiling_and_stays_there() -> None:
    c = AimdController(ceiling=10, initial=2, clock=Clock())
    for _ in range(5):
        c.on_success(0.05)
    assert c.limit == 7
    for _ in range(50):
        c.on_success(0.05)
    assert c.limit == 10
    assert c.peak == 10


def test_throttle_halves_pauses_for_retry_after_and_ends_slow_start() -> None:
    clock = Clock()
    c = AimdController(ceiling=16, initial=16, clock=clock)
    c.on_success(0.05)
    c.on_throttle(2.0)
    assert c.limit == 8
    assert c.pause_remaining() == pytest.approx(2.0)
    clock.now += 1.5
    assert c.pause_remaining() == pytest.approx(0.5)
    clock.now += 1.0
    assert c.pause_remaining() == 0.0
    # after congestion the growth is additive: about +1 per limit successes
    for _ in range(20):
        c.on_success(0.05)
    assert 9 <= c.limit <= 11  # slow start would have reached the ceiling (16)
    assert c.throttles == 1


def test_a_burst_of_throttles_in_one_round_trip_decreases_once() -> None:
    clock = Clock()
    c = AimdController(ceiling=16, initial=16, clock=clock)
    c.on_success(0.2)
    for _ in range(10):
        c.on_throttle(1.0)
    assert c.limit == 8
    clock.now += 0.3  # a round trip later the next signal counts again
    c.on_throttle(1.0)
    assert c.limit == 4


def test_errors_decrease_but_never_below_one() -> None:
    clock = Clock()
    c = AimdController(ceiling=4, initial=4, clock=clock)
    for _ in range(10):
        c.on_error()
        clock.now += 1
    assert c.limit == 1
    assert c.errors == 10
    assert c.pause_remaining() == 0.0


def test_rising_latency_counts_as_congestion() -> None:
    clock = Clock()
    c = AimdController(ceiling=20, initial=20, latency_factor=4.0, clock=clock)
    c.on_success(0.05)
    assert c.limit == 20
    clock.now += 1
    c.on_success(0.5)  # ten times slower than the fastest answer
    assert c.limit == 18
    off = AimdController(ceiling=20, initial=20, latency_factor=0, clock=clock)
    off.on_success(0.05)
    off.on_success(5.0)
    assert off.limit == 20


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_ceiling_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        AimdController(ceiling=bad)  # type: ignore[arg-type]
