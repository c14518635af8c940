"""``ledger.journal`` is the one writer of journal entries and postings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from onecard.core.context import Context
from onecard.core.errors import InvalidInput, UnbalancedEntry
from onecard.ledger import journal
from onecard.ledger.journal import Leg, NewEntry
from onecard.ledger.models import Account, JournalEntry
from onecard.ledger.service import period_for, system_account
from world import build_world

SRC = Path(__file__).parents[2] / "src" / "onecard"
# The bench's bulk load and its bare-SQL baselines measure the ledger against bare SQL.
ALLOWED = {SRC / "ledger" / "journal.py", SRC / "bench" / "quarter.py"}
WRITES = re.compile(
    r"insert\(\s*(JournalEntry|Posting)\b|INTO\s+(journal_entries|postings)\b", re.IGNORECASE
)


def test_nothing_else_writes_entries_or_postings() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sorted(SRC.rglob("*.py"))
        if path not in ALLOWED and "migrations" not in path.parts
        for text in [path.read_text(encoding="utf-8")]
        for m in WRITES.finditer(text)
    ]
    assert offenders == []


def test_the_invariants_are_checked_before_anything_is_written() -> None:
    ok = NewEntry(1, "test", "k1", (Leg(1, 100), Leg(2, -100)))
    assert journal.check([ok]).entries == (ok,)
    with pytest.raises(UnbalancedEntry):
        journal.check([ok, NewEntry(1, "test", "k2", (Leg(1, 100), Leg(2, -99)))])
    with pytest.raises(UnbalancedEntry):
        journal.check([NewEntry(1, "test", "k3", (Leg(1, 0), Leg(2, 0)))])
    with pytest.raises(UnbalancedEntry):
        journal.check([NewEntry(1, "test", "k4", (Leg(1, 100),))])
    with pytest.raises(InvalidInput):
        journal.check([ok, ok])


def test_a_write_records_legs_and_moves_purses_with_a_guard(ctx: Context) -> None:
    from datetime import datetime

    from onecard.core.errors import InsufficientFunds

    w = build_world(ctx)
    now = datetime(2026, 11, 30, 4)
    with ctx.db.begin() as conn:
        fund = system_account(conn, "bank_clearing")  # may go negative
        purse = conn.execute(
            select(Account.id).where(
                Account.owner_kind == "person",
                Account.owner_id == w.people["a1"],
                Account.kind == "subsidy",
            )
        ).scalar_one()
        period = period_for(conn, now.date())
    hdr = journal.Header(period, "test", now)
    entries = [
        NewEntry(w.region, "test", f"j{i}", (Leg(purse, 100), Leg(fund, -100))) for i in range(3)
    ]
    with ctx.db.begin() as conn:
        ids = journal.write(conn, journal.check(entries), hdr, purses={purse: False})
        assert sorted(ids) == ["j0", "j1", "j2"]
        legs = conn.execute(select(JournalEntry.legs).where(JournalEntry.id.in_(ids.values())))
        assert set(legs.scalars()) == {2}
    # Taking 301 from a purse of 300 is refused by the guard, whole.
    take = NewEntry(w.region, "test", "j-out", (Leg(fund, 301), Leg(purse, -301)))
    with pytest.raises(InsufficientFunds), ctx.db.begin() as conn:
        journal.write(conn, journal.check([take]), hdr, purses={purse: False})
    with ctx.db.read() as conn:
        bal = conn.execute(select(Account.balance).where(Account.id == purse)).scalar_one()
    assert bal == 300
