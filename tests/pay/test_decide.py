"""The payment decision core (``pay.decide``), on its own: no database, no clock.

Properties over random sequences of payments by a few payers, the facts threaded from
one decision to the next as the batch threads them: the core never approves beyond a
payer's balance, its postings always balance (and pass the ledger writer's check), a
refusal posts nothing, the per-period meal limits hold, and the same facts always give
the same decision.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onecard.core.errors import NotFound, OneCardError
from onecard.ledger import journal
from onecard.pay.decide import (
    CardCredential,
    CardFacts,
    CodeCredential,
    Credential,
    Decision,
    Facts,
    Payer,
    PaymentRequest,
    Policy,
    Purses,
    TerminalIdentity,
    decide,
)
from onecard.pay.pricing import CanteenRules, MealFacts

TERMINAL = TerminalIdentity(id=7, code="T-A1", region_id=1, canteen_id=1)
POLICY = Policy(language="zh", step_seconds=30)
PAYABLE = 9000
LUNCH = "lunch"


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    n_people = draw(st.integers(1, 3))
    people = []
    for pid in range(1, n_people + 1):
        people.append(
            {
                "payer": Payer(
                    pid,
                    f"p{pid}",
                    draw(st.sampled_from([1, 2])),  # own unit or another
                    "unit",
                    draw(st.sampled_from(["staff", "staff", "guest"])),
                    draw(st.sampled_from(["active"] * 5 + ["left"])),
                ),
                "card": draw(st.sampled_from(["active"] * 6 + ["lost", "cancelled"])),
                "purses": Purses(
                    100 + pid, draw(st.integers(0, 3000)), 200 + pid, draw(st.integers(0, 3000))
                ),
                "had": draw(st.integers(0, 2)),
            }
        )
    canteen = CanteenRules(
        1,
        1,
        "食堂",
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.sampled_from(["subsidy_first", "cash_first"])),
    )
    prices = draw(
        st.dictionaries(st.sampled_from(["own", "visitor", "guest"]), st.integers(1, 1500))
    )
    meal = MealFacts(5, LUNCH, "午餐", time(11, 30), time(13, 30), draw(st.integers(0, 3)), prices)
    hour = draw(st.sampled_from([3, 4, 5]))  # UTC: 11:00, 12:00, 13:00 in Beijing
    payments = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_people),  # 0: a card no one has
                # None: the lunch; a negative number: the payer's balance plus it + 3
                # (the edge: just affordable, exactly, or just not).
                st.one_of(st.none(), st.integers(1, 2500), st.integers(-5, -1)),
                st.booleans(),  # by payment code whose token no one holds
            ),
            min_size=1,
            max_size=12,
        )
    )
    return {
        "people": people,
        "canteen": canteen,
        "meal": meal,
        "now": datetime(2026, 11, 30, hour, 0),
        "payments": payments,
    }


def _run(s: dict[str, object]) -> list[tuple[int, PaymentRequest, Decision, Facts]]:
    """Decide the scenario's payments in order, threading purses and meal counts."""
    people = {p["payer"].id: dict(p) for p in s["people"]}  # type: ignore[attr-defined]
    out = []
    for n, (who, asked, by_code) in enumerate(s["payments"]):  # type: ignore[attr-defined]
        amount = asked
        if asked is not None and asked < 0:
            held = people[who]["purses"] if who in people else Purses(0, 0, 0, 0)
            amount = max(1, held.subsidy + held.cash + asked + 3)
        req = PaymentRequest(
            f"t{n}",
            "8" * 18 if by_code else f"{who:08d}",
            meal=LUNCH if amount is None else None,
            amount_fen=amount,
        )
        p = people.get(who)
        cred: Credential = (
            CodeCredential("00000000", "000000") if by_code else CardCredential(req.credential)
        )
        if by_code or p is None:
            facts = Facts(s["now"], s["canteen"], PAYABLE, code_retired=who % 2 == 1)  # type: ignore[arg-type]
        else:
            facts = Facts(
                s["now"],  # type: ignore[arg-type]
                s["canteen"],  # type: ignore[arg-type]
                PAYABLE,
                card=CardFacts(who, p["card"]),
                payer=p["payer"],
                purses=p["purses"],
                meal=s["meal"],  # type: ignore[arg-type]
                meals_had=p["had"],
            )
        d = decide(TERMINAL, req, cred, facts, POLICY)
        again = decide(TERMINAL, req, cred, facts, POLICY)
        assert again == d  # the same facts, the same decision
        if d.approved and p is not None:
            p["purses"] = d.purses_after
            if d.meal_period_id is not None:
                p["had"] += 1
        out.append((who, req, d, facts))
    return out


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_the_core_never_overspends_always_balances_and_refusals_post_nothing(
    s: dict[str, object],
) -> None:
    for _who, _req, d, facts in _run(s):
        if not d.approved:
            assert d.legs == () and d.purses_after is None and d.code_step is None
            assert d.data["result"] == "refused" and d.data["code"] == d.refusal
            assert d.amount == 0 and d.from_sub == 0 and d.from_cash == 0
            continue
        assert facts.purses is not None and d.purses_after is not None
        # Balanced, and what the one ledger writer accepts.
        assert sum(leg.amount for leg in d.legs) == 0
        journal.check([d.entry(TERMINAL, d.data["txn_id"])])
        assert d.legs[0] == journal.Leg(PAYABLE, d.amount)
        assert d.amount == d.from_sub + d.from_cash > 0
        # Never beyond the balance: each purse gives at most what it holds.
        assert 0 <= d.from_sub <= facts.purses.subsidy
        assert 0 <= d.from_cash <= facts.purses.cash
        assert d.purses_after.subsidy == facts.purses.subsidy - d.from_sub
        assert d.purses_after.cash == facts.purses.cash - d.from_cash
        assert d.data["balances"] == {
            "subsidy_fen": d.purses_after.subsidy,
            "cash_fen": d.purses_after.cash,
        }
        # The canteen's purse order: the first purse is emptied before the second pays.
        first, second = (
            (d.from_cash, d.from_sub)
            if facts.canteen.purse_order == "cash_first"
            else (d.from_sub, d.from_cash)
        )
        held = (
            facts.purses.cash if facts.canteen.purse_order == "cash_first" else facts.purses.subsidy
        )
        assert second == 0 or first == held


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_meal_limits_and_balances_hold_over_a_whole_sequence(s: dict[str, object]) -> None:
    meal: MealFacts = s["meal"]  # type: ignore[assignment]
    start = {p["payer"].id: p for p in s["people"]}  # type: ignore[attr-defined]
    spent: dict[int, int] = {}
    meals: dict[int, int] = {}
    for who, req, d, facts in _run(s):
        if d.approved:
            spent[who] = spent.get(who, 0) + d.amount
            if d.meal_period_id is not None:
                meals[who] = meals.get(who, 0) + 1
            if req.amount_fen is not None:
                assert d.amount == req.amount_fen
        elif d.refusal == "insufficient_funds":
            assert facts.purses is not None
            held = facts.purses.subsidy + facts.purses.cash
            assert d.data["balances"] == {
                "subsidy_fen": facts.purses.subsidy,
                "cash_fen": facts.purses.cash,
            }
            if req.amount_fen is not None:
                assert req.amount_fen > held
        elif d.refusal is None or (
            d.refusal not in ("period_limit_reached",)
            and req.amount_fen is not None
            and facts.purses is not None
            and facts.payer is not None
            and facts.payer.status == "active"
            and facts.card is not None
            and facts.card.status == "active"
        ):
            # An open amount refused for another reason than money, a card or a person:
            # only the canteen not serving this diner.
            assert d.refusal == "visitors_not_served"
    for who, total in spent.items():
        p = start[who]
        assert total <= p["purses"].subsidy + p["purses"].cash
    if meal.per_person_limit > 0:
        for who, n in meals.items():
            assert start[who]["had"] + n <= meal.per_person_limit


def test_bad_input_is_raised_not_refused() -> None:
    payer = Payer(1, "p", 1, "u", "staff", "active")
    facts = Facts(
        datetime(2026, 11, 30, 4),
        CanteenRules(1, 1, "食堂", True, True, "subsidy_first"),
        PAYABLE,
        card=CardFacts(1, "active"),
        payer=payer,
        purses=Purses(1, 1000, 2, 0),
    )
    req = PaymentRequest("t", "12345678", meal="brunch")
    with pytest.raises(NotFound):
        decide(TERMINAL, req, CardCredential("12345678"), facts, POLICY)
    items = PaymentRequest("t", "12345678", items=(("X", 1),))
    with pytest.raises(OneCardError):
        decide(TERMINAL, items, CardCredential("12345678"), facts, POLICY)
    priced = dataclasses.replace(facts, item_prices={"X": 300})
    d = decide(TERMINAL, items, CardCredential("12345678"), priced, POLICY)
    assert d.approved and d.amount == 300 and d.purses_after == Purses(1, 700, 2, 0)
