"""``post_many``: many entries in a constant number of statements, exactly as ``post``
called for each in order — same rows, same idempotency, same refusals (the whole call)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from onecard.core.context import Context
from onecard.core.errors import (
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PeriodClosed,
    UnbalancedEntry,
)
from onecard.ledger import service
from onecard.ledger.models import JournalEntry, Posting
from onecard.ledger.service import (
    Leg,
    NewEntry,
    account_id,
    balances,
    close_period,
    post,
    post_many,
    system_account,
)
from world import World, build_world, fund


def _acct(conn: Connection, w: World, person: str, kind: str = "subsidy") -> int:
    return account_id(conn, "person", w.people[person], kind)


def _counts(ctx: Context) -> tuple[int, int]:
    with ctx.db.read() as conn:
        entries = conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        postings = conn.execute(select(func.count()).select_from(Posting)).scalar_one()
    return int(entries), int(postings)


def _many(ctx: Context, entries: list[NewEntry], **kw: Any) -> dict[str, int]:
    with ctx.db.begin() as conn:
        return post_many(conn, entries, actor="test", booked_at=ctx.clock.now(), **kw)


def _mixed(conn: Connection, w: World, prefix: str) -> list[NewEntry]:
    """Credits from the bank, a purse and a unit's income line debited after them."""
    bank = system_account(conn, "bank_clearing")
    income = account_id(conn, "unit", w.units["A"], "unit_income")
    payable = account_id(conn, "canteen", w.canteens["A"], "canteen_payable")
    a1, a2, a1c = _acct(conn, w, "a1"), _acct(conn, w, "a2"), _acct(conn, w, "a1", "cash")
    return [
        NewEntry(w.region, "test_fund", f"{prefix}:1", [Leg(bank, -1000), Leg(a1, 1000)], "r1"),
        NewEntry(w.region, "test_fund", f"{prefix}:2", [Leg(bank, -300), Leg(a1c, 300)]),
        NewEntry(w.region, "test_in", f"{prefix}:3", [Leg(bank, -900), Leg(income, 900)]),
        NewEntry(w.region, "dist", f"{prefix}:4", [Leg(income, -600), Leg(a2, 600)], memo="m"),
        NewEntry(
            w.region,
            "meal",
            f"{prefix}:5",
            [Leg(payable, 1100), Leg(a1, -900), Leg(a1c, -200)],
            "canteen",
            "two purses",
        ),
        NewEntry(w.region, "dist", f"{prefix}:6", [Leg(income, -300), Leg(a1, 300)]),
    ]


def _entry_rows(conn: Connection, ids: list[int]) -> list[tuple[Any, ...]]:
    out = []
    for eid in ids:
        e = conn.execute(select(JournalEntry.__table__).where(JournalEntry.id == eid)).one()
        legs = conn.execute(
            select(Posting.account_id, Posting.amount)
            .where(Posting.entry_id == eid)
            .order_by(Posting.id)
        ).all()
        out.append(
            (
                e.region_id,
                e.kind,
                e.period,
                e.booked_at,
                e.occurred_at,
                e.actor,
                e.reference,
                e.memo,
                [tuple(x) for x in legs],
            )
        )
    return out


def test_same_rows_and_balances_as_post_one_by_one(ctx: Context) -> None:
    w = build_world(ctx)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        one = _mixed(conn, w, "one")
        accts = sorted({leg.account_id for e in one for leg in e.legs})
        before = balances(conn, accts)
        one_ids = []
        for e in one:
            eid, created = post(
                conn,
                region_id=e.region_id,
                kind=e.kind,
                key=e.key,
                legs=e.legs,
                actor="test",
                booked_at=now,
                reference=e.reference,
                memo=e.memo,
            )
            assert created
            one_ids.append(eid)
        middle = balances(conn, accts)
    got = _many(
        ctx,
        [
            NewEntry(e.region_id, e.kind, f"many:{e.key[4:]}", e.legs, e.reference, e.memo)
            for e in one
        ],
    )
    assert list(got) == [f"many:{i}" for i in range(1, 7)]
    many_ids = list(got.values())
    assert many_ids == sorted(many_ids) and min(many_ids) > max(one_ids)
    with ctx.db.read() as conn:
        after = balances(conn, accts)
        assert _entry_rows(conn, one_ids) == _entry_rows(conn, many_ids)
    for a in accts:
        assert after[a] - middle[a] == middle[a] - before[a]


def test_known_keys_are_skipped_and_returned(ctx: Context) -> None:
    w = build_world(ctx)
    with ctx.db.read() as conn:
        entries = _mixed(conn, w, "k")
    first = _many(ctx, entries[:3])
    counts = _counts(ctx)
    again = _many(ctx, entries)
    assert {k: again[k] for k in first} == first
    assert list(again) == [e.key for e in entries]
    assert _counts(ctx) == (counts[0] + 3, counts[1] + 7)
    # All known: nothing written, the same ids.
    assert _many(ctx, entries) == again
    assert _counts(ctx) == (counts[0] + 3, counts[1] + 7)
    with ctx.db.read() as conn:
        a1, a1c = _acct(conn, w, "a1"), _acct(conn, w, "a1", "cash")
        assert balances(conn, [a1, a1c]) == {a1: 400, a1c: 100}


def test_a_key_repeated_in_one_call_is_refused(ctx: Context) -> None:
    w = build_world(ctx)
    with ctx.db.read() as conn:
        e = _mixed(conn, w, "d")[0]
    counts = _counts(ctx)
    with pytest.raises(InvalidInput):
        _many(ctx, [e, NewEntry(e.region_id, e.kind, "other", e.legs), e])
    assert _counts(ctx) == counts


def test_one_overdrawn_purse_refuses_the_whole_call(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000)
    counts = _counts(ctx)
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
        payable = account_id(conn, "canteen", w.canteens["A"], "canteen_payable")
        a1, a2 = _acct(conn, w, "a1"), _acct(conn, w, "a2")
    ok = NewEntry(w.region, "t", "ok", [Leg(bank, -500), Leg(a2, 500)])
    spend = [NewEntry(w.region, "t", f"s{i}", [Leg(a1, -400), Leg(payable, 400)]) for i in range(3)]
    with pytest.raises(InsufficientFunds):
        _many(ctx, [ok, *spend])
    assert _counts(ctx) == counts
    # In order, as post() would: a debit before the credit that would cover it is refused,
    # even though the call's net change leaves the purse above zero.
    late = NewEntry(w.region, "t", "late", [Leg(bank, -2000), Leg(a1, 2000)])
    with pytest.raises(InsufficientFunds):
        _many(ctx, [ok, *spend, late])
    assert _counts(ctx) == counts
    got = _many(ctx, [ok, late, *spend])
    assert len(got) == 5
    with ctx.db.read() as conn:
        assert balances(conn, [a1, a2]) == {a1: 1800, a2: 500}


def test_a_shared_account_is_not_debited_past_its_balance(ctx: Context) -> None:
    w = build_world(ctx)
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
        income = account_id(conn, "unit", w.units["A"], "unit_income")
        a1, a2 = _acct(conn, w, "a1"), _acct(conn, w, "a2")
    _many(ctx, [NewEntry(w.region, "in", "in", [Leg(bank, -1000), Leg(income, 1000)])])
    counts = _counts(ctx)
    dist = [
        NewEntry(w.region, "dist", f"d{i}", [Leg(income, -400), Leg(p, 400)])
        for i, p in enumerate([a1, a2, a1])
    ]
    with pytest.raises(InsufficientFunds):
        _many(ctx, dist)
    assert _counts(ctx) == counts
    # A credit earlier in the call counts, as it would one by one.
    more = NewEntry(w.region, "in", "in2", [Leg(bank, -200), Leg(income, 200)])
    _many(ctx, [more, *dist])
    with ctx.db.read() as conn:
        assert balances(conn, [income, a1, a2]) == {income: 0, a1: 800, a2: 400}


def test_bad_calls_write_nothing(ctx: Context) -> None:
    w = build_world(ctx)
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
        a1 = _acct(conn, w, "a1")
    good = NewEntry(w.region, "t", "g", [Leg(bank, -5), Leg(a1, 5)])
    counts = _counts(ctx)
    with pytest.raises(UnbalancedEntry):
        _many(ctx, [good, NewEntry(w.region, "t", "u", [Leg(bank, -5), Leg(a1, 4)])])
    with pytest.raises(NotFound):
        _many(ctx, [good, NewEntry(w.region, "t", "m", [Leg(bank, -5), Leg(999_999, 5)])])
    with ctx.db.begin() as conn:
        close_period(conn, "2025Q4", "test", ctx.clock.now())
    with pytest.raises(PeriodClosed):
        _many(ctx, [good], period="2025Q4")
    assert _counts(ctx) == counts
    assert _many(ctx, []) == {}
    # Known keys are answered before the period is looked at, as post() does.
    first = _many(ctx, [good])
    assert _many(ctx, [good], period="2025Q4") == first


def test_more_entries_than_one_chunk(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "IN_CHUNK", 3)
    monkeypatch.setattr(service, "ARRAY_CHUNK", 3)
    w = build_world(ctx)
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
        income = account_id(conn, "unit", w.units["A"], "unit_income")
        purses = [
            _acct(conn, w, p, k) for p in ("a1", "a2", "b1", "c1") for k in ("subsidy", "cash")
        ]
    _many(ctx, [NewEntry(w.region, "in", "in", [Leg(bank, -1000), Leg(income, 1000)])])
    entries = [
        NewEntry(w.region, "dist", f"c{i}", [Leg(income, -(i + 1)), Leg(purses[i % 8], i + 1)])
        for i in range(20)
    ]
    first = _many(ctx, entries[5:12])
    got = _many(ctx, entries)
    assert list(got) == [e.key for e in entries]
    assert {k: got[k] for k in first} == first
    assert len(set(got.values())) == 20
    with ctx.db.read() as conn:
        bals = balances(conn, [income, *purses])
    assert bals[income] == 1000 - sum(range(1, 21))
    for j, p in enumerate(purses):
        assert bals[p] == sum(i + 1 for i in range(20) if i % 8 == j)
    # An overdraft found in a later chunk still refuses everything.
    counts = _counts(ctx)
    spend = [
        NewEntry(w.region, "t", f"o{i}", [Leg(purses[0], -10), Leg(bank, 10)]) for i in range(9)
    ]
    with pytest.raises(InsufficientFunds):
        _many(ctx, spend)
    assert _counts(ctx) == counts


def test_any_text_survives_the_trip(ctx: Context) -> None:
    """PostgreSQL gets lists as array literals: quotes, backslashes, commas, braces,
    NULL-looking words and Chinese come back as written."""
    w = build_world(ctx)
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
        a1 = _acct(conn, w, "a1")
    odd = ['a "quoted", {braced}', 'a","b', "back\\slash\\", "NULL", "", " 空格 就餐经费 ", "x\ny"]
    entries = [
        NewEntry(w.region, f"k{i}", f"key:{s}:{i}", [Leg(bank, -1), Leg(a1, 1)], s, s[::-1])
        for i, s in enumerate(odd)
    ]
    got = _many(ctx, entries)
    with ctx.db.read() as conn:
        for e in entries:
            row = conn.execute(
                select(JournalEntry.__table__).where(JournalEntry.id == got[e.key])
            ).one()
            assert (row.idempotency_key, row.kind, row.reference, row.memo) == (
                e.key,
                e.kind,
                e.reference,
                e.memo,
            )
    assert _many(ctx, entries) == got
