"""Reconciliation: a day's bank statement against our records. Every line is matched or
listed as a discrepancy for a person; nothing is corrected automatically."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from funding.city import BUREAU, City, build_city
from onecard.audit import records as audit
from onecard.channels.bank import DINING_FUND_ACCOUNT
from onecard.channels.statement import parse_statement_file, render_statement_file
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, StateConflict
from onecard.funding import notices, reconciliation
from onecard.funding.models import FundingNotice
from onecard.org.actors import Actor

FINANCE = Actor("fin", grants=frozenset({("finance", None, None)}))

DAY = date(2026, 1, 8)


@pytest.fixture
def city(ctx: Context) -> City:
    c = build_city(ctx)
    c.at(date(2026, 1, 2))
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    c.at(DAY, 10)
    c.unit_pays("A", 105000, "JF-U001-2026Q1")
    c.top_up("b1", 5000)
    c.at(DAY, 17)
    notices.import_receipts(ctx, BUREAU, DAY)
    notices.transfer_to_income(ctx, BUREAU)
    c.deliver()
    return c


def test_a_clean_day_matches_every_line(city: City) -> None:
    res = reconciliation.reconcile_day(city.ctx, BUREAU, DAY)
    # Unit credit, top-up credit, the transfer out of the dining fund and into income.
    assert res.totals["lines"] == 4
    assert res.totals["matched"] == 4
    assert res.totals["credit_fen"] == 105000 + 5000 + 105000
    assert res.totals["debit_fen"] == 105000
    assert not res.problems


def test_discrepancies_are_listed_and_nothing_is_corrected(city: City) -> None:
    lines = parse_statement_file(city.bank.statement_file(DAY))
    topup_line = next(ln for ln in lines if "充值" in ln.memo)
    unit_line = next(ln for ln in lines if ln.memo.startswith("JF-"))
    from dataclasses import replace

    tampered = [
        replace(unit_line, amount_fen=104999),  # amount differs
        replace(topup_line, serial="X1", memo="不明来款", amount_fen=777),  # bank only
    ] + [ln for ln in lines if ln not in (unit_line, topup_line)]  # the top-up line is missing
    before = city.snapshot()
    res = reconciliation.reconcile_day(city.ctx, BUREAU, DAY, render_statement_file(tampered))
    got = sorted((i["status"], i["bank_fen"], i["ledger_fen"]) for i in res.lines)
    assert got == [
        ("amount_mismatch", 104999, 105000),
        ("bank_only", 777, None),
        ("ledger_only", None, 5000),
        ("matched", 105000, 105000),
        ("matched", 105000, 105000),
    ]
    assert len(res.problems) == 3 and any("金额不符" in p for p in res.problems)
    counts, purses, _ = city.snapshot()
    assert (counts, purses) == before[:2]


def test_bad_files_and_rights(city: City) -> None:
    with pytest.raises(InvalidInput):
        reconciliation.reconcile_day(city.ctx, BUREAU, DAY, b"not,a,statement\r\n")
    with pytest.raises(Forbidden):
        reconciliation.reconcile_day(city.ctx, Actor("nobody"), DAY)
    auditor = Actor("audit", grants=frozenset({("auditor", None, None)}))
    assert reconciliation.reconcile_day(city.ctx, auditor, DAY).totals["matched"] == 4


def test_an_unmatched_credit_stays_in_the_dining_fund(city: City) -> None:
    city.bank.open_outside_account("99990000", "某不明单位", 50000)
    city.at(date(2026, 1, 9), 10)
    city.bank.credit_from_outside("99990000", DINING_FUND_ACCOUNT, 1234, "伙食费")
    city.at(date(2026, 1, 9), 17)
    res = notices.import_receipts(city.ctx, BUREAU, date(2026, 1, 9))
    assert res.totals["unmatched"] == 1 and "未能匹配" in res.problems[0]
    assert notices.transfer_to_income(city.ctx, BUREAU).totals["receipts"] == 0
    assert city.system("dining_fund") == 1234
    rec = reconciliation.reconcile_day(city.ctx, BUREAU, date(2026, 1, 9))
    assert (rec.totals["matched"], rec.totals["unclaimed"]) == (0, 1)
    assert rec.problems == [
        f"未认领来款：单位来款 某不明单位 伙食费 {rec.lines[0]['ref']} 银行 12.34 元 / 系统 12.34 元"
    ]
    # A person finds out it is unit C's money and says so; the next transfer passes it on.
    serial = res.lines[0]["serial"]
    assert notices.assign_receipt(city.ctx, BUREAU, serial, city.units["C"]).changed
    again = reconciliation.reconcile_day(city.ctx, BUREAU, date(2026, 1, 9))
    assert again.changed and (again.totals["matched"], again.problems) == (1, [])
    assert not notices.assign_receipt(city.ctx, BUREAU, serial, city.units["C"]).changed
    with pytest.raises(StateConflict):
        notices.assign_receipt(city.ctx, BUREAU, serial, city.units["A"])
    with pytest.raises(NotFound):
        notices.assign_receipt(city.ctx, BUREAU, "nope", city.units["A"])
    status = {s["reference"]: s for s in notices.notice_status(city.ctx, "2026Q1")}
    assert status["JF-U003-2026Q1"]["paid_fen"] == 1234
    assert status["JF-U003-2026Q1"]["status"] == "short"
    assert notices.transfer_to_income(city.ctx, BUREAU).totals["amount_fen"] == 1234
    city.deliver()
    assert city.system("dining_fund") == 0
    assert city.unit_account("C", "unit_income") == 1234


def test_over_and_unpaid_notices(city: City) -> None:
    city.at(date(2026, 1, 9), 10)
    city.unit_pays("B", 130000, "JF-U002-2026Q1")
    city.at(date(2026, 1, 11), 10)  # after the due date: C has paid nothing
    notices.import_receipts(city.ctx, BUREAU, date(2026, 1, 9))
    got = {
        s["reference"]: (s["status"], s["late"]) for s in notices.notice_status(city.ctx, "2026Q1")
    }
    assert got == {
        "JF-U001-2026Q1": ("paid", False),
        "JF-U002-2026Q1": ("over", False),
        "JF-U003-2026Q1": ("unpaid", True),
    }


# --- reading the statement in (the page's upload, ``onecard bank statement``) -----------
def test_a_statement_upload_books_receipts_and_reconciles(ctx: Context) -> None:
    c = build_city(ctx)
    c.at(date(2026, 1, 2))
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    c.at(DAY, 10)
    c.unit_pays("A", 105000, "JF-U001-2026Q1")
    c.bank.open_outside_account("99990000", "某不明单位", 50000)
    c.bank.credit_from_outside("99990000", DINING_FUND_ACCOUNT, 1234, "伙食费")
    c.at(DAY, 17)
    got = reconciliation.import_statement(ctx, BUREAU, c.bank.statement_xlsx(DAY), "明细.xlsx")
    assert (got.lines, got.new_lines, got.changed, got.settled) == (2, 2, True, 0)
    [day] = got.days
    assert day.changed and (day.totals["matched"], day.totals["unclaimed"]) == (1, 1)
    assert got.needs_a_person
    unclaimed = next(i for i in day.lines if i["status"] == "unclaimed")
    # The clearing operator says it pays unit C's notice; the day then reconciles clean.
    with ctx.db.read() as conn:
        notice = conn.execute(
            select(FundingNotice.id).where(FundingNotice.reference == "JF-U003-2026Q1")
        ).scalar_one()
    res = notices.assign_receipt(ctx, BUREAU, unclaimed["serial"], c.units["C"], notice)
    assert res.changed
    with pytest.raises(InvalidInput):  # a notice of another unit
        notices.assign_receipt(ctx, BUREAU, unclaimed["serial"], c.units["A"], notice)
    status = {s["reference"]: s["paid_fen"] for s in notices.notice_status(ctx, "2026Q1")}
    assert status["JF-U003-2026Q1"] == 1234
    # The same file again (and as CSV) changes nothing; the day now reconciles clean.
    snap = c.snapshot()
    for data, name in (
        (c.bank.statement_xlsx(DAY), "明细.xlsx"),
        (c.bank.statement_file(DAY), "s.csv"),
    ):
        again = reconciliation.import_statement(ctx, BUREAU, data, name)
        assert not again.changed and again.receipts == []
    assert again.days[0].problems == [] and not again.needs_a_person
    assert c.snapshot()[:2] == snap[:2]


def test_the_first_reconciliation_of_a_day_is_recorded_and_a_repeat_is_not(city: City) -> None:
    first = reconciliation.reconcile_day(city.ctx, BUREAU, DAY)
    again = reconciliation.reconcile_day(city.ctx, BUREAU, DAY)
    assert (first.changed, again.changed) == (True, False)
    assert [r["scope"] for r in audit.records(city.ctx, "reconcile")] == [DAY.isoformat()]
    with pytest.raises(Forbidden):
        reconciliation.import_statement(city.ctx, FINANCE, city.bank.statement_file(DAY))
    with pytest.raises(InvalidInput):
        reconciliation.import_statement(city.ctx, BUREAU, render_statement_file([]), "empty.csv")
