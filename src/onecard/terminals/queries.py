"""Read models of offline terminals: a unit's outstanding offline debts; the debt part of
each offline payment, for the canteen's figures (reads only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Subquery, select

from onecard.core.context import Context
from onecard.org.models import Person
from onecard.terminals.models import OfflineDebt, OfflineRecord


@dataclass(frozen=True)
class Debt:
    person_id: int
    staff_no: str
    name: str
    amount_fen: int
    recovered_fen: int
    created_at: datetime

    @property
    def outstanding_fen(self) -> int:
        return self.amount_fen - self.recovered_fen


def unit_debts(ctx: Context, unit_id: int, *, outstanding_only: bool = True) -> list[Debt]:
    """The unit's people's debts from late offline records, oldest first."""
    q = (
        select(
            OfflineDebt.person_id,
            Person.staff_no,
            Person.name,
            OfflineDebt.amount_fen,
            OfflineDebt.recovered_fen,
            OfflineDebt.created_at,
        )
        .join(Person, Person.id == OfflineDebt.person_id)
        .where(OfflineDebt.unit_id == unit_id)
        .order_by(OfflineDebt.id)
    )
    if outstanding_only:
        q = q.where(OfflineDebt.recovered_fen < OfflineDebt.amount_fen)
    with ctx.db.read() as conn:
        return [Debt(int(r[0]), r[1], r[2], int(r[3]), int(r[4]), r[5]) for r in conn.execute(q)]


def debt_by_payment() -> Subquery:
    """``(payment_id, debt_fen)`` of every offline payment that left a debt. The canteen
    was credited the record's whole amount in the ledger; ``payments.amount_fen`` holds
    only what the purses paid. Figures of a canteen's takings add this part."""
    return (
        select(
            OfflineRecord.payment_id.label("payment_id"),
            OfflineDebt.amount_fen.label("debt_fen"),
        )
        .join(OfflineDebt, OfflineDebt.record_id == OfflineRecord.id)
        .subquery("offline_debt")
    )
