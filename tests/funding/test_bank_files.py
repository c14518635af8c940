"""The file exchange (ONECARD_BANK=files): OneCard writes batch files, the bank's online
banking (played by the sandbox) executes them and answers with a return file and its
statement; every order's state follows from those files exactly once, whatever order
they arrive in."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select, update

from funding.city import BUREAU, OPERATOR_ACCOUNT, City, build_city
from onecard.channels import bankfiles
from onecard.channels.bank import DINING_FUND_ACCOUNT, gateway
from onecard.channels.files import FileExchangeBank
from onecard.channels.models import BankFile, BankFileOrder, BankStatementLine
from onecard.channels.sandbox import SandboxBank
from onecard.channels.statement import parse_statement_file, render_statement_file
from onecard.core.context import Context
from onecard.core.errors import (
    Forbidden,
    IdempotencyConflict,
    ImportRejected,
    NoCallbacks,
    StatementMissing,
)
from onecard.funding import bank_files, notices, reconciliation, settlement
from onecard.funding.models import BankOrder, Settlement
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org.actors import Actor
from onecard.org.models import Canteen
from onecard.pay import topup
from onecard.pay.models import TopupOrder

DAY = date(2026, 1, 8)
FINANCE = Actor("fin", grants=frozenset({("finance", None, None)}))


class FilesCity:
    """The money-year city with the file adapter; ``online`` is the bank's side."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.online: SandboxBank = city.bank
        city.ctx.bank = FileExchangeBank(city.ctx.db, city.ctx.clock)
        self.ctx = city.ctx

    def upload(self, kind: bank_files.BatchKind = "transfers", fmt: str = "xlsx") -> bytes:
        """Download the batch file and upload it to online banking: its return file."""
        got = bank_files.write_batch(self.ctx, BUREAU, kind, fmt)  # type: ignore[arg-type]
        assert got is not None
        return self.online.process_batch_file(got.data, got.name, "csv")

    def statement(self, day: date = DAY, fmt: str = "xlsx") -> bytes:
        return self.online.statement_xlsx(day) if fmt == "xlsx" else self.online.statement_file(day)

    def orders(self) -> dict[str, str]:
        with self.ctx.db.read() as conn:
            return dict(conn.execute(select(BankOrder.order_id, BankOrder.status)).all())


@pytest.fixture
def fc(ctx: Context) -> FilesCity:
    city = build_city(ctx)
    city.at(date(2026, 1, 2))
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    city.at(DAY, 10)
    for unit, amount in (("A", 105000), ("B", 120000)):
        city.unit_pays(unit, amount, f"JF-{city.unit_codes[unit]}-2026Q1")
    return FilesCity(city)


def count(ctx: Context, table: type) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_files_adapter_fills_the_gateway(fc: FilesCity) -> None:
    bank = gateway(fc.ctx)
    ack = bank.pay_out("P1", OPERATOR_ACCOUNT, "某公司", 100, "测试")
    assert bank.pay_out("P1", OPERATOR_ACCOUNT, "某公司", 100, "测试") == ack
    assert ack.bank_ref.startswith("FX20260108")
    with pytest.raises(IdempotencyConflict):
        bank.pay_out("P1", OPERATOR_ACCOUNT, "某公司", 101, "测试")
    with pytest.raises(NoCallbacks):
        bank.verify_notification(b"{}", "00")
    with pytest.raises(StatementMissing):
        bank.statement(DAY)


def test_a_statement_books_receipts_and_a_batch_passes_them_on(fc: FilesCity) -> None:
    fc.city.at(DAY, 17)
    got = reconciliation.import_statement(fc.ctx, BUREAU, fc.statement(), "明细.xlsx")
    assert (got.lines, got.new_lines, got.changed) == (2, 2, True)
    assert [r.totals["new"] for r in got.receipts] == [2]
    [day] = got.days
    assert (day.totals["matched"], day.problems, day.changed) == (2, [], True)
    assert fc.city.system("dining_fund") == 225000
    # The statement is now the bank's statement for that day in the file exchange.
    assert len(gateway(fc.ctx).statement(DAY)) == 2

    notices.transfer_to_income(fc.ctx, BUREAU)  # two orders queued, nothing at the bank yet
    assert set(fc.orders().values()) == {"pending"}
    assert bank_files.waiting(fc.ctx)["transfers"] == (2, 225000)
    got_batch = bank_files.write_batch(fc.ctx, BUREAU, "transfers", "csv")
    assert got_batch is not None and got_batch.orders == 2
    lines = bankfiles.parse_batch(got_batch.data)
    assert [(ln.payer_account, ln.amount_fen) for ln in lines] == [
        (DINING_FUND_ACCOUNT, 105000),
        (DINING_FUND_ACCOUNT, 120000),
    ]
    assert all(ln.purpose.startswith(ln.reference + " ") for ln in lines)
    # An order is in exactly one batch; the file can be had again, byte for byte.
    assert bank_files.write_batch(fc.ctx, BUREAU, "transfers", "csv") is None
    assert bank_files.batch_file(fc.ctx, FINANCE, got_batch.file_id)[1] == got_batch.data


def _passed_on(fc: FilesCity) -> tuple[bytes, bytes]:
    """Receipts booked and passed on; the bank executed the batch: (returns, statement)."""
    fc.city.at(DAY, 17)
    reconciliation.import_statement(fc.ctx, BUREAU, fc.statement(), "明细.xlsx")
    notices.transfer_to_income(fc.ctx, BUREAU)
    returns = fc.upload()
    return returns, fc.statement()


def test_return_file_first_then_the_statement(fc: FilesCity) -> None:
    returns, statement = _passed_on(fc)
    res = bank_files.import_returns(fc.ctx, BUREAU, returns, "结果.csv")
    assert (res.totals["settled"], res.totals["paid"], res.problems) == (2, 2, [])
    assert set(fc.orders().values()) == {"succeeded"}
    before = fc.city.snapshot()
    again = bank_files.import_returns(fc.ctx, BUREAU, returns, "结果.csv")
    assert (again.changed, again.totals["settled"], again.problems) == (False, 0, [])
    got = reconciliation.import_statement(fc.ctx, BUREAU, statement, "明细.xlsx")
    assert got.settled == 0 and got.new_lines == 4  # the two transfers, on both accounts
    [day] = got.days
    assert (day.totals["matched"], day.problems) == (6, [])
    assert fc.city.snapshot()[:2] == before[:2]
    assert fc.city.unit_account("A", "unit_income") == 105000


def test_statement_first_then_the_return_file(fc: FilesCity) -> None:
    returns, statement = _passed_on(fc)
    got = reconciliation.import_statement(fc.ctx, BUREAU, statement, "明细.xlsx")
    assert got.settled == 2 and set(fc.orders().values()) == {"succeeded"}
    assert got.days[0].problems == []
    snap = fc.city.snapshot()
    res = bank_files.import_returns(fc.ctx, BUREAU, returns, "结果.csv")
    assert (res.totals["settled"], res.problems) == (0, [])
    assert fc.city.snapshot()[:2] == snap[:2]  # the orders' state was already decided
    # The bank's serial from the statement is the order's reference.
    with fc.ctx.db.read() as conn:
        refs = set(conn.execute(select(BankOrder.bank_ref)).scalars())
    assert {ln.serial for ln in parse_statement_file(statement) if ln.direction == "debit"} == refs


def test_the_same_statement_twice_changes_nothing(fc: FilesCity) -> None:
    _returns, statement = _passed_on(fc)
    reconciliation.import_statement(fc.ctx, BUREAU, statement, "明细.xlsx")
    snap, files, kept = (
        fc.city.snapshot(),
        count(fc.ctx, BankFile),
        count(fc.ctx, BankStatementLine),
    )
    again = reconciliation.import_statement(fc.ctx, BUREAU, statement, "明细.xlsx")
    assert (again.changed, again.new_lines, again.settled, again.receipts) == (False, 0, 0, [])
    assert not again.days[0].changed  # "the same result as last time"
    assert (fc.city.snapshot(), count(fc.ctx, BankFile), count(fc.ctx, BankStatementLine)) == (
        snap,
        files,
        kept,
    )
    # The same lines as CSV (another file, same facts) change nothing either.
    csv_again = reconciliation.import_statement(fc.ctx, BUREAU, fc.statement(fmt="csv"), "a.csv")
    assert not csv_again.changed and fc.city.snapshot()[:2] == snap[:2]


def test_a_contradicting_return_is_reported_and_changes_nothing(fc: FilesCity) -> None:
    returns, statement = _passed_on(fc)
    reconciliation.import_statement(fc.ctx, BUREAU, statement, "明细.xlsx")
    [first, second] = bankfiles.parse_returns(returns)
    wrong = replace(first, paid=False, reason="账户冻结", serial="")
    snap = fc.city.snapshot()
    res = bank_files.import_returns(
        fc.ctx, BUREAU, bankfiles.render_returns([wrong, second], "csv"), "结果.csv"
    )
    assert len(res.problems) == 1 and "请与银行核实" in res.problems[0]
    assert set(fc.orders().values()) == {"succeeded"}
    assert fc.city.snapshot()[:2] == snap[:2]
    # The bank's other answer for the same order is kept apart, never applied.
    again = bank_files.import_returns(fc.ctx, BUREAU, returns, "结果2.csv")
    assert again.totals["settled"] == 0 and len(again.problems) == 1


def test_a_refused_payout_is_booked_back_from_the_return_file(fc: FilesCity) -> None:
    city = fc.city
    _passed_on(fc)  # the units' money is in the income account at the bank
    with fc.ctx.db.begin() as conn:  # the operator's name was registered wrongly
        conn.execute(
            update(Canteen)
            .where(Canteen.id == city.canteens["B"])
            .values(operator_name="郴州湘味餐饮有限公司")
        )
        post(
            conn,
            region_id=city.region,
            kind="test_fund",
            key="give:b1",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -2000),
                Leg(account_id(conn, "person", city.people["b1"], "subsidy"), 2000),
            ],
            actor="test",
            booked_at=city.clock.now(),
        )
    city.at(date(2026, 2, 3), 12)
    city.pay("b1", "B", amount=1000)
    city.at(date(2026, 4, 1), 9)
    settlement.settle_quarter(fc.ctx, BUREAU, "2026Q1")
    assert city.payable("B") == 0
    res = bank_files.import_returns(fc.ctx, BUREAU, fc.upload(), "结算结果.csv")
    results = {str(ln["reference"])[:3]: (ln["result"], ln["reason"]) for ln in res.lines}
    assert results["SWP"] == ("成功", "") and results["STL"] == ("失败", "户名不符")
    with fc.ctx.db.read() as conn:
        st = conn.execute(select(Settlement.status, Settlement.net_fen)).all()
    [(status, net)] = [s for s in st if s.net_fen]
    assert status == "payout_failed" and city.payable("B") == net == 995
    # The statement of that day shows the sweep, not the refused payout: all matched.
    got = reconciliation.import_statement(fc.ctx, BUREAU, fc.statement(date(2026, 4, 1)), "s.xlsx")
    assert got.days[0].problems == [] and got.days[0].totals["matched"] == 2


def test_a_return_file_naming_unknown_orders_is_refused_whole(fc: FilesCity) -> None:
    returns, _ = _passed_on(fc)
    [first, second] = bankfiles.parse_returns(returns)
    bad = [
        first,
        replace(second, reference="TRF-NOPE"),
        replace(first, reference="X2", amount_fen=1),
    ]
    snap = fc.city.snapshot()
    with pytest.raises(ImportRejected) as exc:
        bank_files.import_returns(fc.ctx, BUREAU, bankfiles.render_returns(bad, "xlsx"), "r.xlsx")
    rows = [(e.row, e.column) for e in exc.value.rows]  # type: ignore[attr-defined]
    assert rows == [(3, "业务参考号"), (4, "业务参考号")]
    assert fc.city.snapshot() == snap and set(fc.orders().values()) == {"pending"}
    with fc.ctx.db.read() as conn:
        assert (
            conn.execute(select(func.count()).where(BankFileOrder.result.is_not(None))).scalar()
            == 0
        )
    with pytest.raises(ImportRejected):  # another amount than the order's
        bank_files.import_returns(
            fc.ctx, BUREAU, bankfiles.render_returns([replace(first, amount_fen=1)], "csv"), "r.csv"
        )
    with pytest.raises(Forbidden):
        bank_files.import_returns(fc.ctx, FINANCE, returns, "r.csv")


def test_a_statement_contradicting_one_read_before_is_refused_whole(fc: FilesCity) -> None:
    fc.city.at(DAY, 17)
    lines = parse_statement_file(fc.statement())
    reconciliation.import_statement(fc.ctx, BUREAU, render_statement_file(lines[:1]), "a.csv")
    snap, kept = fc.city.snapshot(), count(fc.ctx, BankStatementLine)
    changed = [replace(lines[0], amount_fen=lines[0].amount_fen + 1), lines[1]]
    with pytest.raises(ImportRejected) as exc:
        reconciliation.import_statement(fc.ctx, BUREAU, render_statement_file(changed), "b.csv")
    assert [e.row for e in exc.value.rows] == [2]  # type: ignore[attr-defined]
    assert (fc.city.snapshot(), count(fc.ctx, BankStatementLine)) == (snap, kept)


def test_a_top_up_goes_out_as_a_card_debit_file(fc: FilesCity) -> None:
    city = fc.city
    topup.request_topup(fc.ctx, city.people["a1"], 5000, "TOPUP1")
    assert bank_files.waiting(fc.ctx)["collections"] == (1, 5000)
    returns = fc.upload("collections", "csv")
    assert city.purse("a1") == (0, 0)  # nothing until the bank's answer is read
    bank_files.import_returns(fc.ctx, BUREAU, returns, "代扣结果.csv")
    assert city.purse("a1") == (0, 5000)
    with fc.ctx.db.read() as conn:
        assert conn.execute(select(TopupOrder.status)).scalar() == "succeeded"
    # The statement shows the same debit: already decided, nothing more.
    got = reconciliation.import_statement(fc.ctx, BUREAU, fc.statement(), "明细.xlsx")
    assert got.settled == 0 and city.purse("a1") == (0, 5000)
