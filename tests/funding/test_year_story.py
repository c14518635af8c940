"""The money year, told quarter by quarter with every fen asserted (issue 3).

Three units (A self-operated canteen, B outsourced canteen, C none), five staff, a
short payment, a late payment, a leaver with cash, a mid-quarter joiner, cross-unit
meals, a late offline payment after the quarter closed, four settlements with the fee
and quality bands, year-end clearing in both settings. The ledger is verified after
each step and every run is repeated to show the repeat changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from funding.city import BUREAU, OPERATOR_ACCOUNT, UNIT_ACCOUNTS, City, build_city
from onecard.audit import records as audit
from onecard.channels.bank import INCOME_ACCOUNT
from onecard.core.context import Context
from onecard.core.errors import DistributionExceedsFunds
from onecard.core.runs import RunResult
from onecard.funding import (
    distribution,
    notices,
    payouts,
    reconciliation,
    settlement,
    statements,
    year_end,
)

QUALITY = [(90, 10000), (80, 9800), (0, 9500)]


def twice(city: City, run: Callable[[], RunResult]) -> RunResult:
    """Run, verify the ledger, run again: the repeat must change nothing at all."""
    first = run()
    city.verified()
    before = city.snapshot()
    again = run()
    assert not again.changed, again
    counts, purses, _audits = city.snapshot()
    # A repeat may write its own audit row ("ran, found nothing to do"); nothing else.
    assert (counts, purses) == before[:2]
    city.verified()
    return first


def start_quarter(city: City, quarter: str, day: date) -> RunResult:
    city.at(day)
    return twice(city, lambda: notices.issue_notices(city.ctx, BUREAU, quarter))


def book_receipts(city: City, day: date) -> RunResult:
    city.at(day, 17)
    res = twice(city, lambda: notices.import_receipts(city.ctx, BUREAU, day))
    twice(city, lambda: notices.transfer_to_income(city.ctx, BUREAU))
    city.deliver()
    return res


def distribute(city: City, unit: str, quarter: str) -> RunResult:
    return twice(city, lambda: distribution.distribute(city.ctx, BUREAU, city.units[unit], quarter))


def week_of_meals(city: City, monday: date, diners_b: list[str]) -> None:
    """Five lunches: a1, a2 at A (own 300); B's staff at B (own 400); c1 visits A (500)
    on Mon/Wed/Fri and B (600) on Tue/Thu; on Monday b1 also buys 1234 fen at B's shop
    counter (an open amount)."""
    for d in range(5):
        day = monday + timedelta(days=d)
        city.lunch("a1", "A", day)
        city.lunch("a2", "A", day)
        for who in diners_b:
            city.lunch(who, "B", day)
        city.lunch("c1", "A" if d % 2 == 0 else "B", day)
        if d == 0:
            city.pay("b1", "B", amount=1234)


def settle(city: City, quarter: str, day: date) -> RunResult:
    city.at(day, 10)
    res = twice(city, lambda: settlement.settle_quarter(city.ctx, BUREAU, quarter))
    city.deliver()
    city.verified()
    return res


def line(res: RunResult, key: str, value: Any) -> dict[str, Any]:
    return next(ln for ln in res.lines if ln[key] == value)


@pytest.mark.parametrize("return_to", ["unit", "finance"])
def test_the_money_year(ctx: Context, return_to: str) -> None:
    ctx.settings = ctx.settings.model_copy(update={"year_end_return_to": return_to})
    city = build_city(ctx)
    B, C = city.units["B"], city.units["C"]

    # ---------------------------------------------------------------- Q1 ----------
    res = start_quarter(city, "2026Q1", date(2026, 1, 2))
    due = {ln["reference"]: ln["amount_due_fen"] for ln in res.lines}
    assert due == {"JF-U001-2026Q1": 105000, "JF-U002-2026Q1": 120000, "JF-U003-2026Q1": 30000}
    assert res.totals["amount_due_fen"] == 255000

    # A pays on time quoting its notice; C pays short; B pays late with no reference
    # (matched by its account).
    city.at(date(2026, 1, 8), 10)
    city.unit_pays("A", 105000, "JF-U001-2026Q1 一季度就餐经费")
    city.unit_pays("C", 20000, "JF-U003-2026Q1")
    book_receipts(city, date(2026, 1, 8))
    city.at(date(2026, 1, 12), 10)
    city.unit_pays("B", 120000, "医院一季度伙食费")
    res = book_receipts(city, date(2026, 1, 12))
    assert res.lines[0]["unit"] == "市人民医院" and res.lines[0]["late"] is True
    status = {s["reference"]: s for s in notices.notice_status(ctx, "2026Q1")}
    assert status["JF-U001-2026Q1"]["status"] == "paid" and not status["JF-U001-2026Q1"]["late"]
    assert status["JF-U002-2026Q1"]["status"] == "paid" and status["JF-U002-2026Q1"]["late"]
    assert status["JF-U003-2026Q1"]["status"] == "short"
    assert status["JF-U003-2026Q1"]["paid_fen"] == 20000
    assert city.system("dining_fund") == 0  # all passed on to the income line
    assert city.unit_account("A", "unit_income") == 105000
    assert city.bank.platform_balance("43050163360000000002") == 245000

    # Distribution: C paid 20000 of 30000 and is refused as a whole (nothing written).
    distribute(city, "A", "2026Q1")
    distribute(city, "B", "2026Q1")
    before = city.snapshot()
    with pytest.raises(DistributionExceedsFunds):
        distribution.distribute(ctx, BUREAU, C, "2026Q1")
    assert city.snapshot() == before
    dry = distribution.distribute(ctx, BUREAU, C, "2026Q1", dry_run=True)
    assert dry.totals["amount_fen"] == 30000 and dry.problems
    city.at(date(2026, 1, 20), 10)
    city.unit_pays("C", 10000, "JF-U003-2026Q1 补缴")
    book_receipts(city, date(2026, 1, 20))
    assert notices.notice_status(ctx, "2026Q1")[2]["status"] == "paid"
    distribute(city, "C", "2026Q1")
    assert [city.purse(k) for k in ("a1", "a2", "b1", "b2", "c1")] == [
        (60000, 0),
        (45000, 0),
        (60000, 0),
        (60000, 0),
        (30000, 0),
    ]
    assert city.unit_account("C", "unit_income") == 0

    # Own money: b2 and c1 top up from their savings cards.
    city.at(date(2026, 2, 1), 9)
    city.top_up("b2", 2000)
    city.top_up("c1", 1000)
    assert city.purse("b2") == (60000, 2000)

    week_of_meals(city, date(2026, 2, 2), ["b1", "b2"])
    # A: a1 5×300 + a2 5×300 + c1 3×500 = 4500; B: b1 5×400 + b2 5×400 + c1 2×600
    # + 1234 = 6434.
    assert city.payable("A") == 4500
    assert city.payable("B") == 6434

    settlement.set_quality_rule(ctx, BUREAU, city.canteens["B"], QUALITY)
    settlement.record_score(ctx, BUREAU, city.canteens["B"], "2026Q1", 92)
    res = settle(city, "2026Q1", date(2026, 4, 1))
    a, b = line(res, "canteen", "财政局机关食堂"), line(res, "canteen", "人民医院职工食堂")
    assert (a["gross_fen"], a["fee_fen"], a["withheld_fen"], a["net_fen"]) == (4500, 0, 0, 4500)
    # fee 0.5% × 6434 = 32.17 → 32; score 92 → 100 %.
    assert (b["gross_fen"], b["fee_fen"], b["withheld_fen"], b["net_fen"]) == (6434, 32, 0, 6402)
    assert city.bank.outside_balance(OPERATOR_ACCOUNT) == 6402
    assert city.payable("A") == city.payable("B") == 0
    assert city.system("fee_income") == 32

    # A late offline upload dated 31 March reaches us after Q1 closed: it is booked
    # into Q2 and settled there; Q1 never changes.
    city.at(date(2026, 3, 31), 12)
    city.pay("b1", "B", amount=400)
    with ctx.db.read() as conn:
        from sqlalchemy import select

        from onecard.ledger.models import JournalEntry

        last = conn.execute(
            select(JournalEntry.period).order_by(JournalEntry.id.desc()).limit(1)
        ).scalar_one()
    assert last == "2026Q2"
    assert settlement.period_closed(ctx, "2026Q1")

    # ---------------------------------------------------------------- Q2 ----------
    start_quarter(city, "2026Q2", date(2026, 4, 2))
    city.at(date(2026, 4, 7), 10)
    for u, amt in (("A", 105000), ("B", 120000), ("C", 30000)):
        city.unit_pays(u, amt, f"JF-{city.unit_codes[u]}-2026Q2")
    book_receipts(city, date(2026, 4, 7))
    for u in "ABC":
        distribute(city, u, "2026Q2")

    # b3 joins B on 20 April: May and June count (enrolled on the 15th) → 2/3 × 60000.
    city.at(date(2026, 4, 20), 9)
    city.add_person("b3", "B", "孙丽", 0, joined=date(2026, 4, 20))
    # b2 leaves on 10 May: all her subsidy goes back to B; her cash stays hers.
    city.at(date(2026, 5, 10), 9)
    b2_subsidy = 120000 - 5 * 400
    res = distribution.leave(ctx, BUREAU, city.people["b2"], date(2026, 5, 10))
    assert res.totals["subsidy_returned_fen"] == b2_subsidy
    again = distribution.leave(ctx, BUREAU, city.people["b2"], date(2026, 5, 10))
    assert not again.changed
    assert city.purse("b2") == (0, 2000)
    assert city.unit_account("B", "unit_income") == b2_subsidy
    res = distribute(city, "B", "2026Q2")
    assert res.totals["new_people"] == 1 and res.totals["amount_fen"] == 40000
    assert city.purse("b3") == (40000, 0)
    assert city.unit_account("B", "unit_income") == b2_subsidy - 40000
    # Her cash goes back to her bound savings card: the only payout to a person.
    res = twice(city, lambda: payouts.refund_leaver_cash(ctx, BUREAU, city.people["b2"]))
    city.deliver()
    assert res.totals["cash_fen"] == 2000
    assert city.purse("b2") == (0, 0)
    assert city.bank.outside_balance("62170000b2") == 100_000

    week_of_meals(city, date(2026, 5, 18), ["b1", "b3"])
    assert city.payable("B") == 6434 + 400  # with the late Q1 upload

    settlement.record_score(ctx, BUREAU, city.canteens["B"], "2026Q2", 85)
    res = settle(city, "2026Q2", date(2026, 7, 1))
    b = line(res, "canteen", "人民医院职工食堂")
    # 6834: fee 34.17 → 34; score 85 → 98 % of 6800 = 6664; 136 withheld back to B.
    assert (b["gross_fen"], b["fee_fen"], b["withheld_fen"], b["net_fen"]) == (6834, 34, 136, 6664)
    assert city.unit_account("B", "unit_returned") == 136

    # ---------------------------------------------------------------- Q3 ----------
    res = start_quarter(city, "2026Q3", date(2026, 7, 2))
    assert line(res, "reference", "JF-U002-2026Q3")["amount_due_fen"] == 120000  # b1 + b3
    city.at(date(2026, 7, 9), 10)
    for u, amt in (("A", 105000), ("B", 120000), ("C", 30000)):
        city.unit_pays(u, amt, f"JF-{city.unit_codes[u]}-2026Q3")
    book_receipts(city, date(2026, 7, 9))
    for u in "ABC":
        distribute(city, u, "2026Q3")
    week_of_meals(city, date(2026, 8, 3), ["b1", "b3"])
    settlement.record_score(ctx, BUREAU, city.canteens["B"], "2026Q3", 70)
    res = settle(city, "2026Q3", date(2026, 10, 1))
    b = line(res, "canteen", "人民医院职工食堂")
    # 6434: fee 32; score 70 → 95 % of 6402 = 6081.9 → 6082; 320 withheld.
    assert (b["gross_fen"], b["fee_fen"], b["withheld_fen"], b["net_fen"]) == (6434, 32, 320, 6082)

    # ---------------------------------------------------------------- Q4 ----------
    start_quarter(city, "2026Q4", date(2026, 10, 2))
    city.at(date(2026, 10, 9), 10)
    for u, amt in (("A", 105000), ("B", 120000), ("C", 30000)):
        city.unit_pays(u, amt, f"JF-{city.unit_codes[u]}-2026Q4")
    book_receipts(city, date(2026, 10, 9))
    for u in "ABC":
        distribute(city, u, "2026Q4")
    week_of_meals(city, date(2026, 11, 2), ["b1", "b3"])
    settlement.record_score(ctx, BUREAU, city.canteens["B"], "2026Q4", 95)

    # Year end: every subsidy purse to zero, cash untouched (balances on 31 December).
    city.at(date(2026, 12, 31), 18)
    expected = {
        "a1": 4 * 60000 - 4 * 1500,
        "a2": 4 * 45000 - 4 * 1500,
        "b1": 4 * 60000 - 4 * (2000 + 1234) - 400,
        "b3": 40000 + 2 * 60000 - 3 * 2000,
        "c1": 4 * 30000 - 4 * (3 * 500 + 2 * 600),
    }
    assert expected == {"a1": 234000, "a2": 174000, "b1": 226664, "b3": 154000, "c1": 109200}
    assert {k: city.purse(k)[0] for k in expected} == expected
    # The clearing comes after the year's last settlement (funding.calendar): the Q4
    # settlement on the first working days of January, then the clearing.
    res = settle(city, "2026Q4", date(2027, 1, 4))
    b = line(res, "canteen", "人民医院职工食堂")
    assert (b["gross_fen"], b["fee_fen"], b["withheld_fen"], b["net_fen"]) == (6434, 32, 0, 6402)
    assert city.system("fee_income") == 32 + 34 + 32 + 32
    assert city.bank.outside_balance(OPERATOR_ACCOUNT) == 6402 + 6664 + 6082 + 6402
    assert city.payable("A") == city.payable("B") == 0
    city.at(date(2027, 1, 4), 18)
    dry = year_end.clear_year(ctx, BUREAU, 2026, dry_run=True)
    assert dry.totals["amount_fen"] == 897864
    assert dry.totals["unit:市财政局"] == 408000
    assert dry.totals["unit:市人民医院"] == 380664
    assert dry.totals["unit:市档案馆"] == 109200
    assert city.purse("a1") == (234000, 0)  # the dry run moved nothing
    twice(city, lambda: year_end.clear_year(ctx, BUREAU, 2026))
    for k in expected:
        assert city.purse(k)[0] == 0
    assert city.purse("c1") == (0, 1000)  # own top-up kept
    if return_to == "unit":
        assert city.unit_account("A", "unit_returned") == 408000
        assert city.unit_account("B", "unit_returned") == 380664 + 136 + 320
        assert city.unit_account("C", "unit_returned") == 109200
        assert city.system("finance") == 0
    else:
        assert city.system("finance") == 897864
        assert city.unit_account("A", "unit_returned") == 0

    # What is owed back to the units is paid to their bank accounts from the income
    # account (year-end leftovers when they go to units, and the withheld parts).
    owed = {"A": 408000, "B": 380664 + 136 + 320, "C": 109200}
    if return_to == "finance":
        owed = {"B": 136 + 320}
    res = twice(city, lambda: payouts.return_to_units(ctx, BUREAU))
    city.deliver()
    assert res.totals["amount_fen"] == sum(owed.values())
    paid_in = {"A": 4 * 105000, "B": 4 * 120000, "C": 4 * 30000}
    canteen = {"A": 4 * 4500}  # A runs its canteen: its settlements are paid to A
    for u, acct in UNIT_ACCOUNTS.items():
        got = city.bank.outside_balance(acct)
        assert got == 10_000_000 - paid_in[u] + owed.get(u, 0) + canteen.get(u, 0)
        assert city.unit_account(u, "unit_returned") == 0
    # Left in the income account: B's undistributed 78000 (b2's returned subsidy less
    # b3's share), c1's own 1000, and in the finance setting what finance is owed.
    kept = 78000 + 1000 + (897864 if return_to == "finance" else 0)
    assert city.bank.platform_balance(INCOME_ACCOUNT) == kept
    assert city.unit_account("B", "unit_income") == 78000

    # ------------------------------------------------------------ statements -------
    doc = statements.unit_statement(ctx, B, "2026Q2")
    assert doc.figures["funds_in_fen"] == 120000
    assert doc.figures["distributed_fen"] == 160000  # b1, b2 at the start, b3 later
    assert doc.figures["consumed_home_fen"] == 2000 + 2000 + 1234 + 400
    assert doc.figures["leaver_returned_fen"] == b2_subsidy
    assert doc.figures["withheld_returned_fen"] == 136
    doc = statements.unit_statement(ctx, C, "2026Q1")
    assert doc.figures["funds_in_fen"] == 30000
    assert doc.figures["consumed_elsewhere_fen"] == 3 * 500 + 2 * 600
    doc = statements.canteen_statement(ctx, city.canteens["B"], "2026Q3")
    assert doc.figures == {"gross_fen": 6434, "fee_fen": 32, "withheld_fen": 320, "net_fen": 6082}
    assert statements.to_pdf(doc).startswith(b"%PDF")
    data = statements.to_xlsx(doc)
    assert data[:2] == b"PK"
    import io

    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    values = [c.value for row in ws.iter_rows() for c in row]
    assert "食堂结算单 2026Q3" in values and "60.82" in values  # net in yuan, as a fact
    money = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    assert 12.0 in money  # c1's two visitor lunches (1200 fen) as a number of yuan
    doc = statements.person_statement(ctx, city.people["c1"], 2026)
    assert doc.figures == {"subsidy_fen": 0, "cash_fen": 1000}

    # --------------------------------------------------------- reconciliation ------
    rec = reconciliation.reconcile_day(ctx, BUREAU, date(2026, 1, 8))
    assert rec.totals["bank_only"] == rec.totals["ledger_only"] == 0
    assert rec.totals["amount_mismatch"] == 0
    assert rec.totals["matched"] == rec.totals["lines"] > 0

    actions = {r["action"] for r in audit.records(ctx)}
    assert {"issue_notices", "import_receipts", "distribute", "settle", "year_end"} <= actions
