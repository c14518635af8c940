"""``ledger verify`` finds every kind of damage, on SQLite and on PostgreSQL.

The ledger's backstops (append-only and zero-sum triggers, CHECK constraints) refuse
most of this damage, so each test goes around them the way a restore script or a bulk
load would (PostgreSQL: ``session_replication_role = replica``, which is how the bench's
bulk load writes; SQLite: the append-only triggers dropped, CHECKs ignored), breaks one
thing, asserts that ``verify`` names exactly it, and puts everything back (the ``ctx``
fixture verifies the ledger after every test). ``verify`` checks differently on the two
dialects (a fingerprint of entries and postings on PostgreSQL, grouping by entry on
SQLite and with ``exact``), so every test runs on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, func, select, text

from onecard.core.context import Context
from onecard.ledger.backstops import SQLITE
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.ledger.service import account_id, system_account
from onecard.ledger.verify import verify
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, fund

UNCACHED_ZERO = "ck_accounts_uncached_zero"


@pytest.fixture
def world(ctx: Context) -> World:
    """Two diners who have eaten (entries of every usual shape exist)."""
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000)
    fund(ctx, w, "b1", subsidy=2000, cash=500)
    for n, (who, term) in enumerate([("a1", "A"), ("b1", "B")]):
        out = pay(ctx, w.terminals[term], PaymentRequest(f"t{n}", w.cards[who], meal="lunch"))
        assert out.approved
    return w


@contextmanager
def around_the_backstops(ctx: Context, *, checks: bool = False) -> Iterator[Connection]:
    """One transaction the ledger's triggers do not see (and, with ``checks``, without the
    ``cached OR balance = 0`` CHECK of accounts: ``restore_checks`` puts it back)."""
    postgres = ctx.db.is_postgres
    with ctx.db.engine.begin() as conn:
        if postgres:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            if checks:
                conn.execute(text(f"ALTER TABLE accounts DROP CONSTRAINT {UNCACHED_ZERO}"))
        else:
            for name in ("journal_entries_no_update", "journal_entries_no_delete"):
                conn.execute(text(f"DROP TRIGGER {name}"))
            for name in ("postings_no_update", "postings_no_delete"):
                conn.execute(text(f"DROP TRIGGER {name}"))
            if checks:
                conn.execute(text("PRAGMA ignore_check_constraints = ON"))
        try:
            yield conn
        finally:
            if not postgres:
                if checks:
                    conn.execute(text("PRAGMA ignore_check_constraints = OFF"))
                for ddl in SQLITE:
                    conn.execute(text(ddl))


def restore_checks(ctx: Context) -> None:
    if ctx.db.is_postgres:
        with ctx.db.engine.begin() as conn:
            conn.execute(
                text(
                    f"ALTER TABLE accounts ADD CONSTRAINT {UNCACHED_ZERO} CHECK (cached OR balance = 0)"
                )
            )


def last_entry(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.max(JournalEntry.id))).scalar_one())


def forge(
    conn: Connection, key: str, legs: list[tuple[int, int]], recorded: int | None = None
) -> int:
    """A raw entry with these (account, amount) postings, recording ``recorded`` legs (by
    default as many as it has); no balance is touched."""
    entry = int(
        conn.execute(
            text(
                "INSERT INTO journal_entries (region_id, kind, idempotency_key, period,"
                " booked_at, occurred_at, actor, reference, memo, legs)"
                " VALUES (1, 'forged', :k, '2026Q1', '2026-03-10 04:00:00',"
                " '2026-03-10 04:00:00', 'sql', '', '', :n) RETURNING id"
            ),
            {"k": key, "n": len(legs) if recorded is None else recorded},
        ).scalar_one()
    )
    if legs:
        conn.execute(
            text("INSERT INTO postings (entry_id, account_id, amount) VALUES (:e, :a, :x)"),
            [{"e": entry, "a": a, "x": x} for a, x in legs],
        )
    return entry


def undo(ctx: Context, after_entry: int, balances: dict[int, int] | None = None) -> None:
    """Remove every entry after ``after_entry`` and set these balances back."""
    with around_the_backstops(ctx) as conn:
        conn.execute(text("DELETE FROM postings WHERE entry_id > :e"), {"e": after_entry})
        conn.execute(text("DELETE FROM journal_entries WHERE id > :e"), {"e": after_entry})
        for aid, bal in (balances or {}).items():
            conn.execute(
                text("UPDATE accounts SET balance = :b WHERE id = :a"), {"a": aid, "b": bal}
            )


def problems(ctx: Context, limit: int = 50) -> list[str]:
    with ctx.db.read() as conn:
        return verify(conn, limit).problems


def accounts_of(ctx: Context, w: World) -> dict[str, int]:
    with ctx.db.read() as conn:
        return {
            "bank": system_account(conn, "bank_clearing"),
            "fee": system_account(conn, "fee_income"),
            "finance": system_account(conn, "finance"),
            "a1_cash": account_id(conn, "person", w.people["a1"], "cash"),
            "a1_subsidy": account_id(conn, "person", w.people["a1"], "subsidy"),
            "payable_A": account_id(conn, "canteen", w.canteens["A"], "canteen_payable"),
        }


# --- a clean ledger ----------------------------------------------------------------------
def test_a_clean_ledger_passes_with_exact_counts(ctx: Context, world: World) -> None:
    with ctx.db.read() as conn:
        rep = verify(conn)
        counts = [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (JournalEntry, Posting, Account)
        ]
    assert rep.ok and rep.problems == []
    assert [rep.entries, rep.postings, rep.accounts] == counts
    assert rep.entries == 5 and rep.postings == 10


def test_an_empty_ledger_passes(ctx: Context) -> None:
    with ctx.db.read() as conn:
        rep = verify(conn)
    assert rep.ok and (rep.entries, rep.postings) == (0, 0)


# --- each check fires -------------------------------------------------------------------
def test_an_unbalanced_entry_is_named(ctx: Context, world: World) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            e = forge(conn, "forged-1", [(acct["bank"], -100), (acct["finance"], 50)])
        assert problems(ctx) == [f"entry {e}: 2 postings summing to -50 fen (must be 0, ≥2)"]
    finally:
        undo(ctx, before)


def test_an_entry_with_a_single_posting_is_named(ctx: Context, world: World) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            e = forge(conn, "forged-1", [(acct["bank"], -100)])
        assert problems(ctx) == [f"entry {e}: 1 postings summing to -100 fen (must be 0, ≥2)"]
    finally:
        undo(ctx, before)


def test_an_entry_without_postings_is_named(ctx: Context, world: World) -> None:
    before = last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            e = forge(conn, "forged-1", [])
        assert problems(ctx) == [f"entry {e}: has no postings"]
    finally:
        undo(ctx, before)


def test_an_entry_recording_more_legs_than_it_has_is_named(ctx: Context, world: World) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            e = forge(conn, "forged-1", [(acct["bank"], -100), (acct["finance"], 100)], 3)
        assert problems(ctx) == [f"entry {e}: has 2 postings but records 3"]
    finally:
        undo(ctx, before)


def test_an_entry_recording_legs_it_lost_is_named(ctx: Context, world: World) -> None:
    """Its postings gone (a restore that missed them): it still records two legs."""
    before = last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            e = forge(conn, "forged-1", [], 2)
        assert problems(ctx) == [f"entry {e}: has no postings"]
    finally:
        undo(ctx, before)


def test_postings_a_purse_balance_does_not_reflect_are_named(ctx: Context, world: World) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            forge(conn, "forged-1", [(acct["bank"], -100), (acct["a1_cash"], 100)])
        assert problems(ctx) == [
            f"account {acct['a1_cash']} (cash): cached balance 0 fen, postings give 100 fen"
        ]
    finally:
        undo(ctx, before)


def test_a_purse_balance_changed_behind_the_ledger_is_named(ctx: Context, world: World) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    purse = acct["a1_subsidy"]
    with ctx.db.read() as conn:
        bal = int(conn.execute(select(Account.balance).where(Account.id == purse)).scalar_one())
    try:
        with around_the_backstops(ctx) as conn:
            conn.execute(text("UPDATE accounts SET balance = 0 WHERE id = :a"), {"a": purse})
        assert problems(ctx) == [
            f"account {purse} (subsidy): cached balance 0 fen, postings give {bal} fen"
        ]
    finally:
        undo(ctx, before, {purse: bal})


def test_a_non_negative_shared_account_driven_below_zero_is_named(
    ctx: Context, world: World
) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            # Balanced, so even PostgreSQL's zero-sum trigger would take it: the no-negative
            # rule of shared accounts lives in ledger.post and in verify.
            forge(conn, "forged-1", [(acct["fee"], -100), (acct["bank"], 100)])
        assert problems(ctx) == [f"account {acct['fee']} (fee_income): negative balance -100 fen"]
    finally:
        undo(ctx, before)


def test_a_clearing_account_may_be_negative(ctx: Context, world: World) -> None:
    acct = accounts_of(ctx, world)
    with ctx.db.read() as conn:
        bank = conn.execute(
            select(func.sum(Posting.amount)).where(Posting.account_id == acct["bank"])
        ).scalar_one()
    assert bank < 0 and problems(ctx) == []


def test_an_uncached_account_holding_a_balance_is_named(ctx: Context, world: World) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    payable = acct["payable_A"]
    try:
        with around_the_backstops(ctx, checks=True) as conn:
            conn.execute(text("UPDATE accounts SET balance = 7 WHERE id = :a"), {"a": payable})
        assert problems(ctx) == [
            f"account {payable} (canteen_payable): uncached account holds balance 7"
        ]
    finally:
        undo(ctx, before, {payable: 0})
        restore_checks(ctx)
    with pytest.raises(Exception, match=r"uncached_zero|CHECK"), ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = 7 WHERE id = :a"), {"a": payable})


# --- order and limits --------------------------------------------------------------------
def test_problems_come_entries_first_then_orphans_then_accounts_each_limited(
    ctx: Context, world: World
) -> None:
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            bad = [forge(conn, f"bad-{i}", [(acct["bank"], -10 - i)]) for i in range(3)]
            empty = [forge(conn, f"empty-{i}", []) for i in range(3)]
            forge(conn, "cash", [(acct["bank"], -100), (acct["a1_cash"], 100)])
            forge(conn, "fee", [(acct["fee"], -5), (acct["bank"], 5)])
            forge(conn, "payable", [(acct["payable_A"], -(10**6)), (acct["bank"], 10**6)])
        with ctx.db.read() as conn:
            rep = verify(conn, limit=2)
        first_two = sorted([acct["a1_cash"], acct["fee"], acct["payable_A"]])[:2]
        assert rep.problems[:4] == [
            f"entry {bad[0]}: 1 postings summing to -10 fen (must be 0, ≥2)",
            f"entry {bad[1]}: 1 postings summing to -11 fen (must be 0, ≥2)",
            f"entry {empty[0]}: has no postings",
            f"entry {empty[1]}: has no postings",
        ]
        assert [int(p.split()[1]) for p in rep.problems[4:]] == first_two
        assert not rep.ok
        with ctx.db.read() as conn:
            assert len(verify(conn).problems) == 3 + 3 + 3
    finally:
        undo(ctx, before)


def test_verify_inside_a_transaction_that_wrote_sees_its_own_writes(
    ctx: Context, world: World
) -> None:
    """On PostgreSQL the entry pass may run on a second connection, but only when the
    caller's transaction has written nothing: otherwise its own writes are checked too."""
    acct = accounts_of(ctx, world)
    with ctx.db.engine.connect() as conn:
        # (PostgreSQL's zero-sum trigger would refuse this only at COMMIT; never reached.)
        e = forge(conn, "forged-1", [(acct["bank"], -100), (acct["finance"], 50)])
        rep = verify(conn)
        conn.rollback()
    assert rep.problems == [f"entry {e}: 2 postings summing to -50 fen (must be 0, ≥2)"]
    assert problems(ctx) == []


# --- the fingerprint (PostgreSQL) and the exact grouping agree -----------------------------
def test_unbalanced_entries_that_cancel_out_everywhere_else_are_named(
    ctx: Context, world: World
) -> None:
    """Two entries off by +50 and −50 on the same accounts: every account total and the
    ledger's grand total still agree, so only the entry check can see them — on PostgreSQL
    through the weighted sums, which differ from zero unless the weights collide."""
    acct, before = accounts_of(ctx, world), last_entry(ctx)
    try:
        with around_the_backstops(ctx) as conn:
            e1 = forge(conn, "forged-1", [(acct["bank"], -100), (acct["finance"], 50)])
            e2 = forge(conn, "forged-2", [(acct["bank"], 100), (acct["finance"], -50)])
        expected = [
            f"entry {e1}: 2 postings summing to -50 fen (must be 0, ≥2)",
            f"entry {e2}: 2 postings summing to 50 fen (must be 0, ≥2)",
        ]
        for _ in range(5):  # a fresh seed each run
            assert problems(ctx) == expected
        with ctx.db.read() as conn:
            assert verify(conn, exact=True).problems == expected
    finally:
        undo(ctx, before)


def test_a_clean_ledger_is_not_grouped_entry_by_entry_on_postgres(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint stands in for the grouping by entry; ``exact`` still groups."""
    from onecard.ledger import verify as module

    grouped: list[str] = []
    real_entry_pass, real_unbalanced = module._entry_pass, module._unbalanced
    monkeypatch.setattr(
        module, "_entry_pass", lambda c: grouped.append("pass") or real_entry_pass(c)
    )
    monkeypatch.setattr(
        module, "_unbalanced", lambda c, n: grouped.append("list") or real_unbalanced(c, n)
    )
    with ctx.db.read() as conn:
        fast = verify(conn)
    assert grouped == ([] if ctx.db.is_postgres else ["pass"])
    grouped.clear()
    with ctx.db.read() as conn:
        exact = verify(conn, exact=True)
    assert grouped == ["pass"]
    assert fast.ok and exact.ok
    assert (fast.entries, fast.postings, fast.accounts) == (
        exact.entries,
        exact.postings,
        exact.accounts,
    )
