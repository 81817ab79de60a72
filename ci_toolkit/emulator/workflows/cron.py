"""Five-field cron expressions (``minute hour day-of-month month day-of-week``) for schedules.

Supports ``*``, numbers, ranges ``a-b``, lists ``a,b``, steps ``*/n`` and ``a-b/n``, and
month and weekday names (``jan``, ``mon``). As in classic cron, when both day fields are
restricted a day matches if either does. Times are evaluated in the schedule's time zone.

Example
-------
>>> cron = CronExpression.parse("0 6 * * mon-fri")
>>> cron.hours, sorted(cron.weekdays)
((6,), [1, 2, 3, 4, 5])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ci_toolkit.emulator.numbers import parse_digits

__all__ = ["CronError", "CronExpression"]

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


class CronError(ValueError):
    """A cron expression that cannot be parsed; the message says which field is wrong."""


def _value(text: str, low: int, high: int, names: list[str] | None, field: str) -> int:
    lowered = text.lower()
    if names is not None and lowered in names:
        return names.index(lowered) + (1 if names is _MONTHS else 0)
    number = parse_digits(text)
    if number is None:
        raise CronError(f"{field}: {text!r} is not a number")
    if field == "day-of-week" and number == 7:
        number = 0
    if not low <= number <= high:
        raise CronError(f"{field}: {number} is outside {low}-{high}")
    return number


def _field(text: str, low: int, high: int, field: str, names: list[str] | None = None) -> set[int]:
    values: set[int] = set()
    top = 7 if field == "day-of-week" else high
    for part in text.split(","):
        if not part:
            raise CronError(f"{field}: empty list item in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            step = parse_digits(step_text) or 0
            if step == 0:
                raise CronError(f"{field}: step {step_text!r} must be a positive number")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _value(first, low, top, names, field)
            end = _value(last, low, top, names, field)
            if field == "day-of-week" and last == "7":
                end = 7
            if start > end:
                raise CronError(f"{field}: range {base!r} runs backwards")
        else:
            start = _value(base, low, top, names, field)
            end = high if step_text else start
        values.update(v % 7 if field == "day-of-week" else v for v in range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression; build it with :meth:`parse`."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse ``text``; raises :class:`CronError` with a readable message when invalid."""
        parts = text.split()
        if len(parts) != 5:
            raise CronError(
                f"{text!r} has {len(parts)} fields; expected 5 "
                "(minute hour day-of-month month day-of-week)"
            )
        minute, hour, day, month, weekday = parts
        return cls(
            text=text,
            minutes=tuple(sorted(_field(minute, 0, 59, "minute"))),
            hours=tuple(sorted(_field(hour, 0, 23, "hour"))),
            days=frozenset(_field(day, 1, 31, "day-of-month")),
            months=frozenset(_field(month, 1, 12, "month", _MONTHS)),
            weekdays=frozenset(_field(weekday, 0, 6, "day-of-week", _DAYS)),
            days_restricted=day != "*",
            weekdays_restricted=weekday != "*",
        )

    def matches_day(self, day: date) -> bool:
        """Whether the expression fires on ``day`` (a local date)."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def occurrences(self, start: datetime, end: datetime, timezone: str) -> Iterator[datetime]:
        """The firing times in ``[start, end)``, as UTC datetimes, oldest first.

        Parameters
        ----------
        start, end
            Aware datetimes bounding the window.
        timezone
            IANA key the expression is read in (``"UTC"``, ``"Europe/Berlin"``...).
        """
        zone = ZoneInfo(timezone)
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            if self.matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        local = datetime.combine(day, time(hour, minute), tzinfo=zone)
                        moment = local.astimezone(UTC)
                        if start <= moment < end:
                            yield moment
            day += timedelta(days=1)

    def next_after(self, moment: datetime, timezone: str) -> datetime | None:
        """The first firing time strictly after ``moment`` within about a year, in UTC."""
        window = moment + timedelta(seconds=1)
        for _ in range(4):
            upper = window + timedelta(days=100)
            for found in self.occurrences(window, upper, timezone):
                return found
            window = upper
        return None
