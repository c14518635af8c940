"""Posting to the ledger: accounts, entries, guarded balances, accounting periods.

Contract:
- ``post(conn, …)`` writes one balanced entry inside the caller's transaction (it never
  commits) and returns ``(entry_id, created)``; a repeated idempotency key returns the
  first entry untouched. It raises ``UnbalancedEntry`` for a bad entry and
  ``InsufficientFunds`` when a debit would take a non-negative account below zero, in
  which case the caller's transaction must roll back (the service layer does that).
- Purses (cached) change through a guarded UPDATE; other non-negative accounts (the
  system lines' sub-accounts) are locked and summed before a debit. Credits to shared
  accounts never touch the account row, so concurrent payments never queue on it.
- ``period_for(conn, day)`` is the first open quarter at or after ``day``'s quarter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, select, text, update

from onecard.core.clock import next_quarter, quarter_of
from onecard.core.errors import InsufficientFunds, NotFound, PeriodClosed, UnbalancedEntry
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.ledger.models import (
    NEGATIVE_ALLOWED,
    PERSON_KINDS,
    SYSTEM_KINDS,
    Account,
    JournalEntry,
    LedgerPeriod,
    Posting,
)


@dataclass(frozen=True)
class Leg:
    account_id: int
    amount: int  # fen; + credits the account, - debits it


def check_legs(legs: Sequence[Leg]) -> None:
    """The Python half of invariant 1 (the database holds the other half)."""
    if len(legs) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    for leg in legs:
        if type(leg.amount) is not int:
            raise UnbalancedEntry(f"amount {leg.amount!r} is not an integer of fen")
        if leg.amount == 0 or abs(leg.amount) > MAX_AMOUNT_FEN * 100:
            raise UnbalancedEntry(f"amount {leg.amount} out of range")
    total = sum(leg.amount for leg in legs)
    if total != 0:
        raise UnbalancedEntry(f"postings sum to {total}, not 0")


# --- accounts --------------------------------------------------------------------------
def open_account(
    conn: Connection, region_id: int, owner_kind: str, owner_id: int, kind: str
) -> int:
    """Create an account if missing; return its id."""
    found = conn.execute(
        select(Account.id).where(
            Account.owner_kind == owner_kind, Account.owner_id == owner_id, Account.kind == kind
        )
    ).scalar()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            insert(Account)
            .values(
                region_id=region_id,
                kind=kind,
                owner_kind=owner_kind,
                owner_id=owner_id,
                allow_negative=kind in NEGATIVE_ALLOWED,
                cached=kind in PERSON_KINDS,
                balance=0,
            )
            .returning(Account.id)
        ).scalar_one()
    )


def open_system_accounts(conn: Connection, region_id: int) -> dict[str, int]:
    return {k: open_account(conn, region_id, "system", 0, k) for k in SYSTEM_KINDS}


def account_id(conn: Connection, owner_kind: str, owner_id: int, kind: str) -> int:
    found = conn.execute(
        select(Account.id).where(
            Account.owner_kind == owner_kind, Account.owner_id == owner_id, Account.kind == kind
        )
    ).scalar()
    if found is None:
        raise NotFound(what=f"account {owner_kind}:{owner_id}:{kind}")
    return int(found)


def system_account(conn: Connection, kind: str) -> int:
    return account_id(conn, "system", 0, kind)


def derived_balance(conn: Connection, acct: int, period: str | None = None) -> int:
    q = select(func.coalesce(func.sum(Posting.amount), 0)).where(Posting.account_id == acct)
    if period is not None:
        q = q.join(JournalEntry, JournalEntry.id == Posting.entry_id).where(
            JournalEntry.period == period
        )
    return int(conn.execute(q).scalar_one())


def balances(conn: Connection, account_ids: Iterable[int]) -> dict[int, int]:
    """Balances of several accounts: cached purses read their row, others their postings."""
    ids = list(account_ids)
    out: dict[int, int] = {}
    rows = conn.execute(
        select(Account.id, Account.cached, Account.balance).where(Account.id.in_(ids))
    )
    uncached = []
    for aid, cached, bal in rows:
        if cached:
            out[aid] = int(bal)
        else:
            uncached.append(aid)
    if uncached:
        for aid, total in conn.execute(
            select(Posting.account_id, func.sum(Posting.amount))
            .where(Posting.account_id.in_(uncached))
            .group_by(Posting.account_id)
        ):
            out[aid] = int(total)
        for aid in uncached:
            out.setdefault(aid, 0)
    return out


# --- periods ---------------------------------------------------------------------------
def lock_for_posting(conn: Connection) -> None:
    """On PostgreSQL, take the entry table's ROW EXCLUSIVE lock before reading periods.

    Closing a period takes a SHARE ROW EXCLUSIVE lock, which waits for writers holding
    this lock and blocks new ones; a statement's snapshot is taken after its locks, so a
    writer that gets past here reads the period table as of after any close. Writers do
    not conflict with each other on this lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE journal_entries IN ROW EXCLUSIVE MODE"))


def period_for(conn: Connection, day: date) -> str:
    """The quarter of ``day``, or the first open quarter after it if that one is closed."""
    q = quarter_of(day)
    first_open = first_open_period(conn)
    return q if first_open is None or q >= first_open else first_open


def first_open_period(conn: Connection) -> str | None:
    last_closed = conn.execute(select(func.max(LedgerPeriod.code))).scalar()
    return None if last_closed is None else next_quarter(str(last_closed))


def close_period(conn: Connection, period: str, actor: str, at: datetime) -> bool:
    """Close ``period`` (quarters close in order). Returns False if it was already closed."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE journal_entries IN SHARE ROW EXCLUSIVE MODE"))
    if conn.execute(select(LedgerPeriod.code).where(LedgerPeriod.code == period)).scalar():
        return False
    first_open = first_open_period(conn)
    if first_open is not None and period != first_open:
        raise (
            PeriodClosed(period=period)
            if period < first_open
            else PeriodClosed(f"close {first_open} first", period=period)
        )
    conn.execute(insert(LedgerPeriod).values(code=period, closed_at=at, closed_by=actor))
    return True


def is_closed(conn: Connection, period: str) -> bool:
    return (
        conn.execute(select(LedgerPeriod.code).where(LedgerPeriod.code == period)).scalar()
        is not None
    )


# --- posting ---------------------------------------------------------------------------
def existing_entry(conn: Connection, key: str) -> int | None:
    found = conn.execute(
        select(JournalEntry.id).where(JournalEntry.idempotency_key == key)
    ).scalar()
    return None if found is None else int(found)


def post(
    conn: Connection,
    *,
    region_id: int,
    kind: str,
    key: str,
    legs: Sequence[Leg],
    actor: str,
    booked_at: datetime,
    occurred_at: datetime | None = None,
    business_day: date | None = None,
    reference: str = "",
    memo: str = "",
    period: str | None = None,
) -> tuple[int, bool]:
    """Write one balanced entry; a known key returns ``(first_entry_id, False)``."""
    check_legs(legs)
    found = existing_entry(conn, key)
    if found is not None:
        return found, False
    lock_for_posting(conn)
    if period is None:
        period = period_for(conn, business_day or (occurred_at or booked_at).date())
    elif is_closed(conn, period):
        raise PeriodClosed(period=period)

    meta = {
        row.id: row
        for row in conn.execute(
            select(Account.id, Account.cached, Account.allow_negative).where(
                Account.id.in_({leg.account_id for leg in legs})
            )
        )
    }
    missing = {leg.account_id for leg in legs} - meta.keys()
    if missing:
        raise NotFound(what=f"accounts {sorted(missing)}")

    # Debits of shared non-negative accounts: lock the row, then check the derived sum.
    # (Credits need no lock: they can only raise a balance.)
    for leg in legs:
        m = meta[leg.account_id]
        if leg.amount < 0 and not m.cached and not m.allow_negative:
            conn.execute(select(Account.id).where(Account.id == leg.account_id).with_for_update())
            if derived_balance(conn, leg.account_id) + leg.amount < 0:
                raise InsufficientFunds(f"account {leg.account_id}")

    entry_id = int(
        conn.execute(
            insert(JournalEntry)
            .values(
                region_id=region_id,
                kind=kind,
                idempotency_key=key,
                period=period,
                booked_at=booked_at,
                occurred_at=occurred_at or booked_at,
                actor=actor,
                reference=reference,
                memo=memo,
            )
            .returning(JournalEntry.id)
        ).scalar_one()
    )
    conn.execute(
        insert(Posting),
        [
            {"entry_id": entry_id, "account_id": leg.account_id, "amount": leg.amount}
            for leg in legs
        ],
    )
    for leg in legs:
        m = meta[leg.account_id]
        if m.cached:
            guarded_change(conn, leg.account_id, leg.amount, m.allow_negative)
    return entry_id, True


def guarded_change(conn: Connection, acct: int, amount: int, allow_negative: bool = False) -> None:
    """``balance += amount`` unless that would take a purse below zero (then refuse)."""
    stmt = update(Account).where(Account.id == acct).values(balance=Account.balance + amount)
    if not allow_negative and amount < 0:
        stmt = stmt.where(Account.balance + amount >= 0)
    if conn.execute(stmt).rowcount != 1:
        raise InsufficientFunds()
