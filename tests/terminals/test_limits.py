"""The offline limits: the one check the till and the server both run."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from onecard.terminals.limits import Limits, Tally, over_limit, person_day_limit

SYNCED = datetime(2026, 3, 10, 4, 0)
SMALL = Limits(
    per_payment_fen=1_000,
    per_person_day_fen=2_000,
    unsent_fen=5_000,
    unsent_count=3,
    offline_hours=2,
)


@pytest.mark.parametrize(
    ("amount", "tally", "after", "meal_limit", "expected"),
    [
        (1_000, Tally(0, 0, 0), timedelta(minutes=5), 0, None),
        (1_001, Tally(0, 0, 0), timedelta(minutes=5), 0, "per_payment"),
        (500, Tally(1_600, 0, 0), timedelta(minutes=5), 0, "person_day"),
        (500, Tally(1_500, 0, 0), timedelta(minutes=5), 0, None),
        (900, Tally(0, 4_200, 2), timedelta(minutes=5), 0, "unsent_amount"),
        (100, Tally(0, 300, 3), timedelta(minutes=5), 0, "unsent_count"),
        (100, Tally(0, 300, 2), timedelta(hours=2, seconds=1), 0, "offline_hours"),
        (100, Tally(0, 300, 2), timedelta(hours=2), 0, None),
        (100, Tally(0, 0, 0), timedelta(seconds=-1), 0, "offline_hours"),
        (100, Tally(0, 0, 0, meals_had=1), timedelta(minutes=5), 1, "meal_count"),
        (100, Tally(0, 0, 0, meals_had=1), timedelta(minutes=5), 2, None),
    ],
)
def test_the_first_limit_exceeded_is_named(
    amount: int, tally: Tally, after: timedelta, meal_limit: int, expected: str | None
) -> None:
    got = over_limit(
        SMALL,
        amount_fen=amount,
        person_limit_fen=person_day_limit(SMALL, 10_000),
        tally=tally,
        taken_at=SYNCED + after,
        synced_at=SYNCED,
        meal_limit=meal_limit,
    )
    assert got == expected


def test_a_persons_day_limit_is_the_cap_but_never_more_than_they_held() -> None:
    assert person_day_limit(SMALL, 10_000) == 2_000
    assert person_day_limit(SMALL, 700) == 700
    assert person_day_limit(SMALL, -5) == 0
    assert Limits.from_dict(SMALL.as_dict()) == SMALL
