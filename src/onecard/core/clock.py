"""The clock seam: every service asks a ``Clock`` for the time, never ``datetime.now``.

Contract: ``now()`` is a naive UTC datetime (the database stores naive UTC everywhere);
``to_local(dt)`` converts to the city's wall clock — the zone ``ONECARD_TIMEZONE``
(default Asia/Shanghai) — for meal windows, business dates and display, and
``local_text(dt)`` is the one way a time is written for a person to read (pages, Excel,
PDF). Tests inject a ``FixedClock`` and move it by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"
# What every time a person reads is written as: the day and the minute.
LOCAL_FORMAT = "%Y-%m-%d %H:%M"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def city_zone() -> ZoneInfo:
    """The configured city zone (``ONECARD_TIMEZONE``, validated with the settings)."""
    from onecard.core.config import get_settings  # settings import nothing from here

    return _zone(get_settings().timezone)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    def local_now(self) -> datetime:
        return to_local(self.now())

    def today(self) -> date:
        return self.local_now().date()


class FixedClock(Clock):
    """A clock that stands still until told to move (tests, demos, replays)."""

    def __init__(self, at: datetime) -> None:
        self._at = at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)

    def advance(self, **kwargs: float) -> None:
        self._at += timedelta(**kwargs)


class ReplayClock(FixedClock):
    """Stands still while history is replayed (the demo's quarter), then, once
    ``release()``-d, follows real time — so a sandbox built during the replay keeps
    working for the live server afterwards."""

    _released = False

    def now(self) -> datetime:
        return Clock.now(self) if self._released else super().now()

    def release(self) -> None:
        self._released = True


def to_local(utc_naive: datetime) -> datetime:
    """Naive UTC (or an aware datetime) -> naive city-local wall time."""
    aware = utc_naive if utc_naive.tzinfo else utc_naive.replace(tzinfo=UTC)
    return aware.astimezone(city_zone()).replace(tzinfo=None)


def from_local(local_naive: datetime) -> datetime:
    """Naive city-local wall time -> naive UTC."""
    return local_naive.replace(tzinfo=city_zone()).astimezone(UTC).replace(tzinfo=None)


def zone_label() -> str:
    """How a page names the zone its times are in: 北京时间, or the configured zone's name."""
    name = city_zone().key
    return "北京时间" if name == DEFAULT_ZONE else name


def local_text(value: Any, fmt: str = LOCAL_FORMAT) -> str:
    """A stored instant as a person reads it, in the city's zone: '2026-11-30 05:24'.

    ``value`` is a naive-UTC (or aware) datetime, or its ISO text as stored in JSON;
    None and "" give "". A ``date`` is a calendar day already and is written as is, and
    a ``time`` of day (a meal period's start) is city wall time already: its clock part
    of ``fmt`` ('07:00'), or ``fmt`` itself when that has no date part ('%H:%M:%S').
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return to_local(value).strftime(fmt)
    if isinstance(value, date):
        return value.strftime(fmt.split(" ")[0])
    if isinstance(value, time):
        return value.strftime(fmt.split(" ")[-1])
    raise TypeError(f"not a time: {value!r}")


def quarter_of(d: date) -> str:
    """'2026Q3' for any day in July–September 2026."""
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def next_quarter(q: str) -> str:
    year, n = int(q[:4]), int(q[5])
    return f"{year + 1}Q1" if n == 4 else f"{year}Q{n + 1}"


def previous_quarter(q: str) -> str:
    year, n = int(q[:4]), int(q[5])
    return f"{year - 1}Q4" if n == 1 else f"{year}Q{n - 1}"


def quarter_choices(today: date, back: int = 7) -> list[str]:
    """The quarters a person picks from: the next one, this one and the ``back`` before
    it — the last 8 and the next — newest first ('2027Q1', '2026Q4', …, '2025Q1')."""
    q = next_quarter(quarter_of(today))
    out = [q]
    for _ in range(back + 1):
        q = previous_quarter(q)
        out.append(q)
    return out


def quarter_bounds(q: str) -> tuple[date, date]:
    """First day of the quarter and first day of the next one (local dates)."""
    year, n = int(q[:4]), int(q[5])
    start = date(year, 3 * (n - 1) + 1, 1)
    end = date(year + 1, 1, 1) if n == 4 else date(year, 3 * n + 1, 1)
    return start, end
