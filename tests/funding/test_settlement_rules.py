"""Settlement edge cases: fee rounding on tiny totals, quality bands, refusals that change
nothing, a failed payout put back and paid again, periods closing in order."""

from __future__ import annotations

from datetime import date

import pytest

from funding.city import BUREAU, OPERATOR_ACCOUNT, City, build_city
from onecard.core.context import Context
from onecard.core.errors import (
    BadQuarter,
    Forbidden,
    InvalidInput,
    MissingQualityScore,
    NotFound,
    PeriodClosed,
    PersonNotLeft,
    StateConflict,
)
from onecard.funding import distribution, payouts, settlement
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org.actors import Actor


@pytest.fixture
def city(ctx: Context) -> City:
    return build_city(ctx)


def give(city: City, key: str, subsidy: int) -> None:
    """Put subsidy in a purse the short way (the full route is in the year story)."""
    with city.ctx.db.begin() as conn:
        post(
            conn,
            region_id=city.region,
            kind="test_fund",
            key=f"give:{key}:{subsidy}",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -subsidy),
                Leg(account_id(conn, "person", city.people[key], "subsidy"), subsidy),
            ],
            actor="test",
            booked_at=city.clock.now(),
        )


@pytest.mark.parametrize(
    ("gross", "fee"),
    [(1, 0), (99, 0), (100, 1), (199, 1), (200, 1), (201, 1), (299, 1), (300, 2), (6434, 32)],
)
def test_fee_is_half_up_on_the_total(gross: int, fee: int) -> None:
    # 0.5 % of 1 = 0.005 → 0; of 199 = 0.995 → 1; of 201 = 1.005 → 1; of 300 = 1.5 → 2.
    assert settlement.platform_fee(gross, self_operated=False) == fee
    assert settlement.platform_fee(gross, self_operated=True) == 0


@pytest.mark.parametrize(("gross", "fee"), [(1, 0), (199, 1), (201, 1)])
def test_fee_edge_cases_through_a_real_settlement(city: City, gross: int, fee: int) -> None:
    city.top_up("a1", 1000)
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=gross)
    city.at(date(2026, 4, 1), 9)
    res = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    b = next(ln for ln in res.lines if ln["canteen"] == "人民医院职工食堂")
    assert (b["gross_fen"], b["fee_fen"], b["net_fen"]) == (gross, fee, gross - fee)
    city.deliver()
    assert city.bank.outside_balance(OPERATOR_ACCOUNT) == gross - fee
    assert city.system("fee_income") == fee
    city.verified()


@pytest.mark.parametrize(
    ("score", "share", "net", "withheld"),
    [
        (100, 10000, 9950, 0),
        (90, 10000, 9950, 0),
        (89, 9800, 9751, 199),
        (80, 9800, 9751, 199),
        (79, 9500, 9453, 497),
        (0, 9500, 9453, 497),
    ],
)
def test_quality_bands(city: City, score: int, share: int, net: int, withheld: int) -> None:
    # gross 10000: fee 50; 98 % of 9950 = 9751; 95 % of 9950 = 9452.5 → 9453.
    city.top_up("a1", 20000)
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=10000)
    settlement.set_quality_rule(
        city.ctx, BUREAU, city.canteens["B"], [(90, 10000), (80, 9800), (0, 9500)]
    )
    settlement.record_score(city.ctx, BUREAU, city.canteens["B"], "2026Q1", score)
    city.at(date(2026, 4, 1), 9)
    res = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    b = next(ln for ln in res.lines if ln["canteen"] == "人民医院职工食堂")
    assert (b["share_bp"], b["net_fen"], b["withheld_fen"]) == (share, net, withheld)
    assert city.unit_account("B", "unit_returned") == withheld
    city.deliver()


def test_missing_score_refuses_the_whole_run_and_nothing_changes(city: City) -> None:
    city.top_up("a1", 1000)
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=500)
    city.pay("a1", "A", amount=300)
    settlement.set_quality_rule(city.ctx, BUREAU, city.canteens["B"], [(0, 10000)])
    city.at(date(2026, 4, 1), 9)
    before = city.snapshot()
    dry = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1", dry_run=True)
    assert dry.problems and "尚未录入考核分数" in dry.problems[0]
    with pytest.raises(MissingQualityScore):
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert city.snapshot() == before
    assert not settlement.period_closed(city.ctx, "2026Q1")
    settlement.record_score(city.ctx, BUREAU, city.canteens["B"], "2026Q1", 95)
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    with pytest.raises(StateConflict):  # a settled quarter's score is final
        settlement.record_score(city.ctx, BUREAU, city.canteens["B"], "2026Q1", 50)
    city.deliver()


def test_bad_inputs_are_refused(city: City) -> None:
    before = city.snapshot()
    for q in ("2026Q5", "26Q1", "2026q1", ""):
        with pytest.raises(BadQuarter):
            settlement.settle_quarter(city.ctx, BUREAU, q)
    with pytest.raises(InvalidInput):
        settlement.set_quality_rule(city.ctx, BUREAU, city.canteens["B"], [(90, 10000)])
    with pytest.raises(InvalidInput):
        settlement.set_quality_rule(city.ctx, BUREAU, city.canteens["B"], [(0, 10001)])
    with pytest.raises(InvalidInput):
        settlement.record_score(city.ctx, BUREAU, city.canteens["B"], "2026Q1", 101)
    with pytest.raises(NotFound):
        settlement.record_score(city.ctx, BUREAU, 999, "2026Q1", 90)
    with pytest.raises(Forbidden):
        other = Actor("ua", grants=frozenset({("unit_admin", city.units["A"], None)}))
        settlement.record_score(city.ctx, other, city.canteens["B"], "2026Q1", 90)
    with pytest.raises(Forbidden):
        settlement.settle_quarter(city.ctx, Actor("nobody"), "2026Q1")
    city.at(date(2026, 10, 1))  # both quarters have ended: the order is what is refused
    with pytest.raises(PeriodClosed):  # quarters close in order
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q3")
    assert settlement.period_closed(city.ctx, "2026Q1")
    assert not settlement.period_closed(city.ctx, "2026Q3")
    with pytest.raises(PersonNotLeft):
        payouts.refund_leaver_cash(city.ctx, BUREAU, city.people["a1"])
    assert city.snapshot()[1] == before[1]


def test_a_failed_payout_is_put_back_then_paid_again(city: City) -> None:
    city.top_up("a1", 1000)
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=1000)
    # The operator's account was registered under a wrong name: the bank refuses.
    from sqlalchemy import update

    from onecard.org.models import Canteen

    with city.ctx.db.begin() as conn:
        conn.execute(
            update(Canteen).where(Canteen.id == city.canteens["B"]).values(operator_name="错名公司")
        )
    city.at(date(2026, 4, 1), 9)
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    city.deliver()
    from sqlalchemy import select

    from onecard.funding.models import Settlement

    with city.ctx.db.read() as conn:
        st = conn.execute(
            select(Settlement.__table__).where(Settlement.canteen_id == city.canteens["B"])
        ).one()
    assert st.status == "payout_failed"
    assert city.payable("B") == 995  # the net is back on the canteen's payable
    city.deliver()  # a repeated notification changes nothing
    assert city.payable("B") == 995
    with city.ctx.db.begin() as conn:
        conn.execute(
            update(Canteen)
            .where(Canteen.id == city.canteens["B"])
            .values(operator_name="郴州湘味餐饮管理有限公司")
        )
    res = payouts.retry_settlement_payout(city.ctx, BUREAU, st.id)
    assert res.changed and res.totals == {"net_fen": 995}
    city.deliver()
    assert city.payable("B") == 0
    assert city.bank.outside_balance(OPERATOR_ACCOUNT) == 995
    assert not payouts.retry_settlement_payout(city.ctx, BUREAU, st.id).changed
    # The next quarter's settlement does not count the put-back money as consumption.
    city.at(date(2026, 7, 1), 9)
    res = settlement.settle_quarter(city.ctx, BUREAU, "2026Q2")
    assert res.totals["gross_fen"] == 0
    city.verified()


def test_leaving_twice_on_different_days_is_refused(city: City) -> None:
    give(city, "a1", 700)
    res = distribution.leave(city.ctx, BUREAU, city.people["a1"], date(2026, 3, 1))
    assert res.totals["subsidy_returned_fen"] == 700
    with pytest.raises(StateConflict):
        distribution.leave(city.ctx, BUREAU, city.people["a1"], date(2026, 3, 2))
    assert city.unit_account("A", "unit_income") == 700
    # Nothing to refund: cash 0 → no bank order, no entry.
    assert not payouts.refund_leaver_cash(city.ctx, BUREAU, city.people["a1"]).changed


@pytest.mark.parametrize(
    ("joined", "left", "months"),
    [
        (None, None, 3),
        (date(2026, 1, 15), None, 3),
        (date(2026, 1, 16), None, 2),
        (date(2026, 2, 20), None, 1),
        (date(2026, 3, 16), None, 0),
        (None, date(2026, 2, 15), 1),
        (None, date(2026, 2, 16), 2),
        (date(2026, 2, 1), date(2026, 3, 1), 1),
    ],
)
def test_months_counted_by_the_15th(joined: date | None, left: date | None, months: int) -> None:
    assert distribution.months_enrolled("2026Q1", joined, left) == months


@pytest.mark.parametrize(
    ("std", "months", "amount"), [(60000, 2, 40000), (10000, 1, 3333), (20000, 1, 6667), (1, 2, 1)]
)
def test_prorate_half_up(std: int, months: int, amount: int) -> None:
    assert distribution.prorate(std, months) == amount


@pytest.mark.parametrize("chunk", [10_000, 1])
def test_a_late_year_end_clears_only_that_years_money(
    city: City, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chunk=1``: the purses' balances are read in many statements (a city has more
    purses than a statement may carry parameters), with the same result."""
    from onecard.funding import year_end

    monkeypatch.setattr(year_end, "IN_CHUNK", chunk)
    city.at(date(2026, 6, 1), 9)
    give(city, "a1", 1000)
    give(city, "b1", 700)
    city.at(date(2027, 1, 5), 9)
    give(city, "a1", 500)  # next year's money, booked in 2027Q1
    city.at(date(2027, 1, 6), 9)
    city.settle_year(2026)
    dry = year_end.clear_year(city.ctx, BUREAU, 2026, dry_run=True)
    assert dry.totals["amount_fen"] == 1700
    year_end.clear_year(city.ctx, BUREAU, 2026)
    assert city.purse("a1") == (500, 0) and city.purse("b1") == (0, 0)
    assert not year_end.clear_year(city.ctx, BUREAU, 2026).changed
    with pytest.raises(InvalidInput):
        year_end.clear_year(city.ctx, BUREAU, 1999)


def test_returning_withheld_money_to_a_unit(city: City) -> None:
    from sqlalchemy import update

    from onecard.org.models import Unit

    city.top_up("a1", 10000)
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=10000)
    settlement.set_quality_rule(city.ctx, BUREAU, city.canteens["B"], [(90, 10000), (0, 9500)])
    settlement.record_score(city.ctx, BUREAU, city.canteens["B"], "2026Q1", 50)
    city.at(date(2026, 4, 1), 9)
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    city.deliver()
    assert city.unit_account("B", "unit_returned") == 497
    ub = city.units["B"]
    with city.ctx.db.begin() as conn:  # no account on file: listed, nothing moves
        conn.execute(update(Unit).where(Unit.id == ub).values(bank_account=None))
    res = payouts.return_to_units(city.ctx, BUREAU)
    assert not res.changed and "未登记银行账户" in res.problems[0]
    with city.ctx.db.begin() as conn:  # an account under another name: the bank refuses
        conn.execute(
            update(Unit)
            .where(Unit.id == ub)
            .values(bank_account="43050100000000000102", name="旧名")
        )
    assert payouts.return_to_units(city.ctx, BUREAU).changed
    assert city.unit_account("B", "unit_returned") == 0
    city.deliver()
    assert city.unit_account("B", "unit_returned") == 497  # booked back
    with city.ctx.db.begin() as conn:
        conn.execute(update(Unit).where(Unit.id == ub).values(name="市人民医院"))
    dry = payouts.return_to_units(city.ctx, BUREAU, dry_run=True)
    assert dry.totals == {"units": 1, "amount_fen": 497}
    payouts.return_to_units(city.ctx, BUREAU)
    city.deliver()
    assert city.unit_account("B", "unit_returned") == 0
    assert city.bank.outside_balance("43050100000000000102") == 10_000_000 + 497
    assert not payouts.return_to_units(city.ctx, BUREAU).changed
    city.verified()


def test_a_canteen_without_a_payee_stops_the_settlement(city: City) -> None:
    from onecard.core.errors import MissingPayee
    from onecard.org import builders as b

    with city.ctx.db.begin() as conn:
        cid = b.create_canteen(
            conn,
            city.region,
            city.units["C"],
            "C003",
            "档案馆食堂",
            operation="outsourced",
            operator_name="某餐饮公司",
        )
        tid, _ = b.register_terminal(conn, city.region, cid, "T-C1", key="key-C1")
    from onecard.pay.service import TerminalIdentity

    city.terminals["C"] = TerminalIdentity(tid, "T-C1", city.region, cid)
    city.top_up("c1", 500)
    city.at(date(2026, 2, 3), 12)
    city.pay("c1", "C", amount=500)
    city.at(date(2026, 4, 1), 9)
    before = city.snapshot()
    dry = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1", dry_run=True)
    assert any("未登记经营者收款账户" in p for p in dry.problems)
    with pytest.raises(MissingPayee):
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert city.snapshot() == before and not settlement.period_closed(city.ctx, "2026Q1")


def test_a_failed_sweep_is_swept_again_on_retry(city: City) -> None:
    from sqlalchemy import select

    from onecard.channels.bank import INCOME_ACCOUNT
    from onecard.funding.models import BankOrder, Settlement

    give(city, "a1", 1000)  # ledger money only: the bank's income account is empty
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=1000)
    city.at(date(2026, 4, 1), 9)
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    city.deliver()
    with city.ctx.db.read() as conn:
        st = conn.execute(select(Settlement.__table__)).all()
        st_b = next(s for s in st if s.canteen_id == city.canteens["B"])
        failed = (
            conn.execute(
                select(BankOrder.kind).where(BankOrder.status == "failed").order_by(BankOrder.id)
            )
            .scalars()
            .all()
        )
    assert st_b.status == "payout_failed" and failed == ["sweep", "settlement"]
    assert city.payable("B") == 995
    city.bank.credit_from_outside("43050100000000000102", INCOME_ACCOUNT, 1000, "补足")
    payouts.retry_settlement_payout(city.ctx, BUREAU, st_b.id)
    city.deliver()
    assert city.bank.outside_balance(OPERATOR_ACCOUNT) == 995
    assert city.payable("B") == 0
    city.verified()


def test_score_bands_are_read_exactly_as_people_type_them() -> None:
    assert settlement.parse_bands("90:100, 80:98.55；0：95") == [(90, 10000), (80, 9855), (0, 9500)]
    for bad in ("90-100", "x:100", "90:abc", "90:98.555"):
        with pytest.raises(InvalidInput):
            settlement.parse_bands(bad)
