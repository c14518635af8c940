"""``onecard ledger verify``: recompute everything from postings and compare.

Contract: ``verify(conn)`` reads only and returns a ``VerifyReport``; ``ok`` is False if
any check fails, and ``problems`` lists each discrepancy, the first one first. Checks:
every entry sums to zero and has at least two postings; every cached purse equals the
sum of its postings; no non-negative account is negative when derived from postings;
uncached accounts keep a zero ``balance`` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

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


def verify(conn: Connection, limit: int = 50) -> VerifyReport:
    rep = VerifyReport()
    rep.entries = int(conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one())
    rep.postings = int(conn.execute(select(func.count()).select_from(Posting)).scalar_one())
    rep.accounts = int(conn.execute(select(func.count()).select_from(Account)).scalar_one())

    per_entry = (
        select(Posting.entry_id, func.sum(Posting.amount).label("s"), func.count().label("n"))
        .group_by(Posting.entry_id)
        .having((func.sum(Posting.amount) != 0) | (func.count() < 2))
        .order_by(Posting.entry_id)
        .limit(limit)
    )
    for entry_id, s, n in conn.execute(per_entry):
        rep.problems.append(f"entry {entry_id}: {n} postings summing to {s} fen (must be 0, ≥2)")

    orphan = (
        select(JournalEntry.id)
        .outerjoin(Posting, Posting.entry_id == JournalEntry.id)
        .where(Posting.id.is_(None))
        .limit(limit)
    )
    for (entry_id,) in conn.execute(orphan):
        rep.problems.append(f"entry {entry_id}: has no postings")

    sums = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    derived = func.coalesce(sums.c.total, 0)
    rows = conn.execute(
        select(
            Account.id,
            Account.kind,
            Account.cached,
            Account.allow_negative,
            Account.balance,
            derived,
        )
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(
            (Account.cached & (Account.balance != derived))
            | (~Account.allow_negative & (derived < 0))
            | (~Account.cached & (Account.balance != 0))
        )
        .order_by(Account.id)
        .limit(limit)
    )
    for aid, kind, cached, _neg, bal, total in rows:
        if cached and bal != total:
            rep.problems.append(
                f"account {aid} ({kind}): cached balance {bal} fen, postings give {total} fen"
            )
        elif total < 0:
            rep.problems.append(f"account {aid} ({kind}): negative balance {total} fen")
        else:
            rep.problems.append(f"account {aid} ({kind}): uncached account holds balance {bal}")
    return rep
