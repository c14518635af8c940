"""Property: whatever sequence of top-ups, payments, reversals and refunds happens across
many people and both canteens, the books stay straight.

A Python model tracks what each purse and each canteen should hold; after every
generated sequence the real balances must equal the model's, no purse may be negative,
every fen that entered through the bank is somewhere (money conserved), and
``ledger verify`` is clean. Then, on PostgreSQL, twenty threads race one purse on the
single-payment path: exactly the affordable payments are approved.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import threading
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from onecard.channels.bank import gateway
from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.funding import notifications
from onecard.ledger.models import Account
from onecard.ledger.service import account_id, derived_balance, system_account
from onecard.ledger.verify import verify
from onecard.org.actors import Actor
from onecard.pay import reversal, topup
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, fund, purse

PEOPLE = ["a1", "a2", "b1", "c1"]
CANTEENS = ["A", "B"]

Op = tuple[str, ...]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), st.sampled_from(PEOPLE), st.integers(1, 5000)),
        st.tuples(
            st.just("pay"),
            st.sampled_from(PEOPLE),
            st.sampled_from(CANTEENS),
            st.integers(1, 3000),
        ),
        st.tuples(st.just("reverse"), st.integers(0, 30)),
        st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 1500)),
    ),
    min_size=1,
    max_size=25,
)


@dataclass
class Model:
    purses: dict[str, list[int]] = field(default_factory=dict)  # person -> [subsidy, cash]
    takings: dict[str, int] = field(default_factory=dict)  # canteen -> fen
    # approved payments: (canteen, person, payment id, txn id, amount, subsidy, cash)
    paid: list[tuple[str, str, int, str, int, int, int]] = field(default_factory=list)
    refunded: dict[int, int] = field(default_factory=dict)
    reversed: set[int] = field(default_factory=set)


def manager(w: World, canteen: str) -> Actor:
    return Actor(
        label=f"manager:{canteen}",
        person_id=w.people["a2"],
        unit_id=w.units[canteen],
        grants=frozenset({("canteen_manager", None, w.canteens[canteen])}),
    )


def takings(ctx: Context, w: World, canteen: str) -> int:
    with ctx.db.read() as conn:
        return derived_balance(
            conn, account_id(conn, "canteen", w.canteens[canteen], "canteen_payable")
        )


def total_outside_the_bank(ctx: Context) -> tuple[int, int]:
    """(sum of every account but the bank's clearing account, minus that account)."""
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
        ids = list(conn.execute(select(Account.id)).scalars())
        inside = sum(derived_balance(conn, i) for i in ids if i != bank)
        return inside, -derived_balance(conn, bank)


_run = itertools.count()


@pytest.fixture
def world(ctx: Context) -> World:
    w = build_world(ctx)
    for p in PEOPLE:
        fund(ctx, w, p, subsidy=4000)
        gateway(ctx).open_outside_account(  # type: ignore[attr-defined]
            f"62170000{p}", p, 10**9
        )
    return w


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=ops)
def test_random_money_sequences_keep_the_books_straight(
    ctx: Context, world: World, sequence: list[Op]
) -> None:
    w = world
    run = next(_run)  # the database outlives one example: keep ids apart
    m = Model(
        purses={p: list(purse(ctx, w, p)) for p in PEOPLE},
        takings={c: takings(ctx, w, c) for c in CANTEENS},
    )
    for i, op in enumerate(sequence):
        if op[0] == "topup":
            _, p, amount = op
            topup.request_topup(ctx, w.people[p], int(amount), f"R{run}-{i}")
            gateway(ctx).deliver(  # type: ignore[attr-defined]
                lambda body, sig: notifications.handle_bank_notification(ctx, body, sig) and None
            )
            m.purses[p][1] += int(amount)
        elif op[0] == "pay":
            _, p, c, amount = op
            txn = f"r{run}-{i}"
            got = json.loads(
                pay(
                    ctx, w.terminals[c], PaymentRequest(txn, w.cards[p], amount_fen=int(amount))
                ).body
            )
            sub, cash = m.purses[p]
            if got["result"] == "approved":
                # Subsidy first, then cash (the default purse order).
                assert (got["subsidy_fen"], got["cash_fen"]) == (
                    min(int(amount), sub),
                    int(amount) - min(int(amount), sub),
                )
                m.purses[p] = [sub - got["subsidy_fen"], cash - got["cash_fen"]]
                m.takings[c] += int(amount)
                m.paid.append(
                    (c, p, got["payment_id"], txn, int(amount), got["subsidy_fen"], got["cash_fen"])
                )
            else:
                assert got["code"] == "insufficient_funds" and sub + cash < int(amount)
        elif op[0] == "reverse" and m.paid:
            c, p, pid, txn, amount, sub, cash = m.paid[int(op[1]) % len(m.paid)]
            try:
                reversal.reverse(ctx, w.terminals[c], txn)
            except OneCardError:
                # Refused only when it was partly refunded; a reversed one replays.
                assert m.refunded.get(pid, 0) > 0
                continue
            if pid not in m.reversed:
                m.reversed.add(pid)
                m.purses[p][0] += sub
                m.purses[p][1] += cash
                m.takings[c] -= amount
        elif op[0] == "refund" and m.paid:
            c, p, pid, txn, amount, sub, cash = m.paid[int(op[1]) % len(m.paid)]
            ask = int(op[2])
            left = amount - m.refunded.get(pid, 0)
            try:
                got_r = reversal.refund(ctx, manager(w, c), pid, ask, f"rf{run}-{i}")
            except OneCardError:
                assert pid in m.reversed or ask > left
                continue
            assert pid not in m.reversed and ask <= left
            assert got_r.subsidy_fen + got_r.cash_fen == ask
            assert 0 <= got_r.subsidy_fen <= sub and 0 <= got_r.cash_fen <= cash
            m.refunded[pid] = m.refunded.get(pid, 0) + ask
            m.purses[p][0] += got_r.subsidy_fen
            m.purses[p][1] += got_r.cash_fen
            m.takings[c] -= ask
    for p in PEOPLE:
        got_p = purse(ctx, w, p)
        assert got_p == tuple(m.purses[p]), p
        assert min(got_p) >= 0
    for c in CANTEENS:
        assert takings(ctx, w, c) == m.takings[c]
    inside, came_in = total_outside_the_bank(ctx)
    assert inside == came_in  # every fen that came in is somewhere
    with ctx.db.read() as conn:
        report = verify(conn)
    assert report.ok, report.problems[:3]


def test_twenty_threads_race_one_purse_on_the_single_payment_path(pg_ctx: Context) -> None:
    """No batcher: each payment is its own transaction; the guarded purse update decides."""
    w = build_world(pg_ctx)
    n = 7
    fund(pg_ctx, w, "a2", subsidy=300 * n)
    start = threading.Barrier(20)

    def go(i: int) -> dict[str, object]:
        start.wait()
        req = PaymentRequest(f"race-{i}", w.cards["a2"], amount_fen=300)
        return dict(json.loads(pay(pg_ctx, w.terminals["A"], req).body))

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        got = list(pool.map(go, range(20)))
    results = [g["result"] for g in got]
    assert results.count("approved") == n and results.count("refused") == 20 - n
    assert {g["code"] for g in got if g["result"] == "refused"} == {"insufficient_funds"}
    assert purse(pg_ctx, w, "a2") == (0, 0)
    assert takings(pg_ctx, w, "A") == 300 * n
