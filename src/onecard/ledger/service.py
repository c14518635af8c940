"""Posting to the ledger: accounts, entries, guarded balances, accounting periods.

Every entry is written by ``ledger.journal`` (the one writer, where the invariants are
checked); this module reads what a posting needs first — known keys, the period, the
accounts and the shared accounts' derived balances — and hands the entries over.

Contract:
- ``post(conn, …)`` writes one balanced entry inside the caller's transaction (it never
  commits) and returns ``(entry_id, created)``; a repeated idempotency key returns the
  first entry untouched. It raises ``UnbalancedEntry`` for a bad entry and
  ``InsufficientFunds`` when a debit would take a non-negative account below zero, in
  which case the caller's transaction must roll back (the service layer does that).
- Cached accounts (purses, units' income lines) change through a guarded UPDATE; other
  non-negative accounts (the shared lines) are locked and summed before a debit. Credits
  to shared accounts never touch the account row, so concurrent payments never queue on
  it.
- ``post_many(conn, entries, …)`` writes many balanced entries exactly as ``post`` called
  for each in order would (same checks, same idempotency, same refusals), with a constant
  number of statements per chunk of ``IN_CHUNK`` entries; any refusal refuses the whole
  call (the caller rolls back). Money runs over a whole city post through it.
- ``period_for(conn, day, region_id)`` is the first open quarter at or after ``day``'s
  quarter for ``region_id``'s fund region. Periods close per fund region
  (``close_period(…, fund_region_id)``); an entry takes the periods of its
  ``region_id``'s fund region; ``post_many`` books the call in the first quarter open for
  every fund region of its entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import NullType

from onecard.core.clock import next_quarter, quarter_of
from onecard.core.errors import InsufficientFunds, NotFound, PeriodClosed
from onecard.ledger import journal
from onecard.ledger.journal import (
    Header,
    Leg,
    NewEntry,
    check_legs,
    existing_entry,
    int_array,
    text_array,
)
from onecard.ledger.models import (
    CACHED_KINDS,
    NEGATIVE_ALLOWED,
    SYSTEM_KINDS,
    Account,
    JournalEntry,
    LedgerPeriod,
    Posting,
)

__all__ = [
    "ARRAY_CHUNK",
    "IN_CHUNK",
    "Leg",
    "NewEntry",
    "check_legs",
    "existing_entry",
    "int_array",
    "known_entries",
    "post",
    "post_many",
    "text_array",
]

T = TypeVar("T")

# Bound parameters per statement: PostgreSQL allows 65,535 and SQLite 32,766, and a
# city has more purses than either (Chenzhou: 83,600). Lists longer than this are read
# and written in chunks of this many items. On PostgreSQL a list travels as one array
# parameter, so a chunk is larger (one statement for a whole city: each extra statement
# over the same rows costs another scan); ``ARRAY_CHUNK`` only bounds a message's size.
IN_CHUNK = 10_000
ARRAY_CHUNK = 250_000


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
                cached=kind in CACHED_KINDS,
                balance=0,
            )
            .returning(Account.id)
        ).scalar_one()
    )


def open_system_accounts(conn: Connection, region_id: int, *, top: bool = True) -> dict[str, int]:
    """A fund region's system accounts (its dining fund, fee income, finance, clearing).

    Every system account records its fund region in ``region_id``. The top region's are
    owned by ``("system", 0)`` (as they always were); another fund region's (a county
    that keeps its own fund, a city of a province) by ``("system", region_id)``."""
    owner = 0 if top else region_id
    return {k: open_account(conn, region_id, "system", owner, k) for k in SYSTEM_KINDS}


def account_id(conn: Connection, owner_kind: str, owner_id: int, kind: str) -> int:
    found = conn.execute(
        select(Account.id).where(
            Account.owner_kind == owner_kind, Account.owner_id == owner_id, Account.kind == kind
        )
    ).scalar()
    if found is None:
        raise NotFound(what=f"account {owner_kind}:{owner_id}:{kind}")
    return int(found)


def system_account(conn: Connection, kind: str, fund_region_id: int | None = None) -> int:
    """A system account of a fund region (``org.fund_regions``); the top region's when
    ``fund_region_id`` is None."""
    if fund_region_id is None:
        return account_id(conn, "system", 0, kind)
    found = conn.execute(
        select(Account.id).where(
            Account.owner_kind == "system",
            Account.kind == kind,
            Account.region_id == fund_region_id,
        )
    ).scalar()
    if found is None:
        # A top-level region whose accounts were opened before regions kept funds (or
        # under another region id): the deployment's ("system", 0) ones.
        top = conn.execute(
            text("SELECT 1 FROM regions WHERE id = :r AND parent_id IS NULL"),
            {"r": fund_region_id},
        ).scalar()
        if top is not None:
            return account_id(conn, "system", 0, kind)
        raise NotFound(what=f"account system:{kind} of region {fund_region_id}")
    return int(found)


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


# A region's fund region (``org.fund_regions``, which the ledger may not import: the
# same rule, in SQL): the nearest region at or above it that keeps its own fund, the top
# one (no parent) at the latest. Periods are closed per fund region, so an entry of
# region R counts the closed quarters of R's fund region. Walking up a few parent links
# by primary key in the same statement as the period look-up keeps the payment path at
# one statement, as before, and needs no cache that another process could make stale
# (on PostgreSQL through ``onecard_fund_region``, whose plans are kept).
_UP = (
    "WITH RECURSIVE up(id, parent_id, own_fund, depth) AS ("
    " SELECT id, parent_id, own_fund, 0 FROM regions WHERE id IN ({start})"
    " UNION ALL SELECT r.id, r.parent_id, r.own_fund, up.depth + 1"
    " FROM regions r JOIN up ON r.id = up.parent_id WHERE NOT up.own_fund AND up.depth < 16)"
)
_FUNDS = "SELECT id FROM up WHERE own_fund OR parent_id IS NULL"
_TOP = "SELECT id FROM regions WHERE parent_id IS NULL ORDER BY id LIMIT 1"
_LAST_CLOSED_ONE = text(
    _UP.format(start=":region")
    + f" SELECT max(code) FROM ledger_periods WHERE region_id IN ({_FUNDS})"
)
# PostgreSQL: the same walk in ``onecard_fund_region`` (migration 0029), whose plans are
# kept: a recursive query is planned afresh on every call (about 0.4 ms more a payment).
_LAST_CLOSED_ONE_PG = text(
    "SELECT max(code) FROM ledger_periods WHERE region_id = onecard_fund_region(:region)"
)
# An expanding parameter renders its own parentheses ("IN (?, ?)"): inside "IN (…)" it
# would be a row value, which SQLite refuses.
_UP_MANY = _UP.replace("IN ({start})", "IN {start}")
_LAST_CLOSED_MANY = text(
    _UP_MANY.format(start=":regions")
    + f" SELECT max(code) FROM ledger_periods WHERE region_id IN ({_FUNDS})"
).bindparams(bindparam("regions", expanding=True))
_CLOSED_FOR_MANY = text(
    _UP_MANY.format(start=":regions")
    + f" SELECT 1 FROM ledger_periods WHERE code = :code AND region_id IN ({_FUNDS}) LIMIT 1"
).bindparams(bindparam("regions", expanding=True))
_LAST_CLOSED_TOP = text(f"SELECT max(code) FROM ledger_periods WHERE region_id = ({_TOP})")


_FUND_OF = text(_UP.format(start=":region") + " " + _FUNDS + " LIMIT 1")


def fund_region_of(conn: Connection, region_id: int) -> int:
    """``region_id``'s fund region, in one statement (``org.fund_regions.fund_region_of``
    reads the whole region table; this is for a payment's path)."""
    if conn.dialect.name == "postgresql":
        found = conn.execute(text("SELECT onecard_fund_region(:r)"), {"r": region_id}).scalar()
    else:
        found = conn.execute(_FUND_OF, {"region": region_id}).scalar()
    if found is None:
        raise NotFound(what=f"区域 {region_id}")
    return int(found)


def top_fund_region(conn: Connection) -> int:
    """The top region's id (its periods are the deployment's before regions kept funds)."""
    found = conn.execute(text(_TOP)).scalar()
    if found is None:
        raise NotFound(what="顶级区域")
    return int(found)


def last_closed(conn: Connection, region_ids: Iterable[int] | None = None) -> str | None:
    """The latest quarter closed for any of the fund regions of ``region_ids`` (any
    regions: each counts its fund region's periods); the top region's when None."""
    if region_ids is None:
        found = conn.execute(_LAST_CLOSED_TOP).scalar()
    else:
        ids = sorted(set(region_ids))
        if not ids:
            return None
        if len(ids) == 1:
            one = _LAST_CLOSED_ONE_PG if conn.dialect.name == "postgresql" else _LAST_CLOSED_ONE
            found = conn.execute(one, {"region": ids[0]}).scalar()
        else:
            found = conn.execute(_LAST_CLOSED_MANY, {"regions": ids}).scalar()
    return None if found is None else str(found)


def lock_out_posting(conn: Connection) -> None:
    """On PostgreSQL, wait for the writers in flight and hold new ones until the caller's
    transaction ends (SHARE ROW EXCLUSIVE on the entry table, see ``lock_for_posting``):
    closing a period, or moving a region to another fund region, sees every entry."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE journal_entries IN SHARE ROW EXCLUSIVE MODE"))


def period_for(conn: Connection, day: date, region_id: int | None = None) -> str:
    """The quarter of ``day``, or the first open quarter after it if that one is closed
    for ``region_id``'s fund region (the top region's when None)."""
    return _first_open_at(
        quarter_of(day), last_closed(conn, None if region_id is None else [region_id])
    )


def _first_open_at(q: str, closed: str | None) -> str:
    first_open = None if closed is None else next_quarter(closed)
    return q if first_open is None or q >= first_open else first_open


def first_open_period(conn: Connection, fund_region_id: int | None = None) -> str | None:
    """The first quarter after the fund region's last closed one (None: none closed)."""
    if fund_region_id is None:
        last = conn.execute(_LAST_CLOSED_TOP).scalar()
    else:
        last = conn.execute(
            select(func.max(LedgerPeriod.code)).where(LedgerPeriod.region_id == fund_region_id)
        ).scalar()
    return None if last is None else next_quarter(str(last))


def close_period(
    conn: Connection, period: str, actor: str, at: datetime, fund_region_id: int | None = None
) -> bool:
    """Close ``period`` for a fund region (the top region when None); its quarters close
    in order. Returns False if it was already closed. Closing a county's quarter leaves
    the city's open."""
    lock_out_posting(conn)
    region = top_fund_region(conn) if fund_region_id is None else fund_region_id
    if is_closed(conn, period, region):
        return False
    first_open = first_open_period(conn, region)
    if first_open is not None and period != first_open:
        raise (
            PeriodClosed(period=period)
            if period < first_open
            else PeriodClosed(f"close {first_open} first", period=period)
        )
    conn.execute(
        insert(LedgerPeriod).values(region_id=region, code=period, closed_at=at, closed_by=actor)
    )
    return True


def is_closed(conn: Connection, period: str, fund_region_id: int | None = None) -> bool:
    """Whether the fund region (the top region when None) has closed ``period``."""
    region = fund_region_id
    if region is None:
        top = conn.execute(text(_TOP)).scalar()
        if top is None:
            return False
        region = int(top)
    q = select(LedgerPeriod.code).where(
        LedgerPeriod.code == period, LedgerPeriod.region_id == region
    )
    return conn.execute(q).scalar() is not None


def closed_for_any(conn: Connection, period: str, region_ids: Iterable[int]) -> bool:
    """Whether ``period`` is closed for the fund region of any of ``region_ids``."""
    ids = sorted(set(region_ids))
    if not ids:
        return False
    found = conn.execute(_CLOSED_FOR_MANY, {"regions": ids, "code": period}).scalar()
    return found is not None


# --- posting ---------------------------------------------------------------------------
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
    checked = journal.check(
        [NewEntry(region_id, kind, key, tuple(legs), reference=reference, memo=memo)]
    )
    found = existing_entry(conn, key)
    if found is not None:
        return found, False
    lock_for_posting(conn)
    if period is None:
        period = period_for(conn, business_day or (occurred_at or booked_at).date(), region_id)
    elif closed_for_any(conn, period, [region_id]):
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

    ids = journal.write(
        conn,
        checked,
        Header(period, actor, booked_at, occurred_at),
        purses={int(a): bool(m.allow_negative) for a, m in meta.items() if m.cached},
    )
    return ids[key], True


# --- posting many entries at once ------------------------------------------------------
def chunked(items: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size`` (default ``IN_CHUNK``, read at call time)."""
    n = max(1, size or IN_CHUNK)
    for start in range(0, len(items), n):
        yield items[start : start + n]


def chunk_size(conn: Connection) -> int:
    """Items per statement: ``IN_CHUNK`` (SQLite's bound parameters), or on PostgreSQL,
    where a whole list travels as one array parameter, ``ARRAY_CHUNK``."""
    return ARRAY_CHUNK if conn.dialect.name == "postgresql" else IN_CHUNK


def one_of(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``: one bound parameter
    instead of one per value (much cheaper to send and plan for thousands of values)."""
    if conn.dialect.name == "postgresql":
        ints = all(type(v) is int for v in values)
        kind = BigInteger() if ints else Text()
        literal = int_array(values) if ints else text_array(values)
        # Untyped parameter: PostgreSQL reads it straight as the array (a constant for the
        # planner, so a long list is hashed, not scanned per row, when it filters a scan).
        param = bindparam(None, literal, type_=NullType())
        return column == any_(cast(param, ARRAY(kind)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def known_entries(conn: Connection, keys: Sequence[str], size: int | None = None) -> dict[str, int]:
    """{key: entry id} of the idempotency keys already posted, in chunks of ``size``
    (default ``chunk_size(conn)``)."""
    return journal.known_entries(conn, keys, size or chunk_size(conn))


def post_many(
    conn: Connection,
    entries: Sequence[NewEntry],
    *,
    actor: str,
    booked_at: datetime,
    occurred_at: datetime | None = None,
    business_day: date | None = None,
    period: str | None = None,
) -> dict[str, int]:
    """Write many balanced entries in the caller's transaction with a constant number of
    statements (per chunk); returns {key: entry_id} for every entry, new or already there.
    Keys already present are skipped (returned with their first id) — the same idempotency
    as post(). Refuses the whole call (raise, caller rolls back) on any unbalanced entry,
    a missing account, a closed explicit period, a key repeated inside the call, or a
    debit that would take a non-negative account below zero (InsufficientFunds).

    On PostgreSQL the entries are inserted first (``ON CONFLICT DO NOTHING``: the unique
    index finds the known keys, no separate look-up) and checked before their postings
    and balances are written; a refusal raises and the caller's rollback removes them."""
    checked = journal.check(entries)
    if not entries:
        return {}
    postgres = conn.dialect.name == "postgresql"
    size = chunk_size(conn)
    keys = [e.key for e in entries]
    out: dict[str, int] = {}
    if not postgres:
        out = known_entries(conn, keys, size)
        if len(out) == len(entries):
            return {k: out[k] for k in keys}
    lock_for_posting(conn)
    regions = {e.region_id for e in entries}
    if period is None:
        # One period for the call: the first open for every fund region of its entries.
        day = business_day or (occurred_at or booked_at).date()
        period = _first_open_at(quarter_of(day), last_closed(conn, regions))
    elif closed_for_any(conn, period, regions):
        if postgres:
            out = known_entries(conn, keys, size)
            if len(out) == len(entries):  # all there: post() would not look at the period
                return {k: out[k] for k in keys}
        raise PeriodClosed(period=period)
    hdr = Header(period, actor, booked_at, occurred_at)

    if postgres:
        ids = journal.insert_entries(conn, checked, hdr, skip_known=True, size=size)
        if len(ids) < len(entries):
            out = known_entries(conn, [k for k in keys if k not in ids], size)
        new = checked.subset(e for e in entries if e.key in ids)
    else:
        new = checked.subset(e for e in entries if e.key not in out)

    accts = sorted({leg.account_id for e in new.entries for leg in e.legs})
    meta: dict[int, tuple[bool, bool]] = {}  # id → (cached, allow_negative)
    for acct_part in chunked(accts, size):
        for aid, cached, neg in conn.execute(
            select(Account.id, Account.cached, Account.allow_negative).where(
                one_of(conn, Account.id, acct_part)
            )
        ).all():
            meta[int(aid)] = (bool(cached), bool(neg))
    missing = set(accts) - meta.keys()
    if missing:
        raise NotFound(what=f"accounts {sorted(missing)}")

    # Shared non-negative accounts debited by the call: lock their rows (id order), then
    # replay the call's entries in order on their derived balances, as post() one by one
    # would check them: each debit against the balance before its entry.
    guarded = sorted(
        {
            leg.account_id
            for e in new.entries
            for leg in e.legs
            if leg.amount < 0 and not meta[leg.account_id][0] and not meta[leg.account_id][1]
        }
    )
    running: dict[int, int] = {}
    for guard_part in chunked(guarded, size):
        conn.execute(
            select(Account.id)
            .where(one_of(conn, Account.id, guard_part))
            .order_by(Account.id)
            .with_for_update()
        ).all()
        running.update({a: 0 for a in guard_part})
        for aid, total in conn.execute(
            select(Posting.account_id, func.sum(Posting.amount))
            .where(one_of(conn, Posting.account_id, guard_part))
            .group_by(Posting.account_id)
        ):
            running[int(aid)] = int(total)
    if running:
        for e in new.entries:
            for leg in e.legs:
                if (
                    leg.amount < 0
                    and leg.account_id in running
                    and running[leg.account_id] + leg.amount < 0
                ):
                    raise InsufficientFunds(f"account {leg.account_id}")
            for leg in e.legs:
                if leg.account_id in running:
                    running[leg.account_id] += leg.amount

    if not postgres:
        ids = journal.insert_entries(conn, new, hdr, size=size)
    journal.insert_legs(conn, new, ids, {a: m[1] for a, m in meta.items() if m[0]}, size=size)
    out.update(ids)
    return {k: out[k] for k in keys}
