"""Cron expressions and time zones of workflow schedules (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ci_toolkit.emulator.workflows.cron import CronError, CronExpression
from ci_toolkit.emulator.workflows.timezones import is_supported, supported_timezones


def test_parse_fields() -> None:
    cron = CronExpression.parse("*/15 6-8 * jan,jul mon-fri")
    assert cron.minutes == (0, 15, 30, 45)
    assert cron.hours == (6, 7, 8)
    assert cron.months == frozenset({1, 7})
    assert cron.weekdays == frozenset({1, 2, 3, 4, 5})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0 6 * *", "expected 5"),
        ("61 6 * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 6 * * funday", "day-of-week"),
        ("0 6 5-1 * *", "backwards"),
        ("*/0 6 * * *", "step"),
        ("² 6 * * *", "minute"),  # str.isdigit() is true for "²", int() refuses it
        ("*/² 6 * * *", "step"),
        ("0 " + "9" * 5000 + " * * *", "hour"),  # longer than int() converts
    ],
)
def test_invalid_expressions_say_why(text: str, fragment: str) -> None:
    with pytest.raises(CronError, match=fragment):
        CronExpression.parse(text)


def test_occurrences_follow_the_time_zone_across_daylight_saving() -> None:
    cron = CronExpression.parse("0 6 * * *")
    start = datetime(2026, 3, 27, tzinfo=UTC)
    end = datetime(2026, 3, 31, tzinfo=UTC)
    hours = [m.hour for m in cron.occurrences(start, end, "Europe/Berlin")]
    # 06:00 in Berlin is 05:00 UTC before 29 March and 04:00 UTC after
    assert hours == [5, 5, 4, 4]


def test_day_of_month_or_day_of_week() -> None:
    cron = CronExpression.parse("0 0 1 * mon")
    start = datetime(2026, 6, 1, tzinfo=UTC)
    days = [m.day for m in cron.occurrences(start, datetime(2026, 7, 1, tzinfo=UTC), "UTC")]
    assert days == [1, 8, 15, 22, 29]  # 1 June 2026 is a Monday; both rules give Mondays + 1st


def test_next_after() -> None:
    cron = CronExpression.parse("30 3 * * *")
    moment = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)
    assert cron.next_after(moment, "UTC") == datetime(2026, 11, 24, 3, 30, tzinfo=UTC)


def test_supported_timezones_are_canonical_and_named_with_offsets() -> None:
    zones = supported_timezones()
    ids = [zone["id"] for zone in zones]
    assert len(ids) == len(set(ids)) > 200
    assert {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"} <= set(ids)
    assert "US/Pacific" not in ids
    names = {zone["id"]: zone["name"] for zone in zones}
    assert names["Asia/Kolkata"] == "(UTC+05:30) Asia/Kolkata"
    assert names["America/New_York"].startswith("(UTC-05:00)")
    assert is_supported("Europe/London")
    assert not is_supported("Mars/Olympus_Mons")
