"""``onecard ledger verify``: recompute everything from postings and compare.

Contract: ``verify(conn)`` reads only and returns a ``VerifyReport``; ``ok`` is False if
any check fails, and ``problems`` lists each discrepancy, the first one first (at most
``limit`` of each kind: unbalanced entries, entries without postings, accounts). Checks:
every entry sums to zero and has at least two postings; every entry has postings; every
cached purse equals the sum of its postings; no non-negative account is negative when
derived from postings; uncached accounts keep a zero ``balance`` column.

How (the postings table is the ledger's largest by far, so it is read once):
- PostgreSQL: one scan of ``postings`` grouped by ``GROUPING SETS ((entry_id),
  (account_id))``; the per-entry groups are folded into one summary row (entries seen,
  postings, unbalanced entries) and the per-account sums are compared with ``accounts``
  in the same statement.
- SQLite (no GROUPING SETS): one grouped pass per entry folded into the same summary,
  and one per account.
- Entries without postings: ``postings.entry_id`` is a foreign key, so every entry id
  seen in postings is an entry; the entries are complete exactly when their count equals
  the number of entry ids seen. Only when it does not are the entries without postings
  looked up (to name them), and only when the summary counts unbalanced entries are those
  listed — both are a second scan, paid only by a broken ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, select, text

from onecard.ledger.models import Account, JournalEntry, Posting


@dataclass
class VerifyReport:
    entries: int = 0
    postings: int = 0
    accounts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# One scan of postings. ``g``: a row per entry (by_account = 0) and a row per account
# (by_account = 1). ``x``: the entry rows folded into one row (account_id NULL: entries
# seen, their postings, how many are unbalanced), one row per account with its sum.
# Joined with every account, keeping the summary row and the accounts that fail a check;
# the summary row sorts first. Sums are cast back to bigint (an overflow raises).
_PG_ONE_SCAN = text(
    """
    SELECT x.account_id IS NULL AND a.id IS NULL AS summary,
           a.id, a.kind, a.cached, a.balance, coalesce(x.total, 0)::bigint AS total,
           x.entries, x.postings, x.unbalanced
    FROM (
        SELECT CASE WHEN g.by_account = 1 THEN g.account_id END AS account_id,
               sum(g.s) AS total,
               count(*) AS entries,
               sum(g.n) AS postings,
               count(*) FILTER (WHERE g.by_account = 0 AND (g.s <> 0 OR g.n < 2))
                   AS unbalanced
        FROM (
            SELECT entry_id, account_id, sum(amount) AS s, count(*) AS n,
                   GROUPING(entry_id) AS by_account
            FROM postings
            GROUP BY GROUPING SETS ((entry_id), (account_id))
        ) g
        GROUP BY 1
    ) x
    FULL JOIN accounts a ON a.id = x.account_id
    WHERE (x.account_id IS NULL AND a.id IS NULL)
       OR (a.cached AND a.balance <> coalesce(x.total, 0))
       OR (NOT a.allow_negative AND coalesce(x.total, 0) < 0)
       OR (NOT a.cached AND a.balance <> 0)
    ORDER BY a.id NULLS FIRST
    LIMIT :limit
    """
)


def verify(conn: Connection, limit: int = 50) -> VerifyReport:
    rep = VerifyReport()
    if conn.dialect.name == "postgresql":
        seen, unbalanced, bad_accounts = _scan_postgres(conn, rep, limit)
    else:
        seen, unbalanced, bad_accounts = _scan_portable(conn, rep, limit)
    rep.entries = int(conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one())
    rep.accounts = int(conn.execute(select(func.count()).select_from(Account)).scalar_one())

    if unbalanced:
        per_entry = (
            select(Posting.entry_id, func.sum(Posting.amount), func.count())
            .group_by(Posting.entry_id)
            .having((func.sum(Posting.amount) != 0) | (func.count() < 2))
            .order_by(Posting.entry_id)
            .limit(limit)
        )
        for entry_id, s, n in conn.execute(per_entry):
            rep.problems.append(
                f"entry {entry_id}: {n} postings summing to {s} fen (must be 0, ≥2)"
            )

    if rep.entries != seen:
        orphan = (
            select(JournalEntry.id)
            .outerjoin(Posting, Posting.entry_id == JournalEntry.id)
            .where(Posting.id.is_(None))
            .order_by(JournalEntry.id)
            .limit(limit)
        )
        for (entry_id,) in conn.execute(orphan):
            rep.problems.append(f"entry {entry_id}: has no postings")

    for aid, kind, cached, bal, total in bad_accounts:
        if cached and bal != total:
            rep.problems.append(
                f"account {aid} ({kind}): cached balance {bal} fen, postings give {total} fen"
            )
        elif total < 0:
            rep.problems.append(f"account {aid} ({kind}): negative balance {total} fen")
        else:
            rep.problems.append(f"account {aid} ({kind}): uncached account holds balance {bal}")
    return rep


Failing = list[tuple[int, str, bool, int, int]]  # id, kind, cached, balance, derived


def _scan_postgres(conn: Connection, rep: VerifyReport, limit: int) -> tuple[int, int, Failing]:
    """(entry ids seen in postings, unbalanced entries, failing accounts); sets postings."""
    seen = unbalanced = 0
    failing: Failing = []
    for row in conn.execute(_PG_ONE_SCAN, {"limit": limit + 1}):
        if row.summary:
            seen, rep.postings, unbalanced = (
                int(row.entries),
                int(row.postings),
                int(row.unbalanced),
            )
        elif len(failing) < limit:
            failing.append(
                (int(row.id), str(row.kind), bool(row.cached), int(row.balance), int(row.total))
            )
    return seen, unbalanced, failing


def _scan_portable(conn: Connection, rep: VerifyReport, limit: int) -> tuple[int, int, Failing]:
    per_entry = (
        select(func.sum(Posting.amount).label("s"), func.count().label("n"))
        .group_by(Posting.entry_id)
        .subquery()
    )
    bad = case(((per_entry.c.s != 0) | (per_entry.c.n < 2), 1), else_=0)
    seen, postings, unbalanced = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(per_entry.c.n), 0),
            func.coalesce(func.sum(bad), 0),
        ).select_from(per_entry)
    ).one()
    rep.postings = int(postings)

    sums = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    derived = func.coalesce(sums.c.total, 0)
    rows: Any = conn.execute(
        select(Account.id, Account.kind, Account.cached, Account.balance, derived)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(
            (Account.cached & (Account.balance != derived))
            | (~Account.allow_negative & (derived < 0))
            | (~Account.cached & (Account.balance != 0))
        )
        .order_by(Account.id)
        .limit(limit)
    )
    failing: Failing = [(int(a), str(k), bool(c), int(b), int(t)) for a, k, c, b, t in rows]
    return int(seen), int(unbalanced), failing
