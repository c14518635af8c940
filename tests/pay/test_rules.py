"""A unit sets its own canteen's rules (R-U1); other units cannot."""

from __future__ import annotations

import json
from datetime import time

import pytest

from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput
from onecard.org.actors import Actor
from onecard.pay.rules import PeriodSpec, meal_table, set_canteen_rules, set_meal_period
from onecard.pay.service import PaymentRequest, pay
from world import build_world, fund


def admin_of(unit_id: int) -> Actor:
    return Actor(label="unit-admin", grants=frozenset({("unit_admin", unit_id, None)}))


def test_unit_changes_lunch_price_and_next_payment_uses_it(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "c1", subsidy=5000)
    spec = PeriodSpec(
        "lunch", "午餐", time(11), time(14), 2, {"own": 350, "visitor": 550, "guest": 900}
    )
    set_meal_period(ctx, admin_of(w.units["A"]), w.canteens["A"], spec)
    got = json.loads(
        pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["c1"], meal="lunch")).body
    )
    assert got["amount_fen"] == 550
    again = json.loads(
        pay(ctx, w.terminals["A"], PaymentRequest("t2", w.cards["c1"], meal="lunch")).body
    )
    assert again["result"] == "approved"  # the limit is now 2 a day
    lunch = next(p for p in meal_table(ctx, w.canteens["A"]) if p["code"] == "lunch")
    assert lunch["prices"] == {"own": 350, "visitor": 550, "guest": 900}
    assert (lunch["starts"], lunch["ends"]) == ("11:00", "14:00")


def test_another_units_admin_is_forbidden(ctx: Context) -> None:
    w = build_world(ctx)
    spec = PeriodSpec("lunch", "午餐", time(11), time(14), 1, {"own": 1})
    with pytest.raises(Forbidden):
        set_meal_period(ctx, admin_of(w.units["B"]), w.canteens["A"], spec)


def test_overlapping_windows_refused(ctx: Context) -> None:
    w = build_world(ctx)
    spec = PeriodSpec("brunch", "早午餐", time(8), time(12), 1, {"own": 300})
    with pytest.raises(InvalidInput, match="重叠"):
        set_meal_period(ctx, admin_of(w.units["A"]), w.canteens["A"], spec)


def test_canteen_closed_to_visitors_refuses_them_but_serves_own_staff(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    fund(ctx, w, "b1", subsidy=5000)
    set_canteen_rules(
        ctx,
        admin_of(w.units["A"]),
        w.canteens["A"],
        serves_visitors=False,
        serves_guests=True,
        purse_order="subsidy_first",
    )
    visitor = json.loads(
        pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["b1"], meal="lunch")).body
    )
    assert visitor["code"] == "visitors_not_served"
    own = json.loads(
        pay(ctx, w.terminals["A"], PaymentRequest("t2", w.cards["a1"], meal="lunch")).body
    )
    assert own["result"] == "approved"
