"""Two admins start the same run at the same moment (PostgreSQL): one does the work, the
other finds it done — no error, nothing paid twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

import pytest

from funding.city import BUREAU, City, build_city
from onecard.core.context import Context
from onecard.core.runs import RunResult
from onecard.funding import distribution, settlement, year_end
from onecard.ledger.service import Leg, account_id, post, system_account


@pytest.fixture
def city(pg_ctx: Context) -> City:
    c = build_city(pg_ctx)
    with pg_ctx.db.begin() as conn:
        post(
            conn,
            region_id=c.region,
            kind="test_fund",
            key="unit-a-funds",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -105000),
                Leg(account_id(conn, "unit", c.units["A"], "unit_income"), 105000),
            ],
            actor="test",
            booked_at=c.clock.now(),
        )
    return c


def race(run: Callable[[], RunResult]) -> list[RunResult]:
    barrier = threading.Barrier(2)
    results: list[RunResult] = []
    errors: list[BaseException] = []

    def go() -> None:
        barrier.wait()
        try:
            results.append(run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_simultaneous_runs_do_the_work_once(city: City) -> None:
    ctx = city.ctx
    city.at(date(2026, 1, 12))
    city.issue("2026Q1")
    got = race(lambda: distribution.distribute(ctx, BUREAU, city.units["A"], "2026Q1"))
    assert sorted(r.changed for r in got) == [False, True]
    assert city.purse("a1") == (60000, 0) and city.purse("a2") == (45000, 0)

    city.lunch("a1", "B", date(2026, 2, 3))
    city.at(date(2026, 4, 1), 9)
    got = race(lambda: settlement.settle_quarter(ctx, BUREAU, "2026Q1"))
    assert sorted(r.changed for r in got) == [False, True]
    assert all(r.totals["gross_fen"] == 600 for r in got)
    city.deliver()

    city.at(date(2027, 1, 4), 9)  # after the year's Q4 settlement
    city.settle_year(2026)
    got = race(lambda: year_end.clear_year(ctx, BUREAU, 2026))
    assert sorted(r.changed for r in got) == [False, True]
    assert city.unit_account("A", "unit_returned") == 60000 - 600 + 45000
    city.verified()
