"""The clock seam: every service asks a ``Clock`` for the time, never ``datetime.now``.

Contract: ``now()`` is a naive UTC datetime (the database stores naive UTC everywhere);
``local(dt)`` converts to the city's wall clock (Asia/Shanghai) for meal windows,
business dates and display. Tests inject a ``FixedClock`` and move it by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Asia/Shanghai")


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
    """Naive UTC -> naive city-local wall time."""
    return utc_naive.replace(tzinfo=UTC).astimezone(CITY_TZ).replace(tzinfo=None)


def from_local(local_naive: datetime) -> datetime:
    """Naive city-local wall time -> naive UTC."""
    return local_naive.replace(tzinfo=CITY_TZ).astimezone(UTC).replace(tzinfo=None)


def quarter_of(d: date) -> str:
    """'2026Q3' for any day in July–September 2026."""
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def next_quarter(q: str) -> str:
    year, n = int(q[:4]), int(q[5])
    return f"{year + 1}Q1" if n == 4 else f"{year}Q{n + 1}"


def quarter_bounds(q: str) -> tuple[date, date]:
    """First day of the quarter and first day of the next one (local dates)."""
    year, n = int(q[:4]), int(q[5])
    start = date(year, 3 * (n - 1) + 1, 1)
    end = date(year + 1, 1, 1) if n == 4 else date(year, 3 * n + 1, 1)
    return start, end
