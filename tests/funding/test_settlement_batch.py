"""Settlement is set-based: every canteen's figures from one grouped read, every entry,
settlement row and bank order written in a constant number of statements — and the
figures are exactly those of the canteen-by-canteen rules (``settlement.figures``).
Bank orders are sent in one batch whose references are kept even when the bank fails
part-way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select

from funding.city import BUREAU, City, build_city
from onecard.channels.bank import BankAck
from onecard.channels.sandbox import SandboxBank
from onecard.core.context import Context
from onecard.core.errors import BankUnavailable
from onecard.funding import payouts, settlement
from onecard.funding.models import BankOrder, Settlement
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org import builders as b
from onecard.org.models import Canteen


@pytest.fixture
def city(ctx: Context) -> City:
    return build_city(ctx)


def add_canteens(city: City, first: int, n: int) -> list[int]:
    """``n`` canteens of every kind: outsourced with an operator account, self-operated
    paid to the unit's account, some with quality bands (scored) and some without."""
    out = []
    with city.ctx.db.begin() as conn:
        for i in range(first, first + n):
            unit = city.units["ABC"[i % 3]]
            if i % 2:
                acct, name = f"62170000990{i:04d}", f"运营商{i}"
                cid = b.create_canteen(
                    conn,
                    city.region,
                    unit,
                    f"X{i:03d}",
                    f"食堂{i}",
                    operation="outsourced",
                    operator_name=name,
                    operator_bank_account=acct,
                )
                city.bank.open_outside_account(acct, name, 0)
            else:
                cid = b.create_canteen(
                    conn, city.region, unit, f"X{i:03d}", f"食堂{i}", operation="self"
                )
            out.append(cid)
    for i, cid in enumerate(out):
        if i % 3 == 0:
            settlement.set_quality_rule(city.ctx, BUREAU, cid, [(90, 10000), (60, 9700), (0, 9013)])
    return out


def takings(city: City, canteen_id: int, amount: int, tag: str) -> None:
    """Consumption booked on a canteen's payable."""
    with city.ctx.db.begin() as conn:
        payable = account_id(conn, "canteen", canteen_id, "canteen_payable")
        bank = system_account(conn, "bank_clearing")
        post(
            conn,
            region_id=city.region,
            kind="test_meal",
            key=f"takings:{canteen_id}:{tag}",
            legs=[Leg(bank, -amount), Leg(payable, amount)],
            actor="test",
            booked_at=city.clock.now(),
        )


def one_by_one(city: City, quarter: str) -> dict[str, tuple[int, ...]]:
    """Each canteen's figures by the per-canteen rules (its own queries)."""
    with city.ctx.db.read() as conn:
        out = {}
        for c in conn.execute(select(Canteen.__table__).order_by(Canteen.code)):
            f, _missing = settlement.figures(conn, c, quarter)
            out[f.canteen] = (f.gross_fen, f.fee_fen, f.share_bp, f.withheld_fen, f.net_fen)
        return out


def of_lines(res: Any) -> dict[str, tuple[int, ...]]:
    return {
        ln["canteen"]: tuple(
            ln[k] for k in ("gross_fen", "fee_fen", "share_bp", "withheld_fen", "net_fen")
        )
        for ln in res.lines
    }


@contextmanager
def statements(city: City) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, stmt: str, *_a: Any) -> None:
        seen.append(stmt)

    event.listen(city.ctx.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(city.ctx.db.engine, "before_cursor_execute", count)


def test_figures_equal_the_per_canteen_rules_and_statements_do_not_grow(city: City) -> None:
    small = add_canteens(city, 0, 3)
    city.at(date(2026, 2, 3), 12)
    for n, cid in enumerate(small):
        takings(city, cid, 10_001 + 997 * n, "q1")
        settlement.record_score(city.ctx, BUREAU, cid, "2026Q1", 55 + 20 * n)
    city.at(date(2026, 4, 1), 9)
    expected = one_by_one(city, "2026Q1")
    assert (
        settlement.preview(city.ctx, "2026Q1")
        and of_lines(settlement.settle_quarter(city.ctx, BUREAU, "2026Q1", dry_run=True))
        == expected
    )
    with statements(city) as q1:
        res = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert of_lines(res) == expected
    assert any(f[3] for f in expected.values()), "some canteen has a withheld part"

    # Four times the canteens, one of them without takings (settled as nothing).
    more = small + add_canteens(city, 3, 9)
    city.at(date(2026, 5, 6), 12)
    for n, cid in enumerate(more):
        if n != 4:
            takings(city, cid, 20_003 + 131 * n, "q2")
        settlement.record_score(city.ctx, BUREAU, cid, "2026Q2", (37 * n) % 101)
    city.at(date(2026, 7, 1), 9)
    expected = one_by_one(city, "2026Q2")
    with statements(city) as q2:
        res = settlement.settle_quarter(city.ctx, BUREAU, "2026Q2")
    assert of_lines(res) == expected
    assert len(res.lines) == 14 and res.totals["new"] == 14
    if not city.ctx.db.is_postgres:
        # SQLite cannot order a multi-row INSERT's RETURNING: SQLAlchemy sends those
        # rows one by one (in-process, no round trips); everything else is constant.
        q1, q2 = ([s for s in q if not s.startswith("INSERT")] for q in (q1, q2))
    assert len(q2) == len(q1), (len(q1), len(q2))

    # Bank orders: per canteen the sweep, then the payout, in canteen code order.
    with city.ctx.db.read() as conn:
        orders = conn.execute(
            select(BankOrder.order_id, Settlement.canteen_id)
            .join(Settlement, Settlement.id == BankOrder.ref_id)
            .where(Settlement.quarter == "2026Q2")
            .order_by(BankOrder.id)
        ).all()
        codes = {cid: code for cid, code in conn.execute(select(Canteen.id, Canteen.code))}
    kinds = [o.order_id.split("-")[0] for o in orders]
    assert kinds == ["SWP", "STL"] * (len(orders) // 2)
    by_code = [codes[o.canteen_id] for o in orders]
    assert by_code == sorted(by_code)
    city.deliver()
    city.verified()


class FlakyBank:
    """The sandbox bank, but unreachable for some order ids (or failing outright)."""

    def __init__(self, bank: SandboxBank, down_for: set[str], crash_at: str = "") -> None:
        self.bank, self.down_for, self.crash_at = bank, down_for, crash_at
        self.asked: list[str] = []

    def pay_out(self, order_id: str, *args: Any, **kw: Any) -> BankAck:
        self.asked.append(order_id)
        if order_id == self.crash_at:
            raise RuntimeError("connection reset")
        if order_id in self.down_for:
            raise BankUnavailable("timed out")
        return self.bank.pay_out(order_id, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bank, name)


def refs(city: City) -> dict[str, str | None]:
    with city.ctx.db.read() as conn:
        return {
            str(o): r
            for o, r in conn.execute(
                select(BankOrder.order_id, BankOrder.bank_ref).order_by(BankOrder.id)
            )
        }


def test_orders_are_sent_in_one_batch_and_kept_when_the_bank_fails_part_way(
    city: City,
) -> None:
    ids = add_canteens(city, 0, 4)
    city.at(date(2026, 2, 3), 12)
    for cid in ids:
        takings(city, cid, 50_000, "q1")
        settlement.record_score(city.ctx, BUREAU, cid, "2026Q1", 95)
    city.at(date(2026, 4, 1), 9)
    sandbox = city.bank
    down = {f"STL-{ids[1]}-2026Q1"}
    flaky = FlakyBank(sandbox, down)
    city.ctx.bank = flaky  # type: ignore[assignment]
    res = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert len(res.problems) == 1 and f"STL-{ids[1]}-2026Q1" in res.problems[0]
    got = refs(city)
    assert [o for o, r in got.items() if r is None] == sorted(down)
    assert len(flaky.asked) == len(got)

    # A repeat run settles nothing again and only re-sends the order still waiting.
    flaky.down_for = set()
    flaky.asked = []
    again = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert again.totals["new"] == 0 and not again.changed and not again.problems
    assert flaky.asked == sorted(down)
    assert all(refs(city).values())
    city.ctx.bank = sandbox
    city.deliver()
    city.verified()


def test_references_already_received_are_stored_when_sending_crashes(city: City) -> None:
    ids = add_canteens(city, 0, 2)
    city.at(date(2026, 2, 3), 12)
    for cid in ids:
        takings(city, cid, 30_000, "q1")
        settlement.record_score(city.ctx, BUREAU, cid, "2026Q1", 95)
    city.at(date(2026, 4, 1), 9)
    sandbox = city.bank
    crash = f"SWP-{ids[1]}-2026Q1"
    city.ctx.bank = FlakyBank(sandbox, set(), crash_at=crash)  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    got = refs(city)  # the settlement committed before the bank was asked
    sent = list(got)[: list(got).index(crash)]
    assert sent and all(got[o] for o in sent)
    assert not any(got[o] for o in list(got)[len(sent) :])
    city.ctx.bank = sandbox
    assert payouts.send_orders(city.ctx, payouts.pending_order_ids(city.ctx)) == []
    assert all(refs(city).values())
    city.deliver()
    city.verified()
