"""Time zones that workflow schedules accept (``TimezoneDetail``), taken from the IANA database.

The list holds the canonical zones of ``zone1970.tab`` (no legacy aliases such as
``US/Pacific``) plus ``UTC``, each named with its standard offset, e.g.
``{"id": "Europe/Berlin", "name": "(UTC+01:00) Europe/Berlin"}``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

__all__ = ["DEFAULT_TIMEZONE", "is_supported", "supported_timezones"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "UTC"
_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)


def _zone_table() -> str | None:
    """The text of ``zone1970.tab`` from the ``tzdata`` package or the system, if present."""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo/zone1970.tab").read_text("utf-8")
        return text
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        pass
    system = Path("/usr/share/zoneinfo/zone1970.tab")
    if system.is_file():
        return system.read_text(encoding="utf-8")
    return None


def _canonical_zones() -> set[str]:
    available = available_timezones()
    table = _zone_table()
    if table is None:
        logger.debug("zone1970.tab not found; filtering zoneinfo keys by region")
        return {key for key in available if key.startswith(_REGIONS)}
    zones = set()
    for line in table.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) >= 3 and fields[2] in available:
            zones.add(fields[2])
    return zones


def _standard_offset(zone: ZoneInfo, year: int) -> timedelta:
    """The zone's offset from UTC outside daylight saving time in ``year``."""
    offsets = []
    for month in (1, 7):
        moment = datetime(year, month, 1, 12, tzinfo=zone)
        if moment.dst() == timedelta(0):
            offsets.append(moment.utcoffset() or timedelta(0))
    if offsets:
        return min(offsets)
    return datetime(year, 1, 1, 12, tzinfo=zone).utcoffset() or timedelta(0)


def _label(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"(UTC{sign}{hours:02d}:{rest:02d})"


@cache
def _table(year: int) -> tuple[tuple[str, str], ...]:
    rows: list[tuple[timedelta, str]] = [(timedelta(0), DEFAULT_TIMEZONE)]
    for key in _canonical_zones():
        rows.append((_standard_offset(ZoneInfo(key), year), key))
    rows.sort()
    return tuple((key, f"{_label(offset)} {key.replace('_', ' ')}") for offset, key in rows)


def supported_timezones(*, year: int = 2026) -> list[dict[str, Any]]:
    """Every supported time zone as a ``TimezoneDetail`` dict, ordered by offset.

    Parameters
    ----------
    year
        Year whose standard offsets name the zones.

    Returns
    -------
    list[dict[str, Any]]
        ``{"id": "Europe/Berlin", "name": "(UTC+01:00) Europe/Berlin"}`` and so on.
    """
    return [{"id": key, "name": name} for key, name in _table(year)]


def is_supported(timezone_id: str) -> bool:
    """Whether schedules may use ``timezone_id`` (an IANA key such as ``Europe/Berlin``)."""
    return timezone_id == DEFAULT_TIMEZONE or timezone_id in _canonical_zone_set()


@cache
def _canonical_zone_set() -> frozenset[str]:
    return frozenset(_canonical_zones())
