"""``onecard ledger verify``: recompute everything from postings and compare.

Contract: ``verify(conn)`` reads only and returns a ``VerifyReport``; ``ok`` is False if
any check fails, and ``problems`` lists each discrepancy, the first one first (at most
``limit`` of each kind: unbalanced entries, entries without postings, accounts). Checks:
every entry sums to zero, has at least two postings and exactly the number it records
(``journal_entries.legs``); every cached purse equals the sum of its postings; no
non-negative account is negative when derived from postings; uncached accounts keep a
zero ``balance`` column.

How (the postings table is the ledger's largest by far):
- the account checks: one grouped pass by account (computed whole, then joined with
  ``accounts``: a LIMIT must not lead the planner into walking postings by account);
- the entry checks, on PostgreSQL: a *fingerprint* instead of grouping 7.8 M entries
  (the old verify's floor: 8.7 s of its 14 s at city scale, against 4.5 s for the bare
  GROUP BY by account). Each entry gets two random 20-bit weights w (``hashint8extended``
  of its id under seeds drawn afresh for every run) and each weight an offset M (random,
  about 2²⁰). The account pass also sums ``(amount + M) × w`` over all postings; a scan
  of the entries sums ``M × legs × w``. For every entry e with postings summing to s(e),
  n(e) of them and legs(e) recorded, the two differ by Σₑ w(e)·(s(e) + M·(n(e) − legs(e))):
  zero, exactly (integer arithmetic), when every entry balances and has its legs. When
  some entry does not, each of the two comparisons still passes only if the draw of w
  and M happens to cancel it (at most 2⁻¹⁹ each, independently), so both pass with
  probability at most 2⁻³⁸ — for any damage, over the draw. Only when one fails (or
  an entry records fewer than two legs) are the entries grouped one by one to name the
  culprits. ``exact=True`` (``onecard ledger
  verify --exact``) groups anyway, for an auditor who wants no probability at all;
  SQLite (no ``hashint8extended``, small ledgers) always does. A posting beyond 2⁴³ fen
  would overflow the products: PostgreSQL refuses them and verify groups instead;
- exact path, entries without postings: ``postings.entry_id`` is a foreign key, so the
  entries are complete exactly when their count equals the entry ids seen while
  grouping; only when it does not are they looked up (an anti-join) to name them;
- fund regions (issue 17 §1; ``org.fund_regions``): when the deployment has more than
  one, each fund region's books must hold on their own — the postings on its accounts
  (every account counts for its ``region_id``'s fund region; a system account's
  ``region_id`` is its fund region) sum to zero, and a system account of a fund region
  receives only entries of that region (``journal_entries.region_id``'s fund region).
  Inter-region clearing entries are the one exception: an entry whose kind
  ``crosses_regions(kind)`` allows (``CROSS_REGION_KINDS``: kinds starting with
  ``interregion``) may move money between fund regions, and a fund region's
  ``region_due`` account takes the other region's half of every payment across fund
  regions (pay.decide: it is what the two regions owe each other until clearing); the
  region sums then leave
  out those entries' postings (read only when some region's sum is not zero). The sums
  per account region come with the account pass (its per-account totals, grouped by
  the accounts' region: no second pass over postings); the system-account check is an
  index walk of the system accounts' postings, skipped with a single fund region;
- on PostgreSQL, when the caller's transaction has written nothing, the two passes run
  side by side on two connections of their own that share one snapshot (exported by the
  first, as ``pg_dump -j`` does), so they compare the same ledger even while payments
  are arriving; otherwise both run in the caller's transaction, one after the other.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, case, func, select, text
from sqlalchemy.exc import DataError

from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.org.fund_regions import fund_region_map

T = TypeVar("T")
U = TypeVar("U")

# Entry kinds that may move money between fund regions: inter-region clearing (issue 17
# §2, written by the clearing package). The hook for ``verify``: an entry of such a kind
# is allowed to post to accounts of several fund regions.
CROSS_REGION_KINDS = ("interregion",)


def crosses_regions(kind: str) -> bool:
    return kind.startswith(CROSS_REGION_KINDS)


@dataclass
class VerifyReport:
    entries: int = 0
    postings: int = 0
    accounts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


Failing = list[tuple[int, str, bool, int, int]]  # id, kind, cached, balance, derived
Unbalanced = list[tuple[int, int, int, int]]  # entry, sum, postings, legs recorded


def verify(conn: Connection, limit: int = 50, *, exact: bool = False) -> VerifyReport:
    rep = VerifyReport()
    fast = None
    if conn.dialect.name == "postgresql" and not exact:
        fp = Fingerprint.draw()
        postings_side, entries_side = _side_by_side(
            conn, lambda c: _account_pass_with_fingerprint(c, fp, limit), fp.of_entries
        )
        if postings_side is not None:
            fast = postings_side, entries_side
    if fast is not None:
        (rep.postings, sums, failing, by_region), (rep.entries, legs, expected, short) = fast
        suspect = short > 0 or rep.postings != legs or sums != expected
        unbalanced = _unbalanced(conn, limit) if suspect else []
        orphans = _orphans(conn, limit) if suspect else []
    else:
        (failing, by_region), (seen, rep.postings, n_unbalanced) = _side_by_side(
            conn, lambda c: _account_pass(c, limit), _entry_pass
        )
        rep.entries = _count(conn, JournalEntry)
        unbalanced = _unbalanced(conn, limit) if n_unbalanced else []
        orphans = _orphans(conn, limit) if rep.entries != seen else []
    rep.accounts = _count(conn, Account)

    for entry_id, total, n, legs in unbalanced:
        if total != 0 or n < 2:
            rep.problems.append(
                f"entry {entry_id}: {n} postings summing to {total} fen (must be 0, ≥2)"
            )
        else:
            rep.problems.append(f"entry {entry_id}: has {n} postings but records {legs}")
    for entry_id in orphans:
        rep.problems.append(f"entry {entry_id}: has no postings")
    for aid, kind, cached, bal, total in failing:
        if cached and bal != total:
            rep.problems.append(
                f"account {aid} ({kind}): cached balance {bal} fen, postings give {total} fen"
            )
        elif total < 0:
            rep.problems.append(f"account {aid} ({kind}): negative balance {total} fen")
        else:
            rep.problems.append(f"account {aid} ({kind}): uncached account holds balance {bal}")
    rep.problems.extend(fund_region_problems(conn, limit, by_region))
    return rep


def fund_region_problems(
    conn: Connection, limit: int = 50, by_region: dict[int, int] | None = None
) -> list[str]:
    """Each fund region's books on their own (see the module's contract); nothing to
    check (and nothing read beyond the regions) with a single fund region.
    ``by_region``: the postings' sum per account ``region_id``, as the account pass
    computed it on the way (else it is grouped here)."""
    fmap = fund_region_map(conn)
    if len(set(fmap.values())) < 2:
        return []
    problems: list[str] = []
    # System accounts receive entries of their own fund region only.
    for acct, acct_region, entry_region, kind, n in conn.execute(
        text(
            "SELECT a.id, a.region_id, e.region_id, e.kind, count(*) FROM accounts a"
            " JOIN postings p ON p.account_id = a.id JOIN journal_entries e ON e.id = p.entry_id"
            " WHERE a.owner_kind = 'system' AND a.kind <> 'region_due'"
            " GROUP BY a.id, a.region_id, e.region_id, e.kind ORDER BY a.id, e.region_id"
        )
    ):
        mine = fmap.get(int(acct_region), int(acct_region))
        theirs = fmap.get(int(entry_region), int(entry_region))
        if mine != theirs and not crosses_regions(str(kind)):
            problems.append(
                f"account {acct} (system, fund region {mine}): {n} {kind} entries of"
                f" region {entry_region} (fund region {theirs})"
            )
    # Each fund region's postings sum to zero (inter-region clearing left out).
    if by_region is None:
        by_region = {
            int(r): int(t)
            for r, t in conn.execute(
                text(
                    "SELECT a.region_id, sum(p.amount) FROM postings p"
                    " JOIN accounts a ON a.id = p.account_id GROUP BY a.region_id"
                )
            )
        }

    def per_fund(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
        totals: dict[int, int] = {}
        for region, total in rows:
            fund = fmap.get(int(region), int(region))
            totals[fund] = totals.get(fund, 0) + int(total)
        return totals

    totals = per_fund(by_region.items())
    if any(totals.values()):  # only then read what inter-region clearing moved
        cross = conn.execute(
            text(
                "SELECT a.region_id, -sum(p.amount) FROM journal_entries e"
                " JOIN postings p ON p.entry_id = e.id JOIN accounts a ON a.id = p.account_id"
                " WHERE "
                + " OR ".join(f"e.kind LIKE '{k}%'" for k in CROSS_REGION_KINDS)
                + " GROUP BY a.region_id"
            )
        ).all()
        totals = per_fund([*by_region.items(), *((int(r), int(t)) for r, t in cross)])
    for fund, total in sorted(totals.items()):
        if total != 0:
            problems.append(f"fund region {fund}: its postings sum to {total} fen (must be 0)")
    return problems[:limit]


def _side_by_side(
    conn: Connection, mine: Callable[[Connection], T], theirs: Callable[[Connection], U]
) -> tuple[T, U]:
    """Both passes' results: on two connections sharing one snapshot when the caller's
    transaction has written nothing, else one after the other in the caller's."""
    if not _may_use_a_second_connection(conn):
        other = theirs(conn)
        return mine(conn), other
    with (
        conn.engine.connect().execution_options(isolation_level="REPEATABLE READ") as a,
        conn.engine.connect().execution_options(isolation_level="REPEATABLE READ") as b,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        try:
            snapshot = a.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            b.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            pending = pool.submit(theirs, b)
            return mine(a), pending.result()
        finally:
            a.rollback()
            b.rollback()


def _may_use_a_second_connection(conn: Connection) -> bool:
    """PostgreSQL, and the caller's transaction has written nothing (no transaction id
    assigned): other connections then read the same committed ledger."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(text("SELECT pg_current_xact_id_if_assigned() IS NULL")).scalar() is True


def _count(conn: Connection, table: type[Account] | type[JournalEntry]) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _per_entry() -> Any:
    """Postings grouped by entry (``e``, ``s`` sum, ``n`` postings), joined with
    ``JournalEntry`` by the caller, and the condition naming the entries that fail."""
    per_entry = (
        select(
            Posting.entry_id.label("e"),
            func.sum(Posting.amount).label("s"),
            func.count().label("n"),
        )
        .group_by(Posting.entry_id)
        .subquery()
    )
    fails = (per_entry.c.s != 0) | (per_entry.c.n < 2) | (per_entry.c.n != JournalEntry.legs)
    return per_entry, fails


def _entry_pass(conn: Connection) -> tuple[int, int, int]:
    """(entry ids seen in postings, postings, entries failing a check): one grouped pass
    (joined with the entries for the legs they record)."""
    per_entry, fails = _per_entry()
    seen, postings, unbalanced = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(per_entry.c.n), 0),
            func.coalesce(func.sum(case((fails, 1), else_=0)), 0),
        ).select_from(per_entry.join(JournalEntry, JournalEntry.id == per_entry.c.e))
    ).one()
    return int(seen), int(postings), int(unbalanced)


def _unbalanced(conn: Connection, limit: int) -> Unbalanced:
    """The first ``limit`` entries (by id) with postings that do not sum to zero, are
    fewer than two, or are not as many as the entry records."""
    per_entry, fails = _per_entry()
    rows = conn.execute(
        select(per_entry.c.e, per_entry.c.s, per_entry.c.n, JournalEntry.legs)
        .join(JournalEntry, JournalEntry.id == per_entry.c.e)
        .where(fails)
        .order_by(per_entry.c.e)
        .limit(limit)
    )
    return [(int(e), int(s), int(n), int(legs)) for e, s, n, legs in rows]


def _orphans(conn: Connection, limit: int) -> list[int]:
    """The first ``limit`` entries (by id) without a single posting."""
    orphan = (
        select(JournalEntry.id)
        .where(~select(Posting.id).where(Posting.entry_id == JournalEntry.id).exists())
        .order_by(JournalEntry.id)
        .limit(limit)
    )
    return [int(i) for i in conn.execute(orphan).scalars()]


_FAILS = """(a.cached AND a.balance <> coalesce(s.total, 0))
    OR (NOT a.allow_negative AND coalesce(s.total, 0) < 0)
    OR (NOT a.cached AND a.balance <> 0)"""


def _account_pass(conn: Connection, limit: int) -> tuple[Failing, dict[int, int]]:
    """The first ``limit`` accounts (by id) failing a check, with their derived balance;
    and the postings' sum per account region (from the same grouped pass)."""
    rows = conn.execute(
        text(
            "WITH s AS MATERIALIZED (SELECT account_id, sum(amount) AS total FROM postings"
            " GROUP BY account_id)"
            " SELECT a.id, a.kind, a.cached, a.balance, coalesce(s.total, 0), NULL"
            f" FROM accounts a LEFT JOIN s ON s.account_id = a.id WHERE {_FAILS}"
            " UNION ALL SELECT NULL, NULL, NULL, NULL, sum(s.total), a.region_id"
            " FROM s JOIN accounts a ON a.id = s.account_id GROUP BY a.region_id"
        )
    ).all()
    regions = {int(r[5]): int(r[4]) for r in rows if r[5] is not None}
    return _first([r[:5] for r in rows if r[5] is None], limit), regions


@dataclass(frozen=True)
class Fingerprint:
    """Two (seed, offset) pairs drawn for one run. A weight is 1..2²⁰ (never zero), so
    |amount + offset| × weight stays within bigint for any posting below 2⁴³ fen (88
    billion yuan)."""

    seeds: tuple[int, int]
    offsets: tuple[int, int]

    @classmethod
    def draw(cls) -> Fingerprint:
        return cls(
            (secrets.randbits(63), secrets.randbits(63)),
            (2**20 + secrets.randbits(20), 2**20 + secrets.randbits(20)),
        )

    @staticmethod
    def weight(column: str, i: int) -> str:
        return f"((hashint8extended({column}, :seed{i}) & 1048575) + 1)"

    @property
    def params(self) -> dict[str, int]:
        return {f"seed{i}": s for i, s in enumerate(self.seeds)} | {
            f"offset{i}": m for i, m in enumerate(self.offsets)
        }

    def of_entries(self, conn: Connection) -> tuple[int, int, tuple[int, int], int]:
        """(entries, legs they record, the two sums the postings must give, entries
        recording fewer than two legs)."""
        n, legs, s0, s1, short = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(legs), 0),"
                f" coalesce(sum(legs * {self.weight('id', 0)}), 0),"
                f" coalesce(sum(legs * {self.weight('id', 1)}), 0),"
                " count(*) FILTER (WHERE legs < 2) FROM journal_entries"
            ),
            self.params,
        ).one()
        expected = (self.offsets[0] * int(s0), self.offsets[1] * int(s1))
        return int(n), int(legs), expected, int(short)


def _account_pass_with_fingerprint(
    conn: Connection, fp: Fingerprint, limit: int
) -> tuple[int, tuple[int, int], Failing, dict[int, int]] | None:
    """(postings, the two weighted sums, the failing accounts, the sum per account
    region) in one scan; None if a weighted sum could not be computed (a posting beyond
    2⁴³ fen)."""
    sums = ", ".join(
        f"sum((amount + :offset{i}) * {fp.weight('entry_id', i)}) AS f{i}" for i in (0, 1)
    )
    query = text(
        f"""
        WITH s AS MATERIALIZED (
          SELECT account_id, sum(amount) AS total, count(*) AS n, {sums}
          FROM postings GROUP BY account_id),
        t AS (SELECT coalesce(sum(n), 0) AS n, coalesce(sum(f0), 0) AS f0,
                     coalesce(sum(f1), 0) AS f1 FROM s),
        bad AS (SELECT a.id, a.kind, a.cached, a.balance, coalesce(s.total, 0) AS total
                FROM accounts a LEFT JOIN s ON s.account_id = a.id WHERE {_FAILS})
        SELECT t.n, t.f0, t.f1, bad.*, NULL::bigint AS region FROM t LEFT JOIN bad ON true
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, sum(s.total), a.region_id
        FROM s JOIN accounts a ON a.id = s.account_id GROUP BY a.region_id
        """
    )
    try:
        with conn.begin_nested():
            rows = conn.execute(query, fp.params).all()
    except DataError:  # bigint out of range
        return None
    regions = {int(r[8]): int(r[7]) for r in rows if r[8] is not None}
    mine = [r for r in rows if r[8] is None]
    n, f0, f1 = mine[0][:3]
    failing = [r[3:8] for r in mine if r[3] is not None]
    return int(n), (int(f0), int(f1)), _first(failing, limit), regions


def _first(rows: Any, limit: int) -> Failing:
    failing = sorted((int(a), str(k), bool(c), int(b), int(t)) for a, k, c, b, t in rows)
    return failing[:limit]
