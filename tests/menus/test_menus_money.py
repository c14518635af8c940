"""Pre-orders to the fen, as bookkeeping stories: a diner pre-orders tomorrow's lunch and
pays ahead (the amount is held, not spent), cancels (the hold comes back to the purse it
left), picks up (the hold becomes one payment), picks up twice (charged once); a
no-show's hold is charged or released per the canteen's rule, once. Each story ends with
``ledger verify`` (the ``ctx`` fixture runs it too)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest
from sqlalchemy import func, select

from onecard.audit.models import AuditEvent
from onecard.catalogue import service as catalogue
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.core.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    NotOnMenu,
    PreorderAcrossYear,
    PreorderCancelled,
    PreorderClosed,
    PreorderExists,
    PreorderNotOpen,
    StateConflict,
)
from onecard.ledger.models import JournalEntry
from onecard.ledger.verify import verify
from onecard.menus import queries
from onecard.menus import service as menus
from onecard.menus.models import Preorder
from onecard.org.actors import Actor
from onecard.pay.models import Payment, PaymentLine
from world import World, fund, purse

SYSTEM = Actor.system("test")
TOMORROW = date(2026, 3, 11)


def diner(w: World, key: str) -> Actor:
    return Actor(f"p:{key}", person_id=w.people[key], unit_id=w.units["A"])


def spec(rid: str, lines: Any = (("D1", 1), ("D3", 2)), **kw: Any) -> menus.PreorderSpec:
    base: dict[str, Any] = {
        "canteen_id": 0,
        "day": TOMORROW,
        "meal": "lunch",
        "lines": tuple(lines),
        "pay_mode": "prepaid",
        "request_id": rid,
    }
    base.update(kw)
    return menus.PreorderSpec(**base)


def order(ctx: Context, w: World, key: str, rid: str, **kw: Any) -> dict[str, Any]:
    return menus.place(ctx, diner(w, key), spec(rid, canteen_id=w.canteens["A"], **kw))


def at(ctx: Context, day: date, hh: int, mm: int = 0) -> None:
    clock = ctx.clock
    assert isinstance(clock, FixedClock)
    clock.set(from_local(datetime.combine(day, time(hh, mm))))


def held(ctx: Context, w: World, key: str) -> int:
    return queries.held_fen(ctx, w.people[key])


def count(ctx: Context, table: Any) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def books_ok(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        report = verify(conn)
    assert report.ok, report.problems[:5]


def test_a_prepaid_preorder_is_held_not_spent_and_a_cancel_puts_each_fen_back(
    ctx: Context, w: World
) -> None:
    # 张伟 has 10.00 subsidy and 5.00 cash; lunch is 红烧肉 12.00 + 2 × 米饭 0.50 = 13.00.
    got = order(ctx, w, "a1", "r1")
    assert got["amount_fen"] == 1300 and got["held_fen"] == 1300 and got["status"] == "placed"
    assert purse(ctx, w, "a1") == (0, 200)  # subsidy first: 10.00, then 3.00 of cash
    assert held(ctx, w, "a1") == 1300
    books_ok(ctx)
    # The canteen has not been paid: no payment exists.
    assert count(ctx, Payment) == 0
    back = menus.cancel(ctx, diner(w, "a1"), got["id"])
    assert back["status"] == "cancelled" and back["held_fen"] == 0
    assert purse(ctx, w, "a1") == (1000, 500)
    assert held(ctx, w, "a1") == 0
    # Cancelling again (a retry) answers the same and moves nothing.
    entries = count(ctx, JournalEntry)
    assert menus.cancel(ctx, diner(w, "a1"), got["id"])["status"] == "cancelled"
    assert count(ctx, JournalEntry) == entries
    books_ok(ctx)


def test_a_retried_preorder_is_recognised_and_another_body_refused(ctx: Context, w: World) -> None:
    first = order(ctx, w, "a1", "r1")
    again = order(ctx, w, "a1", "r1")
    assert again == first
    assert purse(ctx, w, "a1") == (0, 200)
    with pytest.raises(IdempotencyConflict):
        order(ctx, w, "a1", "r1", lines=(("D2", 1),))
    with pytest.raises(PreorderExists):  # one pre-order per meal
        order(ctx, w, "a1", "r2", lines=(("D2", 1),))


def test_refusals_change_nothing(ctx: Context, w: World) -> None:
    before = (count(ctx, Preorder), count(ctx, JournalEntry), count(ctx, AuditEvent))
    with pytest.raises(NotOnMenu):
        order(ctx, w, "a1", "r1", lines=(("D1", 1),), meal="dinner")
    with pytest.raises(InsufficientFunds):  # 3 × 12.00 > 15.00
        order(ctx, w, "a1", "r2", lines=(("D1", 3),))
    at(ctx, date(2026, 3, 10), 18, 0)  # the default cut-off: 18:00 the day before
    with pytest.raises(PreorderClosed):
        order(ctx, w, "a1", "r3")
    assert (count(ctx, Preorder), count(ctx, JournalEntry), count(ctx, AuditEvent)) == before
    assert purse(ctx, w, "a1") == (1000, 500)


def test_paying_at_pickup_needs_no_balance_ahead_and_a_cancel_after_cutoff_is_refused(
    ctx: Context, w: World
) -> None:
    got = order(ctx, w, "a1", "r1", lines=(("D1", 3),), pay_mode="at_pickup")
    assert got["held_fen"] == 0 and purse(ctx, w, "a1") == (1000, 500)
    at(ctx, date(2026, 3, 10), 19, 0)
    with pytest.raises(PreorderClosed):
        menus.cancel(ctx, diner(w, "a1"), got["id"])


def test_pickup_turns_the_hold_into_one_payment_and_a_second_pickup_charges_nothing(
    ctx: Context, w: World
) -> None:
    order(ctx, w, "a2", "r1")  # 王芳: 50.00 + 50.00
    assert purse(ctx, w, "a2") == (3700, 5000)
    at(ctx, TOMORROW, 12, 0)
    card = w.cards["a2"]
    first = menus.pickup(ctx, w.terminals["A"], "pick-1", card)
    assert first.outcome.approved and not first.outcome.replayed
    assert first.preorder["status"] == "picked_up"
    assert purse(ctx, w, "a2") == (3700, 5000)  # the held 13.00 paid the canteen: once
    assert held(ctx, w, "a2") == 0
    with ctx.db.read() as conn:
        p = conn.execute(
            select(Payment.__table__).where(Payment.id == first.outcome.payment_id)
        ).one()
    assert (p.status, p.amount_fen, p.subsidy_fen, p.cash_fen) == ("approved", 1300, 1300, 0)
    assert p.canteen_id == w.canteens["A"] and p.person_id == w.people["a2"]
    # Picking up again — another press, another txn id — answers the first payment.
    second = menus.pickup(ctx, w.terminals["A"], "pick-2", card)
    assert second.outcome.replayed and second.outcome.payment_id == first.outcome.payment_id
    # The same txn id again: the stored answer, byte for byte.
    third = menus.pickup(ctx, w.terminals["A"], "pick-1", card)
    assert third.outcome.body == first.outcome.body
    assert purse(ctx, w, "a2") == (3700, 5000)
    assert count(ctx, Payment) == 1
    books_ok(ctx)


def test_paying_at_pickup_is_one_ordinary_payment(ctx: Context, w: World) -> None:
    order(ctx, w, "a2", "r1", pay_mode="at_pickup")
    at(ctx, TOMORROW, 12, 0)
    got = menus.pickup(ctx, w.terminals["A"], "pick-1", w.cards["a2"])
    assert got.outcome.approved
    assert purse(ctx, w, "a2") == (3700, 5000)
    assert count(ctx, Payment) == 1


def test_a_cancelled_preorder_cannot_be_picked_up(ctx: Context, w: World) -> None:
    got = order(ctx, w, "a2", "r1")
    menus.cancel(ctx, diner(w, "a2"), got["id"])
    at(ctx, TOMORROW, 12, 0)
    with pytest.raises(PreorderCancelled):
        menus.pickup(ctx, w.terminals["A"], "pick-1", w.cards["a2"])
    assert count(ctx, Payment) == 0 and purse(ctx, w, "a2") == (5000, 5000)


@pytest.mark.parametrize("rule", ["charge", "release"])
def test_a_no_show_is_charged_or_released_per_the_canteen_rule_once(
    ctx: Context, w: World, rule: str
) -> None:
    menus.set_rule(ctx, SYSTEM, w.canteens["A"], time(20, 0), rule)
    order(ctx, w, "a2", "r1")  # prepaid 13.00
    order(ctx, w, "a1", "r2", pay_mode="at_pickup")
    with pytest.raises(StateConflict):  # not before the day has passed
        menus.close_day(ctx, SYSTEM, TOMORROW)
    at(ctx, date(2026, 3, 12), 9, 0)
    res = menus.close_day(ctx, SYSTEM, TOMORROW)
    assert (res.closed, res.unpaid) == (2, 1)
    if rule == "charge":
        assert (res.charged, res.charged_fen, res.released) == (1, 1300, 0)
        assert purse(ctx, w, "a2") == (3700, 5000)
        with ctx.db.read() as conn:
            kind, amount = conn.execute(select(Payment.credential_kind, Payment.amount_fen)).one()
        assert (kind, amount) == ("preorder", 1300)
    else:
        assert (res.charged, res.released, res.released_fen) == (0, 1, 1300)
        assert purse(ctx, w, "a2") == (5000, 5000)
        assert count(ctx, Payment) == 0
    assert held(ctx, w, "a2") == 0
    entries = count(ctx, JournalEntry)
    audits = count(ctx, AuditEvent)
    again = menus.close_day(ctx, SYSTEM, TOMORROW)
    assert again.closed == 0
    assert (count(ctx, JournalEntry), count(ctx, AuditEvent)) == (entries, audits)
    at(ctx, TOMORROW, 12, 0)  # a closed pre-order is not picked up (nor charged again)
    with pytest.raises(PreorderNotOpen):
        menus.pickup(ctx, w.terminals["A"], "late", w.cards["a2"])
    books_ok(ctx)


def test_counts_per_dish_for_the_canteen(ctx: Context, w: World) -> None:
    order(ctx, w, "a1", "r1")
    order(ctx, w, "a2", "r2", lines=(("D3", 1), ("D2", 2)), pay_mode="at_pickup")
    cancelled = order(ctx, w, "a2", "r3", lines=(("D2", 5),), meal="dinner")
    menus.cancel(ctx, diner(w, "a2"), cancelled["id"])
    got = {
        (c.meal, c.sku): (c.portions, c.orders, c.prepaid)
        for c in queries.counts(ctx, w.canteens["A"], TOMORROW)
    }
    assert got == {
        ("lunch", "D1"): (1, 1, 1),
        ("lunch", "D2"): (2, 1, 0),
        ("lunch", "D3"): (3, 2, 2),
    }


def test_the_statement_shows_the_hold_its_release_and_the_payment(ctx: Context, w: World) -> None:
    from onecard.pay.statement import kind_words, statement

    got = order(ctx, w, "a2", "r1")
    menus.cancel(ctx, diner(w, "a2"), got["id"])
    order(ctx, w, "a2", "r2")
    at(ctx, TOMORROW, 12, 0)
    menus.pickup(ctx, w.terminals["A"], "pick-1", w.cards["a2"])
    rows = statement(ctx, w.people["a2"]).rows
    moves = [(r["kind"], r["change_fen"]) for r in rows if r["kind"] != "test_fund"]
    assert sorted(moves) == sorted(
        [
            ("preorder_hold", -1300),
            ("preorder_release", 1300),
            ("preorder_hold", -1300),
            ("preorder_release", 1300),
            ("payment", -1300),
        ]
    )
    assert kind_words("preorder_hold", "zh-CN") == "预订冻结"


def _reprice(ctx: Context, w: World, sku: str, name: str, fen: int) -> None:
    """The canteen changes a dish's price after it was pre-ordered."""
    spec = catalogue.DishSpec(sku=sku, name=name, price_fen=fen, category="热菜", portion_g=250)
    catalogue.save_dish(ctx, SYSTEM, w.canteens["A"], spec)


def test_pickup_charges_the_price_ordered_at_not_a_price_that_rose_since(
    ctx: Context, w: World
) -> None:
    """李娜 (a1: 10.00 + 5.00) pre-orders 红烧肉 at 12.00, paid ahead; the canteen then
    raises it to 16.00 — more than she had. The pick-up charges the 12.00 held, the
    payment's line says 12.00, and a pre-order placed after the rise pays 16.00."""
    order(ctx, w, "a1", "r1", lines=(("D1", 1),))
    assert purse(ctx, w, "a1") == (0, 300) and held(ctx, w, "a1") == 1200
    _reprice(ctx, w, "D1", "红烧肉", 1600)
    at(ctx, TOMORROW, 12, 0)
    got = menus.pickup(ctx, w.terminals["A"], "pick-1", w.cards["a1"])
    assert got.outcome.approved, got.outcome.data
    assert got.outcome.data["amount_fen"] == 1200
    assert purse(ctx, w, "a1") == (0, 300) and held(ctx, w, "a1") == 0
    with ctx.db.read() as conn:
        line = conn.execute(
            select(PaymentLine.unit_price_fen, PaymentLine.line_fen).where(
                PaymentLine.payment_id == got.outcome.payment_id
            )
        ).one()
    assert tuple(line) == (1200, 1200)
    # Ordered at the new price, paid at the new price.
    at(ctx, date(2026, 3, 10), 9, 0)
    order(ctx, w, "a2", "r2", lines=(("D1", 1),))
    assert held(ctx, w, "a2") == 1600
    books_ok(ctx)


def test_a_no_show_is_charged_what_was_held(ctx: Context, w: World) -> None:
    menus.set_rule(ctx, SYSTEM, w.canteens["A"], time(20, 0), "charge")
    order(ctx, w, "a2", "r1")  # 12.00 + 2 × 0.50 = 13.00 held
    _reprice(ctx, w, "D3", "米饭", 80)  # rice 0.50 → 0.80 after the order
    at(ctx, date(2026, 3, 12), 9, 0)
    res = menus.close_day(ctx, SYSTEM, TOMORROW)
    assert (res.charged, res.charged_fen) == (1, 1300)
    assert purse(ctx, w, "a2") == (3700, 5000) and held(ctx, w, "a2") == 0
    books_ok(ctx)


def test_subsidy_is_not_held_for_a_day_in_the_next_year(ctx: Context, w: World) -> None:
    """On 30 December a pre-order for 2 January paid ahead from the subsidy purse is
    refused (the year-end clearing takes what a purse held on 31 December: a hold would
    carry the subsidy over it), nothing written; paying at pick-up is taken, and so is a
    hold of own money only."""
    new_year = date(2027, 1, 2)
    at(ctx, date(2026, 12, 30), 10, 0)
    menus.set_menu(ctx, SYSTEM, w.canteens["A"], new_year, "lunch", ["D1", "D3"])
    before = (purse(ctx, w, "a2"), count(ctx, Preorder), count(ctx, JournalEntry))
    with pytest.raises(PreorderAcrossYear) as refused:
        order(ctx, w, "a2", "y1", day=new_year)
    assert "2027-01-02" in refused.value.message() and "取餐时付款" in refused.value.message()
    assert (purse(ctx, w, "a2"), count(ctx, Preorder), count(ctx, JournalEntry)) == before
    assert order(ctx, w, "a2", "y2", day=new_year, pay_mode="at_pickup")["status"] == "placed"
    # Own money may be held: a diner whose subsidy is spent holds cash only.
    fund(ctx, w, "c1", cash=2000)
    assert purse(ctx, w, "c1")[0] == 0
    got = menus.place(
        ctx,
        Actor("p:c1", person_id=w.people["c1"], unit_id=w.units["C"]),
        spec("y3", canteen_id=w.canteens["A"], day=new_year, lines=(("D3", 1),)),
    )
    assert got["status"] == "placed" and held(ctx, w, "c1") == 50
    books_ok(ctx)
