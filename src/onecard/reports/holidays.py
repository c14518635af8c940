"""Working days of the Chinese calendar: statutory holidays and swapped working days
(调休), for the demand forecast (R-S4).

Contract: ``is_workday(d)`` says whether government offices work on ``d``. The source
is the ``chinese-calendar`` package (maintained from the State Council's yearly notices
on holiday arrangements; 1.11 covers 2004–2026). A year the package does not yet cover
falls back to Monday–Friday: the forecast then misses that year's holidays until the
package is upgraded after the State Council publishes the year's notice (usually in
November of the year before) — ``covered(d)`` tells a page to say so.
"""

from __future__ import annotations

from datetime import date

import chinese_calendar


def covered(d: date) -> bool:
    """Whether the package knows ``d``'s year's holiday arrangement."""
    try:
        chinese_calendar.is_workday(d)
    except NotImplementedError:
        return False
    return True


def is_workday(d: date) -> bool:
    """A working day: Monday–Friday unless a statutory holiday, or a weekend day the
    State Council made a working day (a swap)."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return d.weekday() < 5


def holiday_name(d: date) -> str | None:
    """The statutory holiday's English name (as the package gives it) on a day off that
    would otherwise be a weekday, or on a swapped working weekend day; else None."""
    if not covered(d):
        return None
    on_holiday, name = chinese_calendar.get_holiday_detail(d)
    weekend = d.weekday() >= 5
    if name is None or on_holiday == weekend:
        return None
    return str(name)
