"""The offline limits: what a terminal may approve without the network (pure).

Contract: ``Limits`` are handed to a terminal in its working set (``as_dict``) and read
back from the version a record names (``from_dict``); ``over_limit`` is the one check,
run by the terminal before it approves (``terminals.simulator``) and by the server
before it applies (``terminals.service``) — the same arithmetic on both sides, so a
record the terminal approved honestly is never refused for a limit. It returns the
name of the first limit exceeded, or None:

- ``per_payment``: one payment's amount;
- ``person_day``: what one person paid on this terminal that local day, against their
  own limit in the working set (``person_day_limit``: the city's daily cap, no more than
  the purses held when the version was issued);
- ``unsent_amount`` / ``unsent_count``: the records taken and not yet uploaded,
  this one included;
- ``offline_hours``: time since the terminal last had its working set confirmed;
- ``meal_count``: a meal period's count per person per day (its ``per_person_limit``),
  counting the meals sold offline on this terminal (the meals had online that day are
  not known to a terminal without network).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

# Sizes for a canteen: a meal is a few yuan; a day without network is the worst case
# the bureau accepts before the terminal stops selling.
PER_PAYMENT_FEN = 3_000
PER_PERSON_DAY_FEN = 6_000
UNSENT_FEN = 300_000
UNSENT_COUNT = 500
OFFLINE_HOURS = 24
# How far ahead of the server's clock a terminal's clock may run.
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class Limits:
    per_payment_fen: int = PER_PAYMENT_FEN
    per_person_day_fen: int = PER_PERSON_DAY_FEN
    unsent_fen: int = UNSENT_FEN
    unsent_count: int = UNSENT_COUNT
    offline_hours: int = OFFLINE_HOURS

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Limits:
        return cls(**{k: int(data[k]) for k in cls().as_dict()})


def person_day_limit(limits: Limits, purses_fen: int) -> int:
    """A person's offline limit for a day: the cap, no more than their purses held."""
    return max(0, min(limits.per_person_day_fen, purses_fen))


@dataclass(frozen=True)
class Tally:
    """What came before a record on its terminal (not counting the record itself)."""

    person_day_fen: int  # this person, this local day, on this terminal
    unsent_fen: int  # records taken but not yet uploaded when this one was taken
    unsent_count: int
    meals_had: int = 0  # this person, this meal period, this local day, on this terminal


def over_limit(
    limits: Limits,
    *,
    amount_fen: int,
    person_limit_fen: int,
    tally: Tally,
    taken_at: datetime,
    synced_at: datetime,
    meal_limit: int = 0,
) -> str | None:
    """The first limit the record exceeds (see the module's contract), or None."""
    if amount_fen > limits.per_payment_fen:
        return "per_payment"
    if tally.person_day_fen + amount_fen > person_limit_fen:
        return "person_day"
    if tally.unsent_fen + amount_fen > limits.unsent_fen:
        return "unsent_amount"
    if tally.unsent_count + 1 > limits.unsent_count:
        return "unsent_count"
    if not synced_at <= taken_at <= synced_at + timedelta(hours=limits.offline_hours):
        return "offline_hours"
    if 0 < meal_limit <= tally.meals_had:
        return "meal_count"
    return None
