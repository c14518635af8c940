"""The decision core's e-CNY kind: a guest's price, the canteen's rules, no purse."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onecard.core.clock import from_local
from onecard.pay.decide import (
    EcnyCredential,
    Facts,
    PaymentRequest,
    Policy,
    TerminalIdentity,
    decide_ecny,
)
from onecard.pay.pricing import CanteenRules, MealFacts

TERM = TerminalIdentity(1, "T-1", 1, 1)
POLICY = Policy("zh-CN", 30)
CODE = EcnyCredential("01" + "0" * 17)
PAYABLE, CLEARING = 10, 99


def facts(at: time, serves_guests: bool = True) -> Facts:
    canteen = CanteenRules(1, 1, "食堂", True, serves_guests, "subsidy_first")
    meal = MealFacts(5, "lunch", "午餐", time(11, 30), time(13, 30), 1, {"own": 300, "guest": 900})
    return Facts(from_local(datetime(2026, 3, 10, at.hour, at.minute)), canteen, PAYABLE, meal=meal)


@given(st.integers(0, 23), st.integers(0, 59), st.booleans())
def test_priced_for_a_guest_within_the_window_and_balanced(h: int, m: int, guests: bool) -> None:
    req = PaymentRequest("x", CODE.pay_code, meal="lunch")
    d = decide_ecny(TERM, req, CODE, facts(time(h, m), guests), POLICY, CLEARING)
    inside = time(11, 30) <= time(h, m) < time(13, 30)
    assert d.approved == (inside and guests)
    if d.approved:
        assert d.amount == 900 and d.klass == "guest"
        assert {leg.account_id: leg.amount for leg in d.legs} == {PAYABLE: 900, CLEARING: -900}
        assert d.from_sub == d.from_cash == 0 and d.purses_after is None
    else:
        assert d.legs == () and d.data["result"] == "refused"
        assert d.refusal == ("visitors_not_served" if not guests else "outside_meal_period")


def test_an_open_amount_needs_no_meal_window() -> None:
    req = PaymentRequest("x", CODE.pay_code, amount_fen=1234)
    d = decide_ecny(TERM, req, CODE, facts(time(3)), POLICY, CLEARING)
    assert d.approved and sum(leg.amount for leg in d.legs) == 0 and d.amount == 1234


def test_a_meal_the_canteen_lacks_is_bad_input() -> None:
    from onecard.core.errors import NotFound

    req = PaymentRequest("x", CODE.pay_code, meal="supper")
    f = facts(time(12))
    with pytest.raises(NotFound):
        decide_ecny(TERM, req, CODE, Facts(f.now, f.canteen, PAYABLE), POLICY, CLEARING)
