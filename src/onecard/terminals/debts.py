"""Debts left by late offline records, and their recovery from the next allocation.

Contract:
- When an offline record is applied after the person's purses ran short (they paid
  online elsewhere meanwhile), the shortfall is debited to their ``offline_debt``
  account (``debt_account``: opened on first need, may go negative — by what they owe)
  and recorded (``record``: one ``offline_debts`` row per record).
- ``recovery(conn, shares, quarter)`` is the hook a distribution calls with what it is
  about to pay each person (person, subsidy purse, amount): for each person who owes,
  oldest debt first and never more than the amount being paid, one entry
  (subsidy −r / offline_debt +r, keyed ``debt:<debt id>:<quarter>``). The caller posts
  the entries right after its own (the purse has the allocation by then) and calls
  ``Recovery.mark`` in the same transaction to record what was recovered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from onecard.ledger.journal import Leg, NewEntry
from onecard.ledger.models import Account
from onecard.ledger.service import open_account
from onecard.terminals.models import OfflineDebt

DEBT_KIND = "offline_debt"


def debt_account(conn: Connection, region_id: int, person_id: int) -> int:
    return open_account(conn, region_id, "person", person_id, DEBT_KIND)


def record(
    conn: Connection, person_id: int, unit_id: int, record_id: int, amount: int, now: datetime
) -> None:
    conn.execute(
        insert(OfflineDebt).values(
            person_id=person_id,
            unit_id=unit_id,
            record_id=record_id,
            amount_fen=amount,
            recovered_fen=0,
            created_at=now,
        )
    )


@dataclass
class Recovery:
    entries: list[NewEntry] = field(default_factory=list)
    taken: list[tuple[int, int]] = field(default_factory=list)  # (debt id, fen)

    @property
    def total_fen(self) -> int:
        return sum(fen for _, fen in self.taken)

    def mark(self, conn: Connection, now: datetime) -> None:
        for debt_id, fen in self.taken:
            conn.execute(
                update(OfflineDebt)
                .where(OfflineDebt.id == debt_id)
                .values(
                    recovered_fen=OfflineDebt.recovered_fen + fen,
                    recovered_at=now,
                )
            )


def recovery(conn: Connection, shares: Sequence[tuple[int, int, int]], quarter: str) -> Recovery:
    """The recovery entries for ``shares`` (person id, subsidy purse, fen being paid)."""
    out = Recovery()
    paying = {pid: (purse, fen) for pid, purse, fen in shares if fen > 0}
    if not paying:
        return out
    owed: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    rows = conn.execute(
        select(
            OfflineDebt.id,
            OfflineDebt.person_id,
            OfflineDebt.amount_fen - OfflineDebt.recovered_fen,
            Account.id,
            Account.region_id,
        )
        .join(
            Account,
            (Account.owner_kind == "person")
            & (Account.owner_id == OfflineDebt.person_id)
            & (Account.kind == DEBT_KIND),
        )
        .where(OfflineDebt.recovered_fen < OfflineDebt.amount_fen)
        .order_by(OfflineDebt.id)
    )
    for debt_id, pid, left, acct, region in rows:
        if int(pid) in paying:
            owed[int(pid)].append((int(debt_id), int(left), int(acct), int(region)))
    for pid, debts in owed.items():
        purse, room = paying[pid]
        for debt_id, left, acct, region in debts:
            take = min(left, room)
            if take <= 0:
                break
            room -= take
            out.taken.append((debt_id, take))
            out.entries.append(
                NewEntry(
                    region,
                    "offline_debt_recovery",
                    f"debt:{debt_id}:{quarter}",
                    [Leg(purse, -take), Leg(acct, take)],
                    reference=f"{quarter} 离线消费欠款扣回",
                )
            )
    return out
