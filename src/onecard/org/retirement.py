"""Retiring regions, units and canteens — refused, with every reason, while anything is
left that the row is answerable for.

Contract: ``retire_*`` is one transaction (the row locked first) and the bureau's alone.
It refuses with ``RetireRefused`` (409) listing every reason ``*_blockers`` finds, and
writes nothing then; otherwise it sets ``retired_at``, revokes the unit-admin /
canteen-manager grants that pointed at the row, and writes one audit record
(``org_<kind>_retire``, before/after). Nothing is deleted: ledger accounts and history
stay, and a retired row cannot be edited.

What blocks:
- a unit: people still enrolled; money — its income line or what is owed back to it,
  any purse of its (former) people, bank orders to it or them still pending, a funding
  notice not paid in full; canteens not retired yet;
- a canteen: consumption not settled (its payable account), a settlement payout still
  pending or failed, a terminal not revoked;
- a region: regions under it or units in it not retired; the city itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from onecard.core.context import Context
from onecard.core.errors import RetireRefused, StateConflict
from onecard.core.money import yuan
from onecard.funding.models import BankOrder, FundingNotice, FundingReceipt, Settlement
from onecard.ledger.models import Account
from onecard.ledger.service import balances
from onecard.org.actors import Actor
from onecard.org.admin import Change, locked_row, record, require_bureau, scope_of
from onecard.org.models import Canteen, Person, Region, RoleGrant, Terminal, Unit


def _owner_balances(conn: Connection, owner_kind: str, owner_ids: list[int]) -> dict[str, int]:
    """Balance per account kind, summed over the owners (cached purses or postings)."""
    if not owner_ids:
        return {}
    accts = conn.execute(
        select(Account.id, Account.kind).where(
            Account.owner_kind == owner_kind, Account.owner_id.in_(owner_ids)
        )
    ).all()
    got = balances(conn, [a.id for a in accts])
    out: dict[str, int] = {}
    for a in accts:
        out[a.kind] = out.get(a.kind, 0) + got[a.id]
    return out


def _purses_of_unit(conn: Connection, unit_id: int) -> int:
    """What the unit's people (enrolled or left) hold: purses keep a cached balance, so
    one sum over their rows, however many people the unit had."""
    people = select(Person.id).where(Person.unit_id == unit_id).scalar_subquery()
    total = conn.execute(
        select(func.coalesce(func.sum(Account.balance), 0)).where(
            Account.owner_kind == "person", Account.owner_id.in_(people), Account.cached
        )
    ).scalar_one()
    return int(total)


def unit_blockers(conn: Connection, unit_id: int) -> list[str]:
    reasons: list[str] = []
    active = conn.execute(
        select(func.count()).where(Person.unit_id == unit_id, Person.status == "active")
    ).scalar_one()
    if active:
        reasons.append(f"尚有 {active} 名在职人员（先在名册中办理离职）")
    own = _owner_balances(conn, "unit", [unit_id])
    if own.get("unit_income", 0):
        reasons.append(f"单位收入户尚有 {yuan(own['unit_income'])} 元未拨付")
    if own.get("unit_returned", 0):
        reasons.append(f"应退回单位的 {yuan(own['unit_returned'])} 元尚未退回")
    purses = _purses_of_unit(conn, unit_id)
    if purses:
        reasons.append(f"本单位人员账户尚有 {yuan(purses)} 元（离职人员现金待退回本人）")
    pending = conn.execute(
        select(func.count())
        .select_from(BankOrder)
        .where(
            BankOrder.status == "pending",
            ((BankOrder.kind == "unit_return") & (BankOrder.ref_id == unit_id))
            | (
                (BankOrder.kind == "leaver_refund")
                & BankOrder.ref_id.in_(select(Person.id).where(Person.unit_id == unit_id))
            ),
        )
    ).scalar_one()
    if pending:
        reasons.append(f"尚有 {pending} 笔银行付款未完成")
    reasons.extend(_unpaid_notices(conn, unit_id))
    canteens = (
        conn.execute(
            select(Canteen.name)
            .where(Canteen.unit_id == unit_id, Canteen.retired_at.is_(None))
            .order_by(Canteen.code)
        )
        .scalars()
        .all()
    )
    if canteens:
        reasons.append(f"名下食堂 {'、'.join(canteens)} 尚未撤销")
    return reasons


def _unpaid_notices(conn: Connection, unit_id: int) -> list[str]:
    paid = (
        select(func.coalesce(func.sum(FundingReceipt.amount_fen), 0))
        .where(FundingReceipt.notice_id == FundingNotice.id)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(FundingNotice.reference, FundingNotice.amount_due_fen, paid.label("paid"))
        .where(FundingNotice.unit_id == unit_id)
        .order_by(FundingNotice.quarter)
    ).all()
    return [
        f"缴款通知 {r.reference} 尚欠 {yuan(int(r.amount_due_fen) - int(r.paid))} 元"
        for r in rows
        if int(r.paid) < int(r.amount_due_fen)
    ]


def canteen_blockers(conn: Connection, canteen_id: int) -> list[str]:
    reasons: list[str] = []
    payable = _owner_balances(conn, "canteen", [canteen_id]).get("canteen_payable", 0)
    if payable:
        reasons.append(f"尚有 {yuan(payable)} 元消费款未结算（季度结算付款后再撤销）")
    unpaid = conn.execute(
        select(Settlement.quarter, Settlement.status)
        .where(
            Settlement.canteen_id == canteen_id,
            Settlement.status.in_(("payout_pending", "payout_failed")),
        )
        .order_by(Settlement.quarter)
    ).all()
    for s in unpaid:
        state = "付款失败，待重新付款" if s.status == "payout_failed" else "付款中"
        reasons.append(f"{s.quarter} 结算款{state}")
    terminals = (
        conn.execute(
            select(Terminal.code)
            .where(Terminal.canteen_id == canteen_id, Terminal.status != "revoked")
            .order_by(Terminal.code)
        )
        .scalars()
        .all()
    )
    if terminals:
        reasons.append(f"消费机 {'、'.join(terminals)} 尚未停用")
    return reasons


def region_blockers(conn: Connection, region: Any) -> list[str]:
    if region.parent_id is None:
        return ["全市区域不能撤销（最高一级区域）"]
    reasons: list[str] = []
    children = (
        conn.execute(
            select(Region.name).where(Region.parent_id == region.id, Region.retired_at.is_(None))
        )
        .scalars()
        .all()
    )
    if children:
        reasons.append(f"下级区域 {'、'.join(children)} 尚未撤销")
    units = conn.execute(
        select(func.count())
        .select_from(Unit)
        .where(Unit.region_id == region.id, Unit.retired_at.is_(None))
    ).scalar_one()
    if units:
        reasons.append(f"区域内尚有 {units} 个单位未撤销")
    return reasons


def _locked(conn: Connection, table: Any, row_id: int, what: str) -> Any:
    row = locked_row(conn, table, row_id, what)
    if row.retired_at is not None:
        raise StateConflict(f"{what}「{row.name}」已撤销")
    return row


def _retire(
    conn: Connection, ctx: Context, actor: Actor, kind: str, table: Any, row: Any, revoked: int
) -> Change:
    now = ctx.clock.now()
    conn.execute(update(table).where(table.id == row.id).values(retired_at=now))
    after: dict[str, Any] = {"retired_at": now.isoformat()}
    if revoked:
        after["grants_revoked"] = revoked
    change = Change(
        kind, int(row.id), "retire", scope_of(kind, row.code, row.name), {"retired_at": None}, after
    )
    record(conn, ctx, actor, change)
    return change


def retire_unit(ctx: Context, actor: Actor, unit_id: int) -> Change:
    require_bureau(actor)
    with ctx.db.begin() as conn:
        row = _locked(conn, Unit, unit_id, "单位")
        actor.require_region(int(row.region_id))
        reasons = unit_blockers(conn, unit_id)
        if reasons:
            raise RetireRefused(what=f"单位「{row.name}」", reasons="；".join(reasons))
        revoked = conn.execute(delete(RoleGrant).where(RoleGrant.unit_id == unit_id)).rowcount
        return _retire(conn, ctx, actor, "unit", Unit, row, int(revoked or 0))


def retire_canteen(ctx: Context, actor: Actor, canteen_id: int) -> Change:
    require_bureau(actor)
    with ctx.db.begin() as conn:
        row = _locked(conn, Canteen, canteen_id, "食堂")
        actor.require_region(int(row.region_id))
        reasons = canteen_blockers(conn, canteen_id)
        if reasons:
            raise RetireRefused(what=f"食堂「{row.name}」", reasons="；".join(reasons))
        revoked = conn.execute(delete(RoleGrant).where(RoleGrant.canteen_id == canteen_id)).rowcount
        return _retire(conn, ctx, actor, "canteen", Canteen, row, int(revoked or 0))


def retire_region(ctx: Context, actor: Actor, region_id: int) -> Change:
    require_bureau(actor)
    with ctx.db.begin() as conn:
        row = _locked(conn, Region, region_id, "区域")
        # A region's bureau retires the regions below it, never its own.
        actor.require_region(None if row.parent_id is None else int(row.parent_id))
        reasons = region_blockers(conn, row)
        if reasons:
            raise RetireRefused(what=f"区域「{row.name}」", reasons="；".join(reasons))
        return _retire(conn, ctx, actor, "region", Region, row, 0)


def blockers(ctx: Context, kind: str, row_id: int) -> list[str]:
    """What stands in the way of retiring, for the page to show before anyone tries."""
    with ctx.db.read() as conn:
        if kind == "unit":
            return unit_blockers(conn, row_id)
        if kind == "canteen":
            return canteen_blockers(conn, row_id)
        region = conn.execute(select(Region.__table__).where(Region.id == row_id)).one()
        return region_blockers(conn, region)
