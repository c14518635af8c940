"""Which fund region a money run is for, and the switch that gives a region its own fund
(issue 17 §1).

Contract:

- ``resolve(conn, code)``: a run's fund region, by region code; ``None`` is the top
  region (so every call that names no region keeps its behaviour). A region that shares
  the fund of a region above it is refused (``InvalidInput``, naming the fund region to
  run instead). The answer carries the ids of the regions whose units, people and
  canteens the run touches (``members``: those whose fund region it is).
- ``choices(ctx, actor)``: the fund regions the actor's city roles reach (every fund
  region for a deployment-wide role, else those in the actor's subtree), the actor's own
  region first when it keeps a fund, else the top region first, then by code; the
  bureau's run pages offer these. Empty for a region whose fund is kept above it.
  ``pick(ctx, actor, code)``: the one chosen (the first choice when ``code`` is blank)
  and the choices; 404 for no such region, 422 for a region without its own fund, 403
  for a fund region the actor does not reach (or when it reaches none).
- ``set_own_fund(ctx, actor, code, own=True)``: one transaction, audited
  (``region_fund``). ``own=True`` sets ``regions.own_fund``, opens the region's system
  accounts (``ledger.service.open_system_accounts(…, top=False)``) and copies the closed
  quarters of the fund region it leaves (its calendar goes on from where it was);
  ``own=False`` gives the fund back to the region above. Refused (``StateConflict``)
  when it would split money already held:

  * the top region always keeps its own fund;
  * the **moving regions** are the region and every region below it whose fund region
    would change. No account of their units, people and canteens (and, when giving a
    fund back, no system account of the region) may have a posting in a quarter the old
    fund region has not closed, nor hold a non-zero balance. In words: switch between
    two closed quarters, after the year end cleared the purses and the settlement paid
    the canteens; nothing the old fund has booked then belongs to the new one.

  Setting what is already set changes nothing (``changed`` False). On PostgreSQL the
  switch holds new ledger writers (``ledger.service.lock_out_posting``, as closing a
  period does) from before its checks until it commits, so no entry slips in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, func, insert, or_, select, update

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.core.errors import (
    Forbidden,
    FundRunAbove,
    FundSharedAbove,
    NotFound,
    StateConflict,
)
from onecard.core.runs import RunResult
from onecard.ledger.models import Account, JournalEntry, LedgerPeriod, Posting
from onecard.ledger.service import (
    first_open_period,
    lock_out_posting,
    open_system_accounts,
    system_account,
)
from onecard.org.actors import Actor
from onecard.org.fund_regions import fund_region_map, fund_regions_of, subtree, top_region
from onecard.org.models import Canteen, Person, Region, Unit


@dataclass(frozen=True)
class FundRegion:
    id: int
    code: str
    name: str
    top: bool
    members: tuple[int, ...]  # region ids whose fund region this is

    def scope(self, text: str) -> str:
        """A run's scope: as before for the top region, else with the region's code."""
        return text if self.top else f"{text} [{self.code}]"


def resolve(conn: Connection, code: str | None = None, actor: Actor | None = None) -> FundRegion:
    """The fund region of ``code`` (the top's when None). With ``actor``: a run the actor
    starts, refused (403) unless their bureau role reaches that fund region — a county's
    bureau runs its county's money, never the city's."""
    fr = _resolve(conn, code)
    if actor is not None:
        actor.require_bureau_of(fr.id)
    return fr


def _resolve(conn: Connection, code: str | None) -> FundRegion:
    top = top_region(conn)
    if code is None or not code.strip():
        rid = top
    else:
        found = conn.execute(select(Region.id).where(Region.code == code.strip())).scalar()
        if found is None:
            raise NotFound(what=f"区域 {code}")
        rid = int(found)
    fmap = fund_region_map(conn)
    if fmap[rid] != rid:
        raise FundSharedAbove(region=_named(conn, rid), fund=_named(conn, fmap[rid]))
    row = conn.execute(select(Region.code, Region.name).where(Region.id == rid)).one()
    members = tuple(sorted(r for r, f in fmap.items() if f == rid))
    return FundRegion(rid, str(row.code), str(row.name), rid == top, members)


def _named(conn: Connection, region_id: int) -> str:
    """A region as a person reads it in a message: its name and its code."""
    row = conn.execute(select(Region.code, Region.name).where(Region.id == region_id)).one()
    return f"{row.name} ({row.code})"


def choices(ctx: Context, actor: Actor, *, reading: bool = False) -> list[FundRegion]:
    """The fund regions ``actor`` reaches, the default (their own, or the top) first.
    ``reading`` (a page that then keeps its rows to the actor's canteens) adds the fund
    regions that hold the actor's regions: a county that shares the city's fund reads its
    own canteens' settlements under the city's fund."""
    with ctx.db.read() as conn:
        top = top_region(conn)
        fmap = fund_region_map(conn)
        rows = conn.execute(select(Region.id, Region.code, Region.name)).all()
    members: dict[int, list[int]] = {}
    for rid, fund in fmap.items():
        members.setdefault(fund, []).append(rid)
    holding = {fmap[r] for r in actor.region_ids or () if r in fmap} if reading else set()
    out = [
        FundRegion(int(r.id), str(r.code), str(r.name), r.id == top, tuple(sorted(members[r.id])))
        for r in rows
        if fmap.get(int(r.id)) == r.id and (actor.covers_region(int(r.id)) or r.id in holding)
    ]
    first = top if actor.scope is None else actor.scope.top
    out.sort(key=lambda f: (f.id != first, not f.top, f.code))
    return out


def _run_above(ctx: Context, actor: Actor) -> Forbidden:
    """Why an actor whose region shares the fund above it has no fund region to choose:
    ``FundRunAbove`` naming the fund region that runs the money (plain ``Forbidden``
    for an actor with no region)."""
    if actor.scope is None:
        return Forbidden()
    with ctx.db.read() as conn:
        fund = fund_region_map(conn).get(actor.scope.top)
        return FundRunAbove(fund=_named(conn, fund)) if fund is not None else Forbidden()


def pick(
    ctx: Context, actor: Actor, code: str | None = None, *, reading: bool = False
) -> tuple[FundRegion, list[FundRegion]]:
    """The fund region ``code`` names (the actor's default when blank), and the choices
    (``reading``: as ``choices``)."""
    options = choices(ctx, actor, reading=reading)
    if code is None or not code.strip():
        if not options:  # a region sharing the fund above it: that fund's bureau runs it
            raise _run_above(ctx, actor)
        return options[0], options
    for fr in options:
        if fr.code == code.strip():
            return fr, options
    with ctx.db.read() as conn:
        rid = conn.execute(select(Region.id).where(Region.code == code.strip())).scalar()
        if rid is not None and actor.covers_region(int(rid)):
            _resolve(conn, code)  # 422 for a region in reach without its own fund
        elif rid is None:
            raise NotFound(what=f"区域 {code}")
    raise Forbidden()


def owner_id(fr: FundRegion) -> int:
    """The ``owner_id`` of the fund region's system accounts (the top's are ("system", 0))."""
    return 0 if fr.top else fr.id


# --- the switch ----------------------------------------------------------------------
def _owned_accounts(regions: list[int], system_of: int | None = None) -> Select[int]:
    """Accounts of the units, people and canteens of these regions (and the system
    accounts of fund region ``system_of``), as a query (a city has 167,000 of them)."""
    owned = [
        (Account.owner_kind == kind)
        & Account.owner_id.in_(select(t.id).where(t.region_id.in_(regions)))
        for kind, t in (("unit", Unit), ("person", Person), ("canteen", Canteen))
    ]
    if system_of is not None:
        owned.append((Account.owner_kind == "system") & (Account.region_id == system_of))
    return select(Account.id).where(or_(*owned))


def _money_held(conn: Connection, accounts: Select[int], first_open: str | None) -> list[str]:
    """Why these accounts hold money of the old fund: open-period postings, balances."""
    why: list[str] = []
    if first_open is None:
        open_n = conn.execute(
            select(func.count()).select_from(Posting).where(Posting.account_id.in_(accounts))
        ).scalar_one()
    else:
        open_n = conn.execute(
            select(func.count())
            .select_from(Posting)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id.in_(accounts), JournalEntry.period >= first_open)
        ).scalar_one()
    if open_n:
        since = f"（{first_open} 起未结账期间）" if first_open else ""
        why.append(f"{open_n} 笔记账在未结账期间{since}")
    held = conn.execute(
        select(func.count()).select_from(
            select(Posting.account_id)
            .where(Posting.account_id.in_(accounts))
            .group_by(Posting.account_id)
            .having(func.sum(Posting.amount) != 0)
            .subquery()
        )
    ).scalar_one()
    if held:
        why.append(f"{held} 个账户仍有余额")
    return why


def set_own_fund(ctx: Context, actor: Actor, code: str, *, own: bool = True) -> RunResult:
    actor.require_money_runs()
    res = RunResult("region_fund", code, False)
    now: datetime = ctx.clock.now()
    with ctx.db.begin() as conn:
        # No entry may be written between the checks below and the switch's commit (and
        # two switches run one after the other).
        lock_out_posting(conn)
        region = conn.execute(
            select(Region.id, Region.parent_id, Region.own_fund).where(Region.code == code)
        ).one_or_none()
        if region is None:
            raise NotFound(what=f"区域 {code}")
        rid = int(region.id)
        if region.parent_id is None:
            raise StateConflict(f"区域 {code} 是顶级区域，始终单独核算经费")
        res.totals = {"own_fund": int(own)}
        if bool(region.own_fund) == own:
            return res
        rows = [
            (int(r.id), None if r.parent_id is None else int(r.parent_id), bool(r.own_fund))
            for r in conn.execute(select(Region.id, Region.parent_id, Region.own_fund))
        ]
        before = fund_regions_of(rows)
        after = fund_regions_of([(i, p, own if i == rid else o) for i, p, o in rows])
        moving = sorted(r for r in subtree(conn, rid) if before[r] != after[r])
        old_fund = before[rid]
        first_open = first_open_period(conn, old_fund)
        accounts = _owned_accounts(moving, None if own else rid)
        if not own:
            first_open = first_open_period(conn, rid)
        why = _money_held(conn, accounts, first_open)
        if why:
            raise StateConflict(
                f"区域 {code} 的单位、人员或食堂仍持有{'上级' if own else '本级'}经费的资金："
                + "；".join(why)
                + "。请在季度结算、年末清零之后再切换"
            )
        conn.execute(update(Region).where(Region.id == rid).values(own_fund=own))
        if own:
            opened = open_system_accounts(conn, rid, top=False)
            closed = conn.execute(
                select(LedgerPeriod.code).where(
                    LedgerPeriod.region_id == old_fund,
                    LedgerPeriod.code.not_in(
                        select(LedgerPeriod.code).where(LedgerPeriod.region_id == rid)
                    ),
                )
            ).scalars()
            for period in closed:
                conn.execute(
                    insert(LedgerPeriod).values(
                        region_id=rid, code=period, closed_at=now, closed_by=actor.label
                    )
                )
            res.totals["system_accounts"] = len(opened)
        res.totals["regions_moved"] = len(moving)
        res.lines = [{"region_id": r, "fund_region_id": after[r]} for r in moving]
        res.changed = True
        audit.record(
            conn,
            ctx,
            actor,
            "region_fund",
            code,
            res.totals,
            before={"own_fund": not own, "fund_region_id": old_fund},
            after={"own_fund": own, "fund_region_id": after[rid]},
        )
    return res


def system_acct(conn: Connection, fr: FundRegion, kind: str) -> int:
    """The fund region's system account ``kind`` (the top's as it always was found)."""
    return system_account(conn, kind, None if fr.top else fr.id)


def system_acct_for(conn: Connection, region_id: int, kind: str) -> int:
    """The system account ``kind`` of ``region_id``'s fund region (a unit's, a person's
    or a canteen's region)."""
    fund = fund_region_map(conn).get(region_id)
    if fund is None or fund == top_region(conn):
        return system_account(conn, kind)
    return system_account(conn, kind, fund)
