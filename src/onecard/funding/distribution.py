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
  distributed more than it paid (the ledger refuses it too). Only once the quarter's
  notices are out (``funding.calendar``; an audited ``override_calendar`` reason for a
  real emergency). Who: the bureau of the unit's fund region (a regional bureau for the
  units of the fund regions in its subtree; 403 for any other unit).
- ``distribute_all(ctx, actor, quarter)`` runs every unit in code order, a chunk of units
  (``ledger.service.chunk_size`` people: 10,000 on SQLite, a whole city on PostgreSQL)
  per transaction: ``plan_units`` plans the chunk in one
  query, reads every unit's undistributed funds with one grouped query, and the funded
  units' entries are posted with one ``ledger.post_many`` (one audit record per unit
  paid, one statement). A unit short of funds is paid nothing and reported as its dry
  run is (``dry_run`` true, the problem listed); the others go on.
- Debts left by late offline records (``terminals.debts``) are recovered out of what a
  run pays each person, in the same transaction (``debt_recovered_fen`` in the unit's
  totals when there was any).
- ``leave(ctx, actor, person_id, left_on)`` marks a person as left and moves their
  whole subsidy balance back to their unit's income sub-account (subsidy −b /
  unit_income +b, keyed ``leaver:<person>:<day>``). Their cash purse stays theirs; it
  leaves only through ``payouts.refund_leaver_cash`` to their bound card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import aliased

from onecard.audit import records as audit
from onecard.core.clock import quarter_bounds
from onecard.core.context import Context
from onecard.core.errors import DistributionExceedsFunds, NotFound, StateConflict
from onecard.core.money import yuan
from onecard.core.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.funding import calendar, regions
from onecard.funding.errors import check_quarter
from onecard.funding.notices import standard_of
from onecard.ledger.models import Account
from onecard.ledger.service import (
    Leg,
    NewEntry,
    balances,
    chunk_size,
    chunked,
    known_entries,
    one_of,
    post_many,
)
from onecard.org.actors import Actor
from onecard.org.fund_regions import fund_region_of
from onecard.org.leavers import mark_left
from onecard.org.models import Person, Unit
from onecard.terminals import debts


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
    n = 0
    for mid in _fifteenths(quarter):
        if (joined_on is None or joined_on <= mid) and (left_on is None or left_on > mid):
            n += 1
    return n


@lru_cache(maxsize=16)
def _fifteenths(quarter: str) -> tuple[date, date, date]:
    start, _ = quarter_bounds(quarter)
    return (
        date(start.year, start.month, 15),
        date(start.year, start.month + 1, 15),
        date(start.year, start.month + 2, 15),
    )


def prorate(standard_fen: int, months: int) -> int:
    """standard × months / 3, half-up to the fen (integers only)."""
    return (standard_fen * months * 2 + 3) // 6


def dist_key(quarter: str, person_id: int) -> str:
    return f"dist:{quarter}:{person_id}"


@dataclass
class UnitPlan:
    """One unit's distribution: who gets what, from which account, with what it has."""

    unit_id: int
    code: str
    name: str
    region_id: int
    income: int | None  # the unit's unit_income account
    shares: list[Share] = field(default_factory=list)
    subsidy: dict[int, int | None] = field(default_factory=dict)  # person → purse account
    have: int = 0  # undistributed funds on unit_income (its cached balance)

    @property
    def todo(self) -> list[Share]:
        return [s for s in self.shares if not s.done and s.amount_fen > 0]


def plan_units(conn: Connection, unit_ids: Sequence[int], quarter: str) -> list[UnitPlan]:
    """Plans of several units (in unit code order) with a constant number of statements
    per chunk: the units and their active people in one query, the keys already posted,
    and every unit's undistributed funds in one grouped query."""
    out: dict[int, UnitPlan] = {}
    size = chunk_size(conn)
    for part in chunked(list(unit_ids), size):
        income = aliased(Account)
        for uid, code, name, region, acct in conn.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.region_id, income.id)
            .outerjoin(
                income,
                (income.owner_kind == "unit")
                & (income.owner_id == Unit.id)
                & (income.kind == "unit_income"),
            )
            .where(one_of(conn, Unit.id, part))
        ):
            out[int(uid)] = UnitPlan(
                int(uid), code, name, int(region), None if acct is None else int(acct)
            )
        sub = aliased(Account)
        people = conn.execute(
            select(
                Person.id,
                Person.unit_id,
                Person.staff_no,
                Person.name,
                Person.standard_fen,
                Person.joined_on,
                Person.left_on,
                Unit.default_standard_fen,
                sub.id,
            )
            .join(Unit, Unit.id == Person.unit_id)
            .outerjoin(
                sub,
                (sub.owner_kind == "person")
                & (sub.owner_id == Person.id)
                & (sub.kind == "subsidy"),
            )
            .where(one_of(conn, Person.unit_id, part), Person.status == "active")
            .order_by(Person.unit_id, Person.staff_no)
        ).all()
        done = set(known_entries(conn, [dist_key(quarter, int(p[0])) for p in people], size))
        for pid, uid, staff_no, name, own, joined, left, default, acct in people:
            std = standard_of(own, default)
            months = months_enrolled(quarter, joined, left)
            u = out[int(uid)]
            u.shares.append(
                Share(
                    int(pid),
                    staff_no,
                    name,
                    months,
                    std,
                    prorate(std, months),
                    dist_key(quarter, int(pid)) in done,
                )
            )
            u.subsidy[int(pid)] = None if acct is None else int(acct)
        accts = [u.income for u in out.values() if u.unit_id in part and u.income is not None]
        have = balances(conn, accts)
        for u in out.values():
            if u.unit_id in part and u.income is not None:
                u.have = have[u.income]
    return sorted(out.values(), key=lambda u: u.code)


def plan(conn: Connection, unit_id: int, quarter: str) -> list[Share]:
    plans = plan_units(conn, [unit_id], quarter)
    if not plans:
        raise NotFound(what="单位")
    return plans[0].shares


def _result(u: UnitPlan, quarter: str, dry_run: bool) -> RunResult:
    res = RunResult("distribute", f"{quarter} {u.name}", dry_run)
    todo = u.todo
    res.totals = {
        "people": len(u.shares),
        "new_people": len(todo),
        "amount_fen": sum(s.amount_fen for s in todo),
        "already_fen": sum(s.amount_fen for s in u.shares if s.done),
        "available_fen": u.have,
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
        for s in u.shares
    ]
    return res


def _run_units(
    ctx: Context,
    actor: Actor,
    unit_ids: Sequence[int],
    quarter: str,
    *,
    dry_run: bool,
    strict: bool,
    override: str | None = None,
    check_units: bool = True,
    first_batch: bool = True,
    fund: regions.FundRegion | None = None,
) -> list[RunResult]:
    """One transaction for these units: plan them, pay every unit that has the funds with
    one ``post_many``, one audit record per unit paid. A unit short of funds is paid
    nothing: ``strict`` raises (the whole transaction rolls back), else it is reported as
    its dry run would be. The calendar (``funding.calendar``): the quarter's notices must
    be out — each unit's own (``check_units``) or the quarter's at all."""
    now = ctx.clock.now()
    with unit_of_work(ctx, dry_run) as conn:
        plans = plan_units(conn, unit_ids, quarter)
        if len(plans) != len(set(unit_ids)):
            raise NotFound(what="单位")
        # A run of several batches asks once, in its first (the answer is the same).
        objection = (
            calendar.distribution_objection(
                conn, quarter, list(unit_ids) if check_units else None, fund
            )
            if first_batch
            else None
        )
        out: list[RunResult] = []
        paid: list[tuple[UnitPlan, RunResult]] = []
        entries: list[NewEntry] = []
        for i, u in enumerate(plans):
            res = _result(u, quarter, dry_run)
            if objection is not None and i == 0:
                # Raised, listed, or let through (recorded once, with the first unit).
                calendar.guard(conn, ctx, actor, objection, override, res)
            if u.income is None:
                raise NotFound(what=f"account unit:{u.unit_id}:unit_income")
            need = res.totals["amount_fen"]
            if need > u.have:
                err = DistributionExceedsFunds(unit=u.name, need=yuan(need), have=yuan(u.have))
                if strict and not dry_run:
                    raise err
                # Nothing is paid to this unit; it shows what it would need (the dry
                # run's figures, with the same problem) and the others go on.
                res.dry_run = True
                res.problems.append(err.message())
                out.append(res)
                continue
            out.append(res)
            if dry_run:
                continue
            for s in u.todo:
                purse = u.subsidy.get(s.person_id)
                if purse is None:
                    raise NotFound(what=f"account person:{s.person_id}:subsidy")
                entries.append(
                    NewEntry(
                        u.region_id,
                        "distribution",
                        dist_key(quarter, s.person_id),
                        [Leg(u.income, -s.amount_fen), Leg(purse, s.amount_fen)],
                        reference=f"{quarter} 就餐经费拨付 {u.name}",
                        memo=f"{s.months}/3 个月",
                    )
                )
            res.changed = bool(u.todo)
            paid.append((u, res))
        if not dry_run:
            # Late offline records' debts come back out of what is paid now (after it).
            owed = debts.recovery(
                conn,
                [
                    (s.person_id, u.subsidy[s.person_id] or 0, s.amount_fen)
                    for u, _ in paid
                    for s in u.todo
                ],
                quarter,
            )
            post_many(conn, entries + owed.entries, actor=actor.label, booked_at=now)
            owed.mark(conn, now)
            if owed.taken:
                _count_recovered(paid, owed)
            audit.record_many(
                conn,
                ctx,
                actor,
                [("distribute", res.scope, res.totals) for _, res in paid],
                unit_ids=[u.unit_id for u, _ in paid],
            )
    return out


def _count_recovered(paid: Sequence[tuple[UnitPlan, RunResult]], owed: debts.Recovery) -> None:
    """Each unit's result says how much of its people's offline debts it recovered."""
    by_purse = {e.legs[0].account_id: 0 for e in owed.entries}
    for e in owed.entries:
        by_purse[e.legs[0].account_id] += -e.legs[0].amount
    for u, res in paid:
        got = sum(by_purse.get(a or 0, 0) for a in u.subsidy.values())
        if got:
            res.totals["debt_recovered_fen"] = got


def distribute(
    ctx: Context,
    actor: Actor,
    unit_id: int,
    quarter: str,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    override_calendar: str | None = None,
) -> RunResult:
    # The bureau of the unit's fund region (a county's bureau pays its county's units).
    actor.require_money_runs(of_region=True)
    with ctx.db.read() as conn:
        region = conn.execute(select(Unit.region_id).where(Unit.id == unit_id)).scalar()
        if region is None:
            raise NotFound(what="单位")
        actor.require_bureau_of(fund_region_of(conn, int(region)))
    check_quarter(quarter)
    override = calendar.clean_reason(override_calendar)
    res = _run_units(
        ctx, actor, [unit_id], quarter, dry_run=dry_run, strict=True, override=override
    )[0]
    n = res.totals["new_people"]
    if n and not dry_run:
        progress(n, n)
    return res


def distribute_all(
    ctx: Context,
    actor: Actor,
    quarter: str,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    override_calendar: str | None = None,
    region: str | None = None,
) -> list[RunResult]:
    """Every unit of the fund region ``region`` (its code; the top's when None), in code
    order, a chunk of units per transaction (up to
    ``chunk_size`` people each); a unit short of funds is reported, not paid. ``progress`` counts units.
    The calendar asks for the quarter's notices to be out (a unit created since has no
    notice and no funds: it is simply paid nothing)."""
    actor.require_money_runs(of_region=True)
    check_quarter(quarter)
    override = calendar.clean_reason(override_calendar)
    with ctx.db.read() as conn:
        size = chunk_size(conn)
        fr = regions.resolve(conn, region, actor)
        counted = conn.execute(
            select(Unit.id, func.count(Person.id))
            .outerjoin(Person, (Person.unit_id == Unit.id) & (Person.status == "active"))
            .where(Unit.region_id.in_(fr.members))
            .group_by(Unit.id, Unit.code)
            .order_by(Unit.code)
        ).all()
    batches: list[list[int]] = [[]]
    people = 0
    for uid, n in counted:
        if batches[-1] and people + int(n) > size:
            batches.append([])
            people = 0
        batches[-1].append(int(uid))
        people += int(n)
    out: list[RunResult] = []
    for n, batch in enumerate(batches):
        if batch:
            out.extend(
                _run_units(
                    ctx,
                    actor,
                    batch,
                    quarter,
                    dry_run=dry_run,
                    strict=False,
                    override=override,
                    check_units=False,
                    first_batch=n == 0,
                    fund=fr,
                )
            )
            progress(len(out), len(counted))
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
        audit.record(
            conn,
            ctx,
            actor,
            "leave",
            res.scope,
            res.totals,
            unit_id=int(p.unit_id),
            person_id=int(p.id),
            before={"status": p.status},
            after={"status": "left", "left_on": day.isoformat()},
        )
    return res
