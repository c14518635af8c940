"""Payment stories at the till, told as bookkeeping: who paid what, from which purse."""

from __future__ import annotations

import json

import pytest

from onecard.core.context import Context
from onecard.core.errors import (
    Forbidden,
    IdempotencyConflict,
    InvalidAmount,
    NotFound,
    StateConflict,
)
from onecard.ledger.service import account_id, derived_balance
from onecard.org.actors import Actor
from onecard.pay import cards
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, fund, purse


def answer(outcome: object) -> dict:
    return json.loads(outcome.body)  # type: ignore[attr-defined]


def canteen_takings(ctx: Context, canteen_id: int) -> int:
    with ctx.db.read() as conn:
        return derived_balance(conn, account_id(conn, "canteen", canteen_id, "canteen_payable"))


def test_clerk_of_A_eats_lunch_at_B_at_B_visitor_price(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=60000)
    out = pay(ctx, w.terminals["B"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    got = answer(out)
    assert got["result"] == "approved"
    assert got["diner_class"] == "visitor"
    assert got["amount_fen"] == 600 and got["subsidy_fen"] == 600 and got["cash_fen"] == 0
    assert got["balances"] == {"subsidy_fen": 59400, "cash_fen": 0}
    assert got["payer"] == {"name": "张伟", "unit": "市财政局"}
    assert purse(ctx, w, "a1") == (59400, 0)
    assert canteen_takings(ctx, w.canteens["B"]) == 600


def test_own_staff_pay_own_price(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "b1", subsidy=1000)
    got = answer(pay(ctx, w.terminals["B"], PaymentRequest("t1", w.cards["b1"], meal="lunch")))
    assert (got["diner_class"], got["amount_fen"]) == ("own", 400)


def test_subsidy_short_and_cash_makes_up_the_rest(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=250, cash=1000)
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch")))
    assert (got["subsidy_fen"], got["cash_fen"]) == (250, 50)
    assert purse(ctx, w, "a1") == (0, 950)


def test_insufficient_funds_refused_and_nothing_moves(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=100, cash=100)
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch")))
    assert got["result"] == "refused" and got["code"] == "insufficient_funds"
    assert got["message"] == "余额不足"
    assert purse(ctx, w, "a1") == (100, 100)
    assert canteen_takings(ctx, w.canteens["A"]) == 0


def test_lost_card_refused_then_replaced_with_balance_intact(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "c1", subsidy=5000)
    holder = Actor(label="刘洋", person_id=w.people["c1"], unit_id=w.units["C"])
    cards.report_lost(ctx, holder, w.cards["c1"])
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["c1"], meal="lunch")))
    assert got["code"] == "card_lost" and got["message"] == "此卡已挂失"
    with pytest.raises(Forbidden):  # the holder reports lost; the unit replaces
        cards.replace_card(ctx, holder, w.cards["c1"])
    new = cards.replace_card(ctx, unit_admin(w, "C"), w.cards["c1"])
    assert new != w.cards["c1"]
    assert purse(ctx, w, "c1") == (5000, 0)
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t2", new, meal="lunch")))
    assert got["result"] == "approved" and got["balances"]["subsidy_fen"] == 4500
    old = answer(pay(ctx, w.terminals["A"], PaymentRequest("t3", w.cards["c1"], meal="dinner")))
    assert old["code"] == "card_cancelled"


def test_unfreeze_makes_a_found_card_work_again(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    holder = Actor(label="张伟", person_id=w.people["a1"], unit_id=w.units["A"])
    cards.report_lost(ctx, holder, w.cards["a1"])
    cards.unfreeze(ctx, holder, w.cards["a1"])
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch")))
    assert got["result"] == "approved"


def unit_admin(w: World, unit: str) -> Actor:
    return Actor(label=f"admin:{unit}", grants=frozenset({("unit_admin", w.units[unit], None)}))


def test_only_the_holder_or_their_unit_manages_a_card(ctx: Context) -> None:
    w = build_world(ctx)
    stranger = Actor(label="王芳", person_id=w.people["a2"], unit_id=w.units["A"])
    for act in (cards.report_lost, cards.unfreeze, cards.cancel_card):
        with pytest.raises(Forbidden):
            act(ctx, stranger, w.cards["b1"])
        with pytest.raises(Forbidden):
            act(ctx, unit_admin(w, "A"), w.cards["b1"])
    with pytest.raises(Forbidden):
        cards.issue_card(ctx, unit_admin(w, "A"), w.people["b1"])
    with pytest.raises(StateConflict):  # one active card per person
        cards.issue_card(ctx, unit_admin(w, "B"), w.people["b1"])
    with pytest.raises(NotFound):
        cards.report_lost(ctx, unit_admin(w, "B"), "4310000000000000")
    cards.cancel_card(ctx, unit_admin(w, "B"), w.cards["b1"])
    fresh = cards.issue_card(ctx, unit_admin(w, "B"), w.people["b1"])
    assert fresh != w.cards["b1"]


def test_retry_returns_the_first_answer_byte_for_byte(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    first = pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    ctx.clock.advance(seconds=5)  # type: ignore[attr-defined]
    again = pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    assert again.body == first.body and again.replayed
    assert purse(ctx, w, "a1") == (4700, 0)


def test_refusal_is_replayed_too(ctx: Context) -> None:
    w = build_world(ctx)
    first = pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    fund(ctx, w, "a1", subsidy=5000)
    again = pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    assert again.body == first.body and answer(again)["result"] == "refused"


def test_conflicting_retry_refused(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    with pytest.raises(IdempotencyConflict):
        pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], amount_fen=999))
    assert purse(ctx, w, "a1") == (4700, 0)


def test_same_txn_id_on_another_terminal_is_a_different_payment(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    got = answer(pay(ctx, w.terminals["B"], PaymentRequest("t1", w.cards["a1"], meal="lunch")))
    assert got["result"] == "approved"


def test_period_limit_hit(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    assert (
        answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch")))[
            "result"
        ]
        == "approved"
    )
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t2", w.cards["a1"], meal="lunch")))
    assert got["code"] == "period_limit_reached" and "1 次" in got["message"]
    assert purse(ctx, w, "a1") == (4700, 0)


def test_outside_meal_hours_refused(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    ctx.clock.advance(hours=3)  # type: ignore[attr-defined]  # 15:00
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch")))
    assert got["code"] == "outside_meal_period"
    assert purse(ctx, w, "a1") == (5000, 0)


def test_open_amount_and_items(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000, cash=1000)
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], amount_fen=1234)))
    assert (got["subsidy_fen"], got["cash_fen"]) == (1000, 234)


def test_cash_first_rule(ctx: Context) -> None:
    from sqlalchemy import update

    from onecard.org.models import Canteen

    w = build_world(ctx)
    with ctx.db.begin() as conn:
        conn.execute(
            update(Canteen).where(Canteen.id == w.canteens["A"]).values(purse_order="cash_first")
        )
    fund(ctx, w, "a1", subsidy=1000, cash=200)
    got = answer(pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch")))
    assert (got["subsidy_fen"], got["cash_fen"]) == (100, 200)


@pytest.mark.parametrize("amount", [0, -1, 10**9 + 1])
def test_absurd_amounts_rejected(ctx: Context, amount: int) -> None:
    w = build_world(ctx)
    with pytest.raises(InvalidAmount):
        pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], amount_fen=amount))
