"""The Chinese calendar of the forecast: statutory holidays and swapped working days
(the State Council's 2026 notice), and the Monday–Friday fallback past the package."""

from __future__ import annotations

from datetime import date

from onecard.reports.holidays import covered, holiday_name, is_workday


def test_national_day_is_off_and_its_swapped_saturday_is_worked() -> None:
    assert not is_workday(date(2026, 10, 1))  # a Thursday, National Day
    assert not is_workday(date(2026, 10, 7))  # a Wednesday, still the holiday
    assert is_workday(date(2026, 10, 10))  # a Saturday made a working day (调休)
    assert is_workday(date(2026, 9, 20))  # a Sunday made a working day
    assert is_workday(date(2026, 10, 8)) and not is_workday(date(2026, 10, 11))
    assert holiday_name(date(2026, 10, 1)) == "National Day"
    assert holiday_name(date(2026, 10, 10)) == "National Day"
    assert holiday_name(date(2026, 10, 8)) is None


def test_spring_festival_2026() -> None:
    assert not is_workday(date(2026, 2, 17))  # 春节, a Tuesday
    assert is_workday(date(2026, 2, 14))  # a Saturday worked


def test_a_year_the_package_does_not_know_falls_back_to_monday_to_friday() -> None:
    d = date(2031, 10, 1)  # a Wednesday
    assert not covered(d) and is_workday(d) and holiday_name(d) is None
    assert not is_workday(date(2031, 10, 4))
