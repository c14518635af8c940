"""THE writer of journal entries and postings: every one in OneCard is written here.

Contract:
- ``check(entries)`` holds the invariants of an entry, in one place, for every writer:
  at least two legs, each a non-zero integer of fen within range, summing to zero, and
  no idempotency key twice in one call. It returns ``Checked`` entries; the writing
  functions take nothing else, so no entry reaches the database unchecked. Each entry
  records its number of legs (``legs``) beside them (``ledger verify`` relies on it).
- ``write(conn, checked, …)`` writes entries, their postings and the cached accounts'
  balances (``purses``: account id → may go negative) inside the caller's transaction.
  ``insert_entries`` and ``insert_legs`` are its two halves, for a caller that checks
  something between them (``ledger.service.post_many``: only the entries that were new).
- Idempotency: an entry's key is unique in the database. ``skip_known=True`` skips keys
  already there (PostgreSQL: ``ON CONFLICT DO NOTHING``; SQLite: looked up first) and
  returns only the new entries' ids; without it a known key is a unique violation.
  ``known_entries`` finds the ids of keys already posted.
- A cached account's balance moves by the call's net change, guarded by the lowest point
  its running balance reaches after one of the call's debits (applied leg by leg, in
  order): ``InsufficientFunds`` if a non-negative one would go below zero. The caller's
  transaction must then roll back.
- ``ids``: entry ids drawn by the caller (the payment batch draws them in its first round
  trip); ``along``: the caller's own statements (psycopg style) sent in the same round
  trip as the writes on PostgreSQL (pipeline mode), their cursors returned in order.

What the caller does before: the period (``ledger.service.period_for`` after
``lock_for_posting``), whether the accounts exist, the shared non-negative accounts'
derived balances (``post``/``post_many``), the purse locks (payments).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, insert, select, text, update

from onecard.core.errors import InsufficientFunds, InvalidInput, UnbalancedEntry
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.ledger.models import Account, JournalEntry, Posting

T = TypeVar("T")

# Bound parameters per statement: PostgreSQL allows 65,535 and SQLite 32,766, and a
# city has more purses than either (Chenzhou: 83,600). Lists longer than this are read
# and written in chunks of this many items. On PostgreSQL a list travels as one array
# parameter, so a chunk is larger (one statement for a whole city: each extra statement
# over the same rows costs another scan); ``ARRAY_CHUNK`` only bounds a message's size.
IN_CHUNK = 10_000
ARRAY_CHUNK = 250_000


@dataclass(frozen=True)
class Leg:
    account_id: int
    amount: int  # fen; + credits the account, - debits it


@dataclass(frozen=True)
class NewEntry:
    """One journal entry to write."""

    region_id: int
    kind: str
    key: str  # idempotency key
    legs: Sequence[Leg]
    reference: str = ""
    memo: str = ""
    actor: str | None = None  # None: the call's actor


@dataclass(frozen=True)
class Checked:
    """Entries that passed ``check`` (build it only through ``check`` or ``subset``)."""

    entries: tuple[NewEntry, ...]

    def subset(self, keep: Iterable[NewEntry]) -> Checked:
        return Checked(tuple(keep))


@dataclass(frozen=True)
class Header:
    """What a call's entries share."""

    period: str
    actor: str
    booked_at: datetime
    occurred_at: datetime | None = None


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


def check(entries: Iterable[NewEntry]) -> Checked:
    """Every entry balanced, every key once: raise before anything is written."""
    out = tuple(entries)
    seen: set[str] = set()
    for e in out:
        check_legs(e.legs)
        if e.key in seen:
            raise InvalidInput(f"idempotency key {e.key} repeated in one call")
        seen.add(e.key)
    return Checked(out)


# --- helpers shared with the ledger's readers -------------------------------------------
def chunked(items: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size`` (default ``IN_CHUNK``, read at call time)."""
    n = max(1, size or IN_CHUNK)
    for start in range(0, len(items), n):
        yield items[start : start + n]


def chunk_size(conn: Connection) -> int:
    """Items per statement: ``IN_CHUNK`` (SQLite's bound parameters), or on PostgreSQL,
    where a whole list travels as one array parameter, ``ARRAY_CHUNK``."""
    return ARRAY_CHUNK if conn.dialect.name == "postgresql" else IN_CHUNK


# Arrays for PostgreSQL as one text parameter in array syntax, cast in SQL: the driver
# then sends a single string instead of adapting (and quoting) every element of lists of
# 100,000 values in Python, which took longer than the statements' own work.
def int_array(values: Iterable[int | None]) -> str:
    vals = list(values)
    if None in vals:
        return "{" + ",".join("NULL" if v is None else str(int(v)) for v in vals) + "}"
    return "{" + ",".join(map(str, vals)) + "}"


def text_array(values: Iterable[str | None]) -> str:
    vals = list(values)
    if not vals:
        return "{}"
    if None not in vals and not any('"' in v or "\\" in v for v in vals if v is not None):
        return '{"' + '","'.join(v for v in vals if v is not None) + '"}'
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in vals
        )
        + "}"
    )


# --- idempotency ------------------------------------------------------------------------
# One unique-index probe per key (the fenced LATERAL is a nested loop): given the
# keys as a constant ``= ANY`` list, the planner expects every key to be found and scans
# all the entries instead (2 s for a city's 83,600 keys at 7.8 M entries, against 0.2 s),
# while a money run's keys are usually all new.
_PG_KNOWN = text(
    "SELECT e.id, e.idempotency_key FROM unnest(CAST(:keys AS text[])) AS k(key)"
    " CROSS JOIN LATERAL (SELECT id, idempotency_key FROM journal_entries"
    " WHERE idempotency_key = k.key OFFSET 0) e"
)


def existing_entry(conn: Connection, key: str) -> int | None:
    found = conn.execute(
        select(JournalEntry.id).where(JournalEntry.idempotency_key == key)
    ).scalar()
    return None if found is None else int(found)


def known_entries(conn: Connection, keys: Sequence[str], size: int | None = None) -> dict[str, int]:
    """{key: entry id} of the idempotency keys already posted, in chunks of ``size``
    (default ``chunk_size(conn)``)."""
    size = size or chunk_size(conn)
    out: dict[str, int] = {}
    if conn.dialect.name == "postgresql":
        for part in chunked(keys, size):
            for eid, key in conn.execute(_PG_KNOWN, {"keys": text_array(part)}).all():
                out[str(key)] = int(eid)
        return out
    for part in chunked(keys, size):
        for eid, key in conn.execute(
            select(JournalEntry.id, JournalEntry.idempotency_key).where(
                JournalEntry.idempotency_key.in_(part)
            )
        ).all():
            out[str(key)] = int(eid)
    return out


# --- the statements (PostgreSQL, psycopg parameter style) ----------------------------------
# A chunk's entries with one statement; nextval runs in the arrays' order, so drawn ids
# follow the call's order. With ``ON CONFLICT`` a key already there (committed, or by a
# concurrent transaction that then commits) is skipped by the unique index itself and
# not returned.
def _entries_sql(*, ids: bool, actors: bool, skip_known: bool) -> str:
    return (
        "INSERT INTO journal_entries ("
        + ("id, " if ids else "")
        + "region_id, kind, idempotency_key, period, booked_at, occurred_at, actor, reference,"
        " memo, legs) SELECT "
        + ("v.id, " if ids else "")
        + "v.region_id, v.kind, v.key, %(period)s, %(booked)s, %(occurred)s, "
        + ("coalesce(v.actor, %(actor)s)" if actors else "%(actor)s")
        + ", v.reference, v.memo, v.legs"
        " FROM unnest(%(ids)s::bigint[], %(regions)s::bigint[], %(kinds)s::text[],"
        " %(keys)s::text[], %(actors)s::text[], %(refs)s::text[], %(memos)s::text[],"
        " %(legs)s::smallint[])"
        " WITH ORDINALITY AS v(id, region_id, kind, key, actor, reference, memo, legs, n)"
        " ORDER BY v.n"
        + (" ON CONFLICT (idempotency_key) DO NOTHING" if skip_known else "")
        + " RETURNING id, idempotency_key"
    )


_PG_POSTINGS = (
    "INSERT INTO postings (entry_id, account_id, amount)"
    " SELECT * FROM unnest(%(e)s::bigint[], %(a)s::bigint[], %(m)s::bigint[])"
)
# ``f``: the lowest point the running balance reaches after one of the call's debits
# (relative to now), NULL if it is only credited: ``balance + f >= 0`` is exactly "no
# debit, applied in order, went below 0".
_PG_BALANCES = (
    "UPDATE accounts a SET balance = a.balance + v.d"
    " FROM unnest(%(ids)s::bigint[], %(ds)s::bigint[], %(fs)s::bigint[])"
    " AS v(id, d, f) WHERE a.id = v.id AND (v.f IS NULL OR a.balance + v.f >= 0)"
)
_SQLITE_BALANCE = text(
    "UPDATE accounts SET balance = balance + :d"
    " WHERE id = :id AND (:f IS NULL OR balance + :f >= 0)"
)

Statement = tuple[str, dict[str, Any]]


def _entries_statement(
    part: Sequence[NewEntry], hdr: Header, ids: Sequence[int] | None, skip_known: bool
) -> Statement:
    actors = any(e.actor is not None for e in part)
    return (
        _entries_sql(ids=ids is not None, actors=actors, skip_known=skip_known),
        {
            "period": hdr.period,
            "booked": hdr.booked_at,
            "occurred": hdr.occurred_at or hdr.booked_at,
            "actor": hdr.actor,
            "ids": int_array(ids) if ids is not None else "{}",
            "regions": int_array(e.region_id for e in part),
            "kinds": text_array(e.kind for e in part),
            "keys": text_array(e.key for e in part),
            "actors": text_array(e.actor for e in part) if actors else "{}",
            "refs": text_array(e.reference for e in part),
            "memos": text_array(e.memo for e in part),
            "legs": int_array(len(e.legs) for e in part),
        },
    )


def _postings_statement(part: Sequence[NewEntry], ids: Mapping[str, int]) -> Statement:
    e: list[int] = []
    a: list[int] = []
    m: list[int] = []
    for entry in part:
        eid = ids[entry.key]
        for leg in entry.legs:
            e.append(eid)
            a.append(leg.account_id)
            m.append(leg.amount)
    return _PG_POSTINGS, {"e": int_array(e), "a": int_array(a), "m": int_array(m)}


def purse_changes(
    entries: Iterable[NewEntry], purses: Mapping[int, bool]
) -> tuple[dict[int, int], dict[int, int]]:
    """Each cached account's net change, and the lowest point it reaches after a debit
    (in order, leg by leg, as one guarded update per leg would apply them) of those that
    may not go negative. ``purses``: cached account id → may go negative."""
    delta: dict[int, int] = {}
    floor: dict[int, int] = {}
    for e in entries:
        for leg in e.legs:
            acct = leg.account_id
            may_go_negative = purses.get(acct)
            if may_go_negative is None:
                continue
            d = delta.get(acct, 0) + leg.amount
            delta[acct] = d
            if leg.amount < 0 and not may_go_negative:
                low = floor.get(acct)
                floor[acct] = d if low is None or d < low else low
    return delta, floor


def _balances_statement(
    accts: Sequence[int], delta: Mapping[int, int], floor: Mapping[int, int]
) -> Statement:
    return (
        _PG_BALANCES,
        {
            "ids": int_array(accts),
            "ds": int_array(delta[a] for a in accts),
            "fs": int_array(floor.get(a) for a in accts),
        },
    )


def pipelined(conn: Connection, statements: Sequence[Statement]) -> list[psycopg.Cursor[Any]]:
    """Send ``statements`` in one round trip (in order, in the caller's transaction) and
    return their cursors, results ready. The first failure raises (the rest are skipped
    by PostgreSQL), and the caller's transaction or savepoint undoes the rest."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    cursors: list[psycopg.Cursor[Any]] = []
    with raw.pipeline():
        for sql, params in statements:
            cur = raw.cursor()
            cur.execute(sql, params)
            cursors.append(cur)
    return cursors


# --- writing -----------------------------------------------------------------------------
def insert_entries(
    conn: Connection,
    checked: Checked,
    hdr: Header,
    *,
    ids: Sequence[int] | None = None,
    skip_known: bool = False,
    size: int | None = None,
) -> dict[str, int]:
    """The entries' rows; {key: id} of those written (with ``skip_known``, the new ones).
    ``size``: entries per statement (default ``chunk_size(conn)``)."""
    entries = checked.entries
    if not entries:
        return {}
    if ids is not None and len(ids) < len(entries):
        raise ValueError("fewer entry ids than entries")
    out: dict[str, int] = {}
    size = size or chunk_size(conn)
    if conn.dialect.name == "postgresql" and (len(entries) > 1 or ids is not None):
        for n, part in enumerate(chunked(entries, size)):
            part_ids = None if ids is None else ids[n * size : n * size + len(part)]
            sql, params = _entries_statement(part, hdr, part_ids, skip_known)
            for i, k in conn.exec_driver_sql(sql, params).all():
                out[str(k)] = int(i)
        return out
    if skip_known:
        known = known_entries(conn, [e.key for e in entries], size)
        entries = tuple(e for e in entries if e.key not in known)
        if not entries:
            return {}
    occurred = hdr.occurred_at or hdr.booked_at

    def row(e: NewEntry) -> dict[str, Any]:
        return {
            "region_id": e.region_id,
            "kind": e.kind,
            "idempotency_key": e.key,
            "period": hdr.period,
            "booked_at": hdr.booked_at,
            "occurred_at": occurred,
            "actor": hdr.actor if e.actor is None else e.actor,
            "reference": e.reference,
            "memo": e.memo,
            "legs": len(e.legs),
        }

    if len(entries) == 1:
        e = entries[0]
        out[e.key] = int(
            conn.execute(
                insert(JournalEntry).values(row(e)).returning(JournalEntry.id)
            ).scalar_one()
        )
        return out
    # SQLite: one executemany per chunk (RETURNING per row would be a statement per
    # entry), then the new ids by their keys.
    for part in chunked(entries, size):
        conn.execute(insert(JournalEntry), [row(e) for e in part])
        out.update(known_entries(conn, [e.key for e in part], size))
    return out


def insert_legs(
    conn: Connection,
    checked: Checked,
    ids: Mapping[str, int],
    purses: Mapping[int, bool],
    size: int | None = None,
) -> None:
    """The entries' postings and the cached accounts' guarded balances."""
    entries = checked.entries
    if not entries:
        return
    delta, floor = purse_changes(entries, purses)
    size = size or chunk_size(conn)
    if conn.dialect.name == "postgresql" and len(entries) > 1:
        for part in chunked(entries, size):
            conn.exec_driver_sql(*_postings_statement(part, ids))
        accts = sorted(delta)
        for acct_part in chunked(accts, size):
            sql, params = _balances_statement(acct_part, delta, floor)
            if conn.exec_driver_sql(sql, params).rowcount != len(acct_part):
                raise InsufficientFunds()
        return
    for part in chunked(entries, size):
        conn.execute(
            insert(Posting),
            [
                {"entry_id": ids[e.key], "account_id": leg.account_id, "amount": leg.amount}
                for e in part
                for leg in e.legs
            ],
        )
    if len(delta) <= 2:
        # One entry's purses (a payment, a top-up): a guarded UPDATE each.
        for acct, d in delta.items():
            stmt = update(Account).where(Account.id == acct).values(balance=Account.balance + d)
            f = floor.get(acct)
            if f is not None:
                stmt = stmt.where(Account.balance + f >= 0)
            if conn.execute(stmt).rowcount != 1:
                raise InsufficientFunds()
        return
    accts = sorted(delta)
    for acct_part in chunked(accts, size):
        changed = conn.execute(
            _SQLITE_BALANCE, [{"id": a, "d": delta[a], "f": floor.get(a)} for a in acct_part]
        ).rowcount
        if changed != len(acct_part):
            raise InsufficientFunds()


def write(
    conn: Connection,
    checked: Checked,
    hdr: Header,
    *,
    purses: Mapping[int, bool],
    ids: Sequence[int] | None = None,
) -> dict[str, int]:
    """Entries, postings and cached balances; {key: entry id}. A known key raises (the
    database's unique index): callers that may meet one look it up first."""
    written = insert_entries(conn, checked, hdr, ids=ids)
    insert_legs(conn, checked, written, purses)
    return written


def write_pipelined(
    conn: Connection,
    checked: Checked,
    hdr: Header,
    *,
    ids: Sequence[int],
    purses: Mapping[int, bool],
    before: Sequence[Statement] = (),
    after: Sequence[Statement] = (),
) -> list[psycopg.Cursor[Any]]:
    """``write`` on PostgreSQL in ONE round trip with the caller's own statements
    (``before`` and ``after`` the ledger's; their cursors are returned, in order):
    the payment batch's code steps, entries, postings, purses and decision records.
    ``ids``: one drawn id per entry, in order."""
    entries = checked.entries
    statements = list(before)
    n_ledger = 0
    accts: list[int] = []
    if entries:
        if len(ids) < len(entries):
            raise ValueError("fewer entry ids than entries")
        by_key = {e.key: i for e, i in zip(entries, ids, strict=False)}
        delta, floor = purse_changes(entries, purses)
        accts = sorted(delta)
        statements.append(_entries_statement(entries, hdr, ids[: len(entries)], False))
        statements.append(_postings_statement(entries, by_key))
        n_ledger = 2
        if accts:
            statements.append(_balances_statement(accts, delta, floor))
            n_ledger = 3
    statements += after
    cursors = pipelined(conn, statements)
    if accts and cursors[len(before) + 2].rowcount != len(accts):
        # Locked and checked by the caller: a purse would have gone negative.
        raise InsufficientFunds()
    return cursors[: len(before)] + cursors[len(before) + n_ledger :]
