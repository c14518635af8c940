"""City-wide runs written set-wise (``ledger.post_many``): distribution over every unit
in chunks of units, year-end clearing in chunks of purses — the same figures, the same
refusals and the same idempotency as one unit / one person at a time."""

from __future__ import annotations

from datetime import date

import pytest

from funding.city import BUREAU, City, build_city
from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.funding import distribution, year_end
from onecard.ledger import service
from onecard.ledger.service import Leg, account_id, post, system_account


@pytest.fixture
def city(ctx: Context) -> City:
    return build_city(ctx)


def fund_unit(city: City, unit: str, amount: int, tag: str = "") -> None:
    with city.ctx.db.begin() as conn:
        post(
            conn,
            region_id=city.region,
            kind="test_fund",
            key=f"unit-in:{unit}:{amount}:{tag}",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -amount),
                Leg(account_id(conn, "unit", city.units[unit], "unit_income"), amount),
            ],
            actor="test",
            booked_at=city.clock.now(),
        )


def give(city: City, key: str, subsidy: int) -> None:
    with city.ctx.db.begin() as conn:
        post(
            conn,
            region_id=city.region,
            kind="test_fund",
            key=f"give:{key}:{subsidy}:{city.clock.now().isoformat()}",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -subsidy),
                Leg(account_id(conn, "person", city.people[key], "subsidy"), subsidy),
            ],
            actor="test",
            booked_at=city.clock.now(),
        )


@pytest.mark.parametrize("chunk", [10_000, 2, 1])
def test_distribute_all_pays_funded_units_and_reports_short_ones(
    city: City, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chunk`` 1 or 2: a transaction per unit or so, and every read and write of the
    run split into many statements — with the same result."""
    monkeypatch.setattr(service, "IN_CHUNK", chunk)
    monkeypatch.setattr(service, "ARRAY_CHUNK", chunk)
    city.at(date(2026, 1, 10))
    city.issue("2026Q1")
    fund_unit(city, "A", 105000)
    fund_unit(city, "B", 120000)
    fund_unit(city, "C", 29999)
    dry = distribution.distribute_all(city.ctx, BUREAU, "2026Q1", dry_run=True)
    assert [r.dry_run for r in dry] == [True, True, True]
    assert [r.problems == [] for r in dry] == [True, True, False]
    seen: list[tuple[int, int]] = []
    runs = distribution.distribute_all(
        city.ctx, BUREAU, "2026Q1", progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (3, 3)
    assert [r.changed for r in runs] == [True, True, False]
    assert [r.dry_run for r in runs] == [False, False, True]
    # The short unit is reported exactly as its dry run (and distribute(dry_run)) does.
    short = distribution.distribute(city.ctx, BUREAU, city.units["C"], "2026Q1", dry_run=True)
    assert runs[2].as_dict() == dry[2].as_dict() == short.as_dict()
    assert "299.99 元" in runs[2].problems[0]  # yuan, as a person reads it
    for got, want in zip(runs[:2], dry[:2], strict=True):
        assert (got.totals, got.lines, got.scope) == (want.totals, want.lines, want.scope)
    assert runs[0].totals == {
        "people": 2,
        "new_people": 2,
        "amount_fen": 105000,
        "already_fen": 0,
        "available_fen": 105000,
    }
    assert [city.purse(k)[0] for k in ("a1", "a2", "b1", "b2", "c1")] == [
        60000,
        45000,
        60000,
        60000,
        0,
    ]
    assert [city.unit_account(u, "unit_income") for u in "ABC"] == [0, 0, 29999]
    recs = audit.records(city.ctx, "distribute")
    assert [(r["scope"], r["totals"]["amount_fen"]) for r in recs] == [
        ("2026Q1 市财政局", 105000),
        ("2026Q1 市人民医院", 120000),
    ]

    # Again: nobody is paid twice; a joiner (months from the 15th rule) is reached.
    before = city.snapshot()
    again = distribution.distribute_all(city.ctx, BUREAU, "2026Q1")
    assert [r.changed for r in again] == [False, False, False]
    assert city.snapshot()[:2] == before[:2]
    city.at(date(2026, 2, 20))
    city.add_person("a3", "A", "周杰", joined=date(2026, 2, 20))  # March only: 20000
    fund_unit(city, "A", 20000, "a3")
    again = distribution.distribute_all(city.ctx, BUREAU, "2026Q1")
    assert [r.changed for r in again] == [True, False, False]
    assert again[0].totals["new_people"] == 1 and again[0].totals["amount_fen"] == 20000
    assert again[0].totals["already_fen"] == 105000
    assert city.purse("a3") == (20000, 0)
    assert city.unit_account("A", "unit_income") == 0


@pytest.mark.parametrize("chunk", [10_000, 2])
def test_a_late_year_end_clears_what_the_purse_held_at_year_end(
    city: City, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (year_end, service):
        monkeypatch.setattr(module, "IN_CHUNK", chunk)
        monkeypatch.setattr(module, "ARRAY_CHUNK", chunk)
    city.at(date(2026, 6, 1), 9)
    give(city, "a1", 1000)
    give(city, "a2", 300)
    give(city, "b1", 700)
    give(city, "c1", 50)
    # Next year: a1 gets 500 and spends 1200 of the purse (more than the new money):
    # 300 is left, all of it 2026's; b1 gets 400 of 2027 money that stays.
    city.at(date(2027, 1, 5), 9)
    give(city, "a1", 500)
    give(city, "b1", 400)
    city.at(date(2027, 1, 5), 12)
    city.pay("a1", "A", amount=1200)
    city.settle_year(2026)
    seen: list[tuple[int, int]] = []
    res = year_end.clear_year(city.ctx, BUREAU, 2026, progress=lambda d, t: seen.append((d, t)))
    assert res.totals["people"] == 4 and res.totals["amount_fen"] == 300 + 300 + 700 + 50
    assert seen[-1] == (4, 4)
    assert [city.purse(k)[0] for k in ("a1", "a2", "b1", "c1")] == [0, 0, 400, 0]
    assert [city.unit_account(u, "unit_returned") for u in "ABC"] == [600, 700, 50]
    before = city.snapshot()
    assert not year_end.clear_year(city.ctx, BUREAU, 2026).changed
    assert city.snapshot()[:2] == before[:2]
