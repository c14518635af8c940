"""Trying to break the ledger: every invariant has a Python check *and* a database backstop.

Each test goes around the service layer with raw SQL, the way a careless script or a
bug would, and shows that the database refuses. Tampering that the database cannot
refuse (a cached purse balance) is caught by ``ledger verify``, and undone before the
test ends because the ``ctx`` fixture verifies the ledger after every test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import exc, func, select, text

from onecard.core.context import Context
from onecard.core.errors import UnbalancedEntry
from onecard.ledger.models import JournalEntry, Posting
from onecard.ledger.service import Leg, account_id, check_legs, system_account
from onecard.ledger.verify import verify
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, fund

ONECARD = str(Path(sys.executable).with_name("onecard"))


def _paid_world(ctx: Context) -> World:
    """A world with one funded diner who has eaten one lunch (entries exist to tamper with)."""
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000)
    out = pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    assert out.approved
    return w


def _purse_id(ctx: Context, w: World, person: str, kind: str = "subsidy") -> int:
    with ctx.db.read() as conn:
        return account_id(conn, "person", w.people[person], kind)


def _counts(ctx: Context) -> tuple[int, int]:
    with ctx.db.read() as conn:
        entries = conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        postings = conn.execute(select(func.count()).select_from(Posting)).scalar_one()
    return int(entries), int(postings)


# --- append-only ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE journal_entries SET memo = 'edited'",
        "DELETE FROM journal_entries",
        "UPDATE postings SET amount = amount * 2",
        "DELETE FROM postings",
    ],
)
def test_journal_and_postings_refuse_update_and_delete(ctx: Context, sql: str) -> None:
    _paid_world(ctx)
    before = _counts(ctx)
    with pytest.raises(exc.DBAPIError, match="append-only"), ctx.db.engine.begin() as conn:
        conn.execute(text(sql))
    assert _counts(ctx) == before


# --- CHECK constraints ------------------------------------------------------------------
def test_a_posting_of_zero_fen_is_refused_by_the_database(ctx: Context) -> None:
    w = _paid_world(ctx)
    acct = _purse_id(ctx, w, "a1")
    with ctx.db.read() as conn:
        entry = conn.execute(select(func.min(JournalEntry.id))).scalar_one()
    before = _counts(ctx)
    with pytest.raises(exc.IntegrityError), ctx.db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO postings (entry_id, account_id, amount) VALUES (:e, :a, 0)"),
            {"e": entry, "a": acct},
        )
    assert _counts(ctx) == before


def test_a_purse_cannot_be_set_below_zero_even_with_raw_sql(ctx: Context) -> None:
    w = _paid_world(ctx)
    acct = _purse_id(ctx, w, "a1", "cash")
    with pytest.raises(exc.IntegrityError), ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = -1 WHERE id = :a"), {"a": acct})


def test_a_shared_account_cannot_start_caching_a_balance(ctx: Context) -> None:
    """Canteen payables keep no running balance (invariant 5): the column stays 0."""
    w = _paid_world(ctx)
    with ctx.db.read() as conn:
        payable = account_id(conn, "canteen", w.canteens["A"], "canteen_payable")
    with pytest.raises(exc.IntegrityError), ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = 300 WHERE id = :a"), {"a": payable})


def test_idempotency_key_is_unique_in_the_database(ctx: Context) -> None:
    _paid_world(ctx)
    with ctx.db.read() as conn:
        key = conn.execute(select(JournalEntry.idempotency_key).limit(1)).scalar_one()
    with pytest.raises(exc.IntegrityError), ctx.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO journal_entries (region_id, kind, idempotency_key, period,"
                " booked_at, occurred_at, actor, reference, memo, legs)"
                " VALUES (1, 'x', :k, '2026Q1', '2026-03-10 04:00:00', '2026-03-10 04:00:00',"
                " 'sql', '', '', 2)"
            ),
            {"k": key},
        )


# --- zero-sum at commit (PostgreSQL's deferred constraint trigger) -----------------------
def _raw_unbalanced_entry(conn: object, bank: int, purse: int, key: str) -> None:
    from sqlalchemy import Connection

    assert isinstance(conn, Connection)
    entry = conn.execute(
        text(
            "INSERT INTO journal_entries (region_id, kind, idempotency_key, period,"
            " booked_at, occurred_at, actor, reference, memo, legs)"
            " VALUES (1, 'forged', :k, '2026Q1', '2026-03-10 04:00:00',"
            " '2026-03-10 04:00:00', 'sql', '', '', 2) RETURNING id"
        ),
        {"k": key},
    ).scalar_one()
    conn.execute(
        text("INSERT INTO postings (entry_id, account_id, amount) VALUES (:e, :a, :x)"),
        [{"e": entry, "a": bank, "x": -100}, {"e": entry, "a": purse, "x": 50}],
    )


def test_postgres_refuses_to_commit_an_unbalanced_entry(pg_ctx: Context) -> None:
    ctx = pg_ctx
    w = _paid_world(ctx)
    purse = _purse_id(ctx, w, "b1", "cash")
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
    before = _counts(ctx)
    with ctx.db.engine.connect() as conn:
        trans = conn.begin()
        # Each statement is fine on its own: the check is deferred to the commit.
        _raw_unbalanced_entry(conn, bank, purse, "forged-1")
        with pytest.raises(exc.IntegrityError, match="unbalanced"):
            trans.commit()
    assert _counts(ctx) == before


def test_postgres_refuses_an_entry_with_a_single_posting(pg_ctx: Context) -> None:
    ctx = pg_ctx
    w = _paid_world(ctx)
    purse = _purse_id(ctx, w, "b1", "cash")
    with pytest.raises(exc.IntegrityError, match="unbalanced"), ctx.db.engine.begin() as conn:
        entry = conn.execute(
            text(
                "INSERT INTO journal_entries (region_id, kind, idempotency_key, period,"
                " booked_at, occurred_at, actor, reference, memo, legs)"
                " VALUES (1, 'forged', 'forged-2', '2026Q1', '2026-03-10 04:00:00',"
                " '2026-03-10 04:00:00', 'sql', '', '', 1) RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text("INSERT INTO postings (entry_id, account_id, amount) VALUES (:e, :a, 100)"),
            {"e": entry, "a": purse},
        )


def test_sqlite_unbalanced_raw_entry_is_caught_by_verify(ctx: Context) -> None:
    """SQLite has no deferred triggers: ``verify`` is the backstop there, and names the entry."""
    if ctx.db.is_postgres:
        pytest.skip("SQLite only (PostgreSQL refuses the commit)")
    w = _paid_world(ctx)
    purse = _purse_id(ctx, w, "b1", "cash")
    with ctx.db.read() as conn:
        bank = system_account(conn, "bank_clearing")
    with ctx.db.engine.begin() as conn:
        _raw_unbalanced_entry(conn, bank, purse, "forged-1")
        forged = conn.execute(
            text("SELECT id FROM journal_entries WHERE idempotency_key = 'forged-1'")
        ).scalar_one()
    try:
        with ctx.db.read() as conn:
            rep = verify(conn)
        assert not rep.ok
        assert f"entry {forged}: 2 postings summing to -50 fen" in rep.problems[0]
    finally:
        # Undo the forgery (the append-only triggers must be lifted to do so).
        with ctx.db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER postings_no_delete"))
            conn.execute(text("DROP TRIGGER journal_entries_no_delete"))
            conn.execute(text("DELETE FROM postings WHERE entry_id = :e"), {"e": forged})
            conn.execute(text("DELETE FROM journal_entries WHERE id = :e"), {"e": forged})
            from onecard.ledger.backstops import SQLITE

            for ddl in SQLITE:
                if "_no_delete" in ddl:
                    conn.execute(text(ddl))


# --- the Python half ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("legs", "why"),
    [
        ([Leg(1, 100), Leg(2, -99)], "sum to 1"),
        ([Leg(1, 100)], "at least two"),
        ([], "at least two"),
        ([Leg(1, 0), Leg(2, 0)], "out of range"),
        ([Leg(1, 1.5), Leg(2, -1.5)], "not an integer"),  # type: ignore[arg-type]
        ([Leg(1, 100.0), Leg(2, -100)], "not an integer"),  # type: ignore[arg-type]
        ([Leg(1, True), Leg(2, -1)], "not an integer"),
        ([Leg(1, 10**12), Leg(2, -(10**12))], "out of range"),
    ],
)
def test_check_legs_refuses_bad_entries(legs: list[Leg], why: str) -> None:
    with pytest.raises(UnbalancedEntry, match=why):
        check_legs(legs)


def test_check_legs_accepts_a_balanced_split() -> None:
    check_legs([Leg(1, 600), Leg(2, -250), Leg(3, -350)])


# --- verify finds and names tampering ------------------------------------------------------
def test_verify_names_a_tampered_purse_balance(ctx: Context) -> None:
    w = _paid_world(ctx)
    acct = _purse_id(ctx, w, "a1")
    with ctx.db.read() as conn:
        assert verify(conn).ok
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = balance + 500 WHERE id = :a"), {"a": acct})
    try:
        with ctx.db.read() as conn:
            rep = verify(conn)
        assert not rep.ok
        assert rep.problems == [
            f"account {acct} (subsidy): cached balance 1200 fen, postings give 700 fen"
        ]
    finally:
        with ctx.db.engine.begin() as conn:
            conn.execute(
                text("UPDATE accounts SET balance = balance - 500 WHERE id = :a"), {"a": acct}
            )


def _cli_verify(ctx: Context, *flags: str) -> subprocess.CompletedProcess[str]:
    url = ctx.db.engine.url.render_as_string(hide_password=False)
    return subprocess.run(
        [ONECARD, "ledger", "verify", "--database-url", url, *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            "ONECARD_ENV": "test",
            "ONECARD_SECRET_KEY": "test-secret",
        },
    )


def test_cli_ledger_verify_exits_0_when_clean_and_7_naming_the_discrepancy(
    ctx: Context,
) -> None:
    w = _paid_world(ctx)
    clean = _cli_verify(ctx)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ledger verify: OK" in clean.stdout
    exact = _cli_verify(ctx, "--exact")
    assert exact.returncode == 0 and "ledger verify: OK" in exact.stdout, exact.stdout

    acct = _purse_id(ctx, w, "a1", "cash")
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = 77 WHERE id = :a"), {"a": acct})
    try:
        broken = _cli_verify(ctx)
    finally:
        with ctx.db.engine.begin() as conn:
            conn.execute(text("UPDATE accounts SET balance = 0 WHERE id = :a"), {"a": acct})
    assert broken.returncode == 7, broken.stdout + broken.stderr
    out = broken.stdout + broken.stderr
    assert f"account {acct} (cash): cached balance 77 fen, postings give 0 fen" in out
    assert "ledger_error" in out
