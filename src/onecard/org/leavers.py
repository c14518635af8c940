"""A person leaving: their status, and their subsidy back to their unit.

Contract: ``mark_left(conn, ctx, actor_label, person_id, day)`` works inside the caller's
transaction (the roster import's, ``funding.distribution.leave``'s): the person's status
becomes ``left`` from ``day`` and their whole subsidy balance moves back to their unit's
income sub-account (subsidy −b / unit_income +b, one ledger entry keyed
``leaver:<person>:<day>``, so a repeat moves nothing twice). Returns the fen moved. Their
cash purse stays theirs (it leaves only through ``funding.payouts.refund_leaver_cash``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select, update

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.ledger.service import Leg, account_id, balances, post
from onecard.org.models import Person


def mark_left(conn: Connection, ctx: Context, actor_label: str, person_id: int, day: date) -> int:
    """Inside a caller's transaction: status left, subsidy back to the unit. Returns fen."""
    p = conn.execute(select(Person.__table__).where(Person.id == person_id)).one()
    conn.execute(update(Person).where(Person.id == person_id).values(status="left", left_on=day))
    sub = account_id(conn, "person", person_id, "subsidy")
    bal = balances(conn, [sub])[sub]
    if bal > 0:
        now = ctx.clock.now()
        post(
            conn,
            region_id=p.region_id,
            kind="leaver_return",
            key=f"leaver:{person_id}:{day.isoformat()}",
            legs=[Leg(sub, -bal), Leg(account_id(conn, "unit", p.unit_id, "unit_income"), bal)],
            actor=actor_label,
            booked_at=now,
            business_day=to_local(now).date(),
            reference=f"离职补贴退回单位 {p.name}",
        )
    return bal
