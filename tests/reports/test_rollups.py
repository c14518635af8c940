"""The dashboard's roll-ups equal the live GROUP BY over the payments, after payments,
reversals, refunds, a back-dated arrival and more payments, whatever order they fold in."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from onecard.core.clock import quarter_bounds
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.pay import reversal
from onecard.pay.models import Payment
from onecard.pay.service import PaymentRequest, pay
from onecard.reports import dashboard, figures
from onecard.reports.models import ReportDiner
from onecard.reports.service import catch_up
from world import World, build_world, fund

Q = "2026Q1"


def _pay(ctx: Context, w: World, who: str, at: str, txn: str, amount: int | None = None) -> int:
    req = (
        PaymentRequest(txn, w.cards[who], amount_fen=amount)
        if amount
        else PaymentRequest(txn, w.cards[who], meal="lunch")
    )
    got = json.loads(pay(ctx, w.terminals[at], req).body)  # type: ignore[attr-defined]
    assert got["result"] == "approved", got
    return int(got["payment_id"])


def _live_diners(ctx: Context) -> int:
    start, end = quarter_bounds(Q)
    with ctx.db.read() as conn:
        return int(
            conn.execute(
                select(func.count(func.distinct(Payment.person_id))).where(
                    Payment.status == "approved",
                    Payment.business_date >= start,
                    Payment.business_date < end,
                )
            ).scalar_one()
        )


def _rolled_diners(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(ReportDiner.quarter == Q, ReportDiner.payments > 0)
            ).scalar_one()
        )


def assert_rollups_equal_live(ctx: Context, days: list[date]) -> None:
    start, end = quarter_bounds(Q)
    assert figures.daily(ctx, Q).rows == dashboard.payments_per_day(ctx, start, end).rows
    live_rev = {r[0]: r[1:] for r in dashboard.revenue_per_canteen(ctx, start, end).rows}
    assert {r[0]: r[1:] for r in figures.revenue(ctx, Q).rows} == live_rev
    live_matrix = sorted(dashboard.cross_unit_matrix(ctx, start, end).rows)
    assert sorted(figures.matrix(ctx, Q, top=100).rows) == live_matrix
    for d in days:
        assert figures.rush(ctx, d).rows == dashboard.lunch_rush(ctx, d).rows, d
    assert _rolled_diners(ctx) == _live_diners(ctx)
    heads = {f.key: f for f in figures.headline(ctx, Q)}
    assert heads["meals"].now == sum(r[1] for r in dashboard.payments_per_day(ctx, start, end).rows)
    assert heads["revenue"].now == sum(r[1] for r in live_rev.values())
    assert heads["visitors"].now == sum(r[2] for r in live_rev.values()) * 10000 // max(
        1, heads["revenue"].now
    )


def test_rollups_follow_payments_reversals_refunds_and_late_arrivals(ctx: Context) -> None:
    w = build_world(ctx)
    for who in ("a1", "a2", "b1", "c1"):
        fund(ctx, w, who, subsidy=50000, cash=2000)
    first = ctx.clock.today()
    _pay(ctx, w, "a1", "A", "t1")
    _pay(ctx, w, "b1", "A", "t2")  # a visitor at A
    _pay(ctx, w, "c1", "B", "t3")
    assert catch_up(ctx, grace_seconds=0).rows > 0
    assert_rollups_equal_live(ctx, [first])

    # Reversed at the till, refunded in part later, and new payments the next day.
    ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
    reversal.reverse(ctx, w.terminals["A"], "t2")
    ctx.clock.advance(days=1)  # type: ignore[attr-defined]
    manager = Actor(
        label="manager:B",
        person_id=w.people["a2"],
        unit_id=w.units["A"],
        grants=frozenset({("bureau_admin", None, None)}),
    )
    paid = _pay(ctx, w, "a2", "B", "t4")
    reversal.refund(ctx, manager, paid, 100, "rf-1", "菜品问题")
    _pay(ctx, w, "b1", "B", "t5", amount=350)
    # Paid and reversed before any fold: both arrive in the same fold.
    _pay(ctx, w, "c1", "A", "t6")
    reversal.reverse(ctx, w.terminals["A"], "t6")
    catch_up(ctx, grace_seconds=0)
    assert_rollups_equal_live(ctx, [first, first + timedelta(days=1)])

    # An upload that arrives after the fold but belongs to an earlier day (offline).
    ctx.clock.advance(days=-3)  # type: ignore[attr-defined]
    _pay(ctx, w, "a1", "B", "t7", amount=420)
    ctx.clock.advance(days=3)  # type: ignore[attr-defined]
    catch_up(ctx, grace_seconds=0)
    assert_rollups_equal_live(ctx, [first - timedelta(days=2), first])
    assert catch_up(ctx, grace_seconds=0).rows == 0  # nothing new: nothing folded twice
    assert_rollups_equal_live(ctx, [first])


def test_a_fold_waits_for_its_grace_unless_nothing_else_writes(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    _pay(ctx, w, "a1", "A", "t1")
    # On SQLite (one writer) and a quiet PostgreSQL, the fold goes to the newest id.
    catch_up(ctx)
    assert figures.daily(ctx, Q).rows == dashboard.payments_per_day(ctx, *quarter_bounds(Q)).rows
    assert figures.as_of(ctx) == ctx.clock.now()


def test_the_catch_up_command_folds_and_then_has_nothing_to_do(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from onecard import cli, cli_kit

    monkeypatch.setattr(cli_kit, "context_factory", lambda _url: ctx)
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    _pay(ctx, w, "a1", "A", "t1")

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["onecard", "reports", "catch-up", *args])
        try:
            cli.main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    assert run("--now") == 0
    assert "payments: ids 1–" in capsys.readouterr().out
    assert figures.daily(ctx, Q).rows == dashboard.payments_per_day(ctx, *quarter_bounds(Q)).rows
    assert run() == 0
    assert "roll-ups up to date" in capsys.readouterr().out


def test_the_headline_counts_the_quarter_s_distribution(ctx: Context) -> None:
    from funding.city import BUREAU, build_city
    from onecard.funding import distribution
    from onecard.funding.notices import issue_notices
    from onecard.funding.summary import _entries
    from onecard.ledger.service import Leg, account_id, post, system_account

    city = build_city(ctx)
    with ctx.db.begin() as conn:
        post(
            conn,
            region_id=city.region,
            kind="test_fund",
            key="rollup-fund",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -105000),
                Leg(account_id(conn, "unit", city.units["A"], "unit_income"), 105000),
            ],
            actor="test",
            booked_at=city.clock.now(),
        )
    city.at(date(2026, 1, 10))
    issue_notices(ctx, BUREAU, Q)
    catch_up(ctx, grace_seconds=0)  # before the distribution: nothing distributed yet
    assert {f.key: f.now for f in figures.headline(ctx, Q)}["distributed"] == 0
    distribution.distribute(ctx, BUREAU, city.units["A"], Q)
    catch_up(ctx, grace_seconds=0)
    with ctx.db.read() as conn:
        _, _, live = _entries(conn, f"dist:{Q}:", [city.region])
    heads = {f.key: f for f in figures.headline(ctx, Q)}
    assert live > 0 and heads["distributed"].now == live
    assert heads["left"].now == live  # nobody has eaten yet


def test_ratings_are_those_given_in_the_quarter(ctx: Context) -> None:
    from onecard.feedback.service import rate_meal

    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    fund(ctx, w, "b1", subsidy=5000)
    first = _pay(ctx, w, "a1", "A", "t1")
    second = _pay(ctx, w, "b1", "A", "t2")
    scores = {"taste": 5, "hygiene": 4, "service": 3, "value": 4}
    rate_meal(ctx, w.people["a1"], first, scores)
    ctx.clock.advance(days=30)  # type: ignore[attr-defined]  # April: the next quarter
    rate_meal(ctx, w.people["b1"], second, {**scores, "taste": 1})
    [row] = figures.ratings(ctx, Q).rows
    assert row[1:] == [1, 5.0, 4.0, 3.0, 4.0, 4.0]
    [row] = figures.ratings(ctx, "2026Q2").rows
    assert row[1:3] == [1, 1.0]


def test_e_cny_meals_and_their_refunds_count_in_the_figures(ctx: Context) -> None:
    """A guest's e-CNY dinner has no payments row: the roll-ups take it (and a refund of
    part of it) from the journal, so the dashboard's meals and revenue include it."""
    from onecard.channels.ecny_sandbox import SandboxEcny
    from onecard.pay import ecny

    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=50000, cash=2000)
    _pay(ctx, w, "a1", "A", "t1")
    catch_up(ctx, grace_seconds=0)
    before = {f.key: f.now for f in figures.headline(ctx, Q)}

    sbx = SandboxEcny(b"test-secret", ctx.clock)
    sbx.open_wallet("W-guest", "访客", 10_000)
    ctx.ecny = sbx
    req = PaymentRequest(txn_id="e1", credential=sbx.pay_code("W-guest"), meal="lunch")
    got = ecny.pay(ctx, w.terminals["A"], req)
    assert got.status == "succeeded"
    ecny.refund(ctx, Actor.system("test"), got.order_no, 300, "RF-1", "菜凉了")
    with ctx.db.read() as conn:
        amount = conn.execute(
            select(func.sum(Payment.amount_fen)).where(Payment.status == "approved")
        ).scalar_one()
    catch_up(ctx, grace_seconds=0)
    after = {f.key: f.now for f in figures.headline(ctx, Q)}
    assert after["meals"] == before["meals"] + 1
    guest_lunch_a = 800  # tests/world.py: canteen A's lunch for a guest
    assert after["revenue"] == before["revenue"] + guest_lunch_a - 300 == amount + 500
    assert catch_up(ctx, grace_seconds=0).rows == 0  # folded once


def test_an_offline_payment_s_debt_counts_for_the_canteen(ctx: Context) -> None:
    """An offline record applied after the purse ran short: the payment row holds what
    the purse paid, the rest is the person's debt — but the canteen was credited the
    whole record, and its figures (live, roll-ups, settlement) say so."""
    from onecard.funding.settlement import gross_for
    from onecard.ledger.service import account_id, derived_balance
    from terminals.offline_kit import app_client, till

    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        assert sim.sell(w.cards["a1"], amount_fen=400).result == "approved"
        _pay(ctx, w, "a1", "B", "b-1", amount=900)
        sim.restore()
        [applied] = sim.upload()
    assert applied["debt_fen"] == 300
    catch_up(ctx, grace_seconds=0)
    with ctx.db.read() as conn:
        credited = {
            c: derived_balance(conn, account_id(conn, "canteen", w.canteens[c], "canteen_payable"))
            for c in ("A", "B")
        }
        assert gross_for(conn, w.canteens["A"], Q) == credited["A"] == 400
    start, end = quarter_bounds(Q)
    rows = dashboard.revenue_per_canteen(ctx, start, end).rows
    takings = sorted(int(r[2]) for r in rows if r[2])
    assert takings == sorted(credited.values()) == [400, 900]
    heads = {f.key: f for f in figures.headline(ctx, Q)}
    assert heads["revenue"].now == 1_300 and heads["meals"].now == 2
    assert_rollups_equal_live(ctx, [to_local_day(ctx)])


def to_local_day(ctx: Context) -> date:
    from onecard.core.clock import to_local

    return to_local(ctx.clock.now()).date()
