"""Read models of offline terminals: a unit's outstanding offline debts; the debt part of
each offline payment, for the canteen's figures; the bureau's view of every terminal's
offline uploads (per terminal and Beijing day, each record, the gaps waiting for missing
records) and the city's outstanding debts (reads only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Subquery, select

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.org.models import Canteen, Person, Terminal, Unit
from onecard.terminals.models import OfflineDebt, OfflineRecord, OfflineTerminal


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


# --- the bureau's offline pages (/bureau/offline) ---------------------------------------
# The stored statuses are ``applied`` and ``refused``; a duplicate is a record sent again
# (``resent`` counts the times, answered with the first answer); a deferred record is not
# stored at all — the terminal shows the gap (``ahead_seq``) until the missing ones come.
STATUSES = ("applied", "refused", "duplicate")


def upload_records(ctx: Context, status: str = "") -> list[dict[str, Any]]:
    """Every stored offline record, newest first, with its terminal, canteen and person;
    ``status`` one of ``STATUSES`` (or empty for all)."""
    q = (
        select(
            OfflineRecord.id,
            Terminal.code.label("terminal"),
            Canteen.name.label("canteen"),
            OfflineRecord.seq,
            OfflineRecord.txn_id,
            OfflineRecord.status,
            OfflineRecord.reason,
            OfflineRecord.amount_fen,
            OfflineRecord.taken_at,
            OfflineRecord.received_at,
            OfflineRecord.resent,
            Person.name.label("person"),
            Person.staff_no,
        )
        .join(Terminal, Terminal.id == OfflineRecord.terminal_id)
        .join(Canteen, Canteen.id == Terminal.canteen_id)
        .outerjoin(Person, Person.id == OfflineRecord.person_id)
        .order_by(OfflineRecord.id.desc())
    )
    if status in ("applied", "refused"):
        q = q.where(OfflineRecord.status == status)
    elif status == "duplicate":
        q = q.where(OfflineRecord.resent > 0)
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def terminal_days(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of ``upload_records`` counted per terminal and Beijing day (the day the
    record was taken), newest day first."""
    days: dict[tuple[str, date], dict[str, Any]] = {}
    for r in records:
        day = to_local(r["taken_at"]).date()
        row = days.setdefault(
            (r["terminal"], day),
            {
                "terminal": r["terminal"],
                "canteen": r["canteen"],
                "day": day,
                "applied": 0,
                "refused": 0,
                "duplicates": 0,
                "applied_fen": 0,
            },
        )
        row[r["status"]] += 1
        row["duplicates"] += int(r["resent"])
        if r["status"] == "applied":
            row["applied_fen"] += int(r["amount_fen"])
    return sorted(days.values(), key=lambda d: (d["day"], d["terminal"]), reverse=True)


def deferred_gaps(ctx: Context) -> list[dict[str, Any]]:
    """Terminals that sent records ahead of a gap: those wait (``deferred``) until the
    missing sequence numbers ``next_seq`` … ``ahead_seq - 1`` arrive."""
    q = (
        select(
            Terminal.code.label("terminal"),
            Canteen.name.label("canteen"),
            OfflineTerminal.next_seq,
            OfflineTerminal.ahead_seq,
            OfflineTerminal.ahead_taken_at,
        )
        .join(Terminal, Terminal.id == OfflineTerminal.terminal_id)
        .join(Canteen, Canteen.id == Terminal.canteen_id)
        .where(OfflineTerminal.ahead_seq.is_not(None))
        .order_by(Terminal.code)
    )
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def city_debts(ctx: Context) -> list[dict[str, Any]]:
    """Every outstanding offline debt in the city, oldest first: person, unit, amount,
    since when and what was recovered so far."""
    q = (
        select(
            Person.name.label("person"),
            Person.staff_no,
            Unit.name.label("unit"),
            OfflineDebt.amount_fen,
            OfflineDebt.recovered_fen,
            (OfflineDebt.amount_fen - OfflineDebt.recovered_fen).label("outstanding_fen"),
            OfflineDebt.created_at,
        )
        .join(Person, Person.id == OfflineDebt.person_id)
        .join(Unit, Unit.id == OfflineDebt.unit_id)
        .where(OfflineDebt.recovered_fen < OfflineDebt.amount_fen)
        .order_by(OfflineDebt.id)
    )
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def debt_total(rows: list[dict[str, Any]]) -> int:
    return sum(int(r["outstanding_fen"]) for r in rows)
