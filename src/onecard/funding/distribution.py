"""Distribution (拨付到卡): from a unit's income sub-account to its staff's subsidy purses.

Contract:
- ``plan(conn, unit_id, quarter)`` lists every active person of the unit with the
  months of the quarter they count for and their amount. The rule (docs/funding.md):
  a month counts when the person is enrolled on its 15th (joined on or before the 15th,
  not left on or before it); amount = quarterly standard × months / 3, half-up to the
  fen. People who have already left get nothing.
- ``distribute(ctx, actor, unit_id, quarter)`` is one transaction and posts one entry
  per person (unit_income(U) −s / subsidy +s), keyed ``dist:<quarter>:<person>``: running
  it again pays nobody twice and only reaches people added since (late joiners). Before
  posting it checks the new total against the unit's undistributed funds and refuses
  the whole run (``DistributionExceedsFunds``) rather than paying some: a unit is never
  distributed more than it paid (the ledger refuses it too).
- ``leave(ctx, actor, person_id, left_on)`` marks a person as left and moves their
  whole subsidy balance back to their unit's income sub-account (subsidy −b /
  unit_income +b, keyed ``leaver:<person>:<day>``). Their cash purse stays theirs; it
  leaves only through ``payouts.refund_leaver_cash`` to their bound card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select, update

from onecard.core.clock import quarter_bounds, to_local
from onecard.core.context import Context
from onecard.core.errors import NotFound, StateConflict
from onecard.funding import audit
from onecard.funding.errors import DistributionExceedsFunds, check_quarter
from onecard.funding.notices import standard_of
from onecard.funding.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.ledger.models import JournalEntry
from onecard.ledger.service import Leg, account_id, balances, derived_balance, post
from onecard.org.actors import Actor
from onecard.org.models import Person, Unit


@dataclass(frozen=True)
class Share:
    person_id: int
    staff_no: str
    name: str
    months: int
    standard_fen: int
    amount_fen: int
    done: bool  # already distributed this quarter


def months_enrolled(quarter: str, joined_on: date | None, left_on: date | None) -> int:
    start, _ = quarter_bounds(quarter)
    n = 0
    for k in range(3):
        mid = date(start.year, start.month + k, 15)
        if (joined_on is None or joined_on <= mid) and (left_on is None or left_on > mid):
            n += 1
    return n


def prorate(standard_fen: int, months: int) -> int:
    """standard × months / 3, half-up to the fen (integers only)."""
    return (standard_fen * months * 2 + 3) // 6


def dist_key(quarter: str, person_id: int) -> str:
    return f"dist:{quarter}:{person_id}"


def plan(conn: Connection, unit_id: int, quarter: str) -> list[Share]:
    unit = conn.execute(select(Unit.__table__).where(Unit.id == unit_id)).one_or_none()
    if unit is None:
        raise NotFound(what="单位")
    people = list(
        conn.execute(
            select(Person.__table__)
            .where(Person.unit_id == unit_id, Person.status == "active")
            .order_by(Person.staff_no)
        )
    )
    keys = {dist_key(quarter, p.id) for p in people}
    done = (
        set(
            conn.execute(
                select(JournalEntry.idempotency_key).where(JournalEntry.idempotency_key.in_(keys))
            ).scalars()
        )
        if keys
        else set()
    )
    out = []
    for p in people:
        std = standard_of(p.standard_fen, unit.default_standard_fen)
        months = months_enrolled(quarter, p.joined_on, p.left_on)
        out.append(
            Share(
                p.id,
                p.staff_no,
                p.name,
                months,
                std,
                prorate(std, months),
                dist_key(quarter, p.id) in done,
            )
        )
    return out


def distribute(
    ctx: Context,
    actor: Actor,
    unit_id: int,
    quarter: str,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
) -> RunResult:
    actor.require_money_runs()
    check_quarter(quarter)
    now = ctx.clock.now()
    with unit_of_work(ctx, dry_run) as conn:
        unit = conn.execute(select(Unit.__table__).where(Unit.id == unit_id)).one_or_none()
        if unit is None:
            raise NotFound(what="单位")
        res = RunResult("distribute", f"{quarter} {unit.name}", dry_run)
        shares = plan(conn, unit_id, quarter)
        income = account_id(conn, "unit", unit_id, "unit_income")
        have = derived_balance(conn, income)
        todo = [s for s in shares if not s.done and s.amount_fen > 0]
        need = sum(s.amount_fen for s in todo)
        res.totals = {
            "people": len(shares),
            "new_people": len(todo),
            "amount_fen": need,
            "already_fen": sum(s.amount_fen for s in shares if s.done),
            "available_fen": have,
        }
        res.lines = [
            {
                "staff_no": s.staff_no,
                "name": s.name,
                "months": s.months,
                "standard_fen": s.standard_fen,
                "amount_fen": s.amount_fen,
                "done": s.done,
            }
            for s in shares
        ]
        if need > have:
            err = DistributionExceedsFunds(unit=unit.name, need=need, have=have)
            if dry_run:
                res.problems.append(err.message())
                return res
            raise err
        if dry_run:
            return res
        for i, s in enumerate(todo, 1):
            post(
                conn,
                region_id=unit.region_id,
                kind="distribution",
                key=dist_key(quarter, s.person_id),
                legs=[
                    Leg(income, -s.amount_fen),
                    Leg(account_id(conn, "person", s.person_id, "subsidy"), s.amount_fen),
                ],
                actor=actor.label,
                booked_at=now,
                reference=f"{quarter} 就餐经费拨付 {unit.name}",
                memo=f"{s.months}/3 个月",
            )
            progress(i, len(todo))
        res.changed = bool(todo)
        audit.record(conn, ctx, actor, "distribute", res.scope, res.totals)
    return res


def distribute_all(
    ctx: Context,
    actor: Actor,
    quarter: str,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
) -> list[RunResult]:
    """Every unit, each in its own transaction; a unit short of funds is reported, not paid."""
    with ctx.db.read() as conn:
        units = list(conn.execute(select(Unit.id).order_by(Unit.code)).scalars())
    out = []
    for i, uid in enumerate(units, 1):
        try:
            out.append(distribute(ctx, actor, uid, quarter, dry_run=dry_run))
        except DistributionExceedsFunds:
            # Nothing was paid to this unit; show what it would need (the dry run's
            # figures carry the same problem) and go on with the others.
            out.append(distribute(ctx, actor, uid, quarter, dry_run=True))
        progress(i, len(units))
    return out


def leave(ctx: Context, actor: Actor, person_id: int, left_on: date | None = None) -> RunResult:
    with ctx.db.begin() as conn:
        p = conn.execute(select(Person.__table__).where(Person.id == person_id)).one_or_none()
        if p is None:
            raise NotFound(what="人员")
        actor.require_unit(p.unit_id)
        day = left_on or ctx.clock.today()
        res = RunResult("leave", f"{p.staff_no} {p.name}", False)
        if p.status == "left":
            if p.left_on != day:
                raise StateConflict(f"该人员已于 {p.left_on} 离职")
            res.totals = {"subsidy_returned_fen": 0}
            return res
        returned = mark_left(conn, ctx, actor.label, p.id, day)
        res.totals = {"subsidy_returned_fen": returned}
        res.changed = True
        audit.record(conn, ctx, actor, "leave", res.scope, res.totals)
    return res


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
