"""Bank orders of the funding runs, their notifications, and a leaver's cash refund.

Contract:
- ``add_order(conn, …)`` records an order inside the caller's transaction (a known
  order id is left as it is). The bank is asked only after that transaction commits:
  ``send_orders(ctx, ids)`` sends every still-pending order that has no bank reference
  yet; the bank is idempotent per order id, so sending again after a lost reply is safe.
  ``BankUnavailable`` leaves the order pending and is reported, never swallowed silently.
- ``handle_payout_notification(ctx, note)`` (called by ``funding.notifications``) applies the bank's
  verdict once: success marks the order (and its settlement) done; a failed operator
  payout or leaver refund posts a compensating entry that puts the money back where it
  came from (canteen payable / cash purse), keyed ``payout_failed:<order>`` so a repeated
  notification changes nothing. Transfers and sweeps have no ledger side of their own.
- ``payee_of(conn, canteen)`` says whom a canteen's settlement is paid to (its operator's
  account, or for a self-run canteen its unit's); ``MissingPayee`` when nobody.
- ``refund_leaver_cash`` is the only payout to a person (R-A9): only for someone who
  has left, only their own cash purse, only to their bound savings card.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from onecard.audit import records as audit
from onecard.channels.bank import INCOME_ACCOUNT, Notification, gateway
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import BankUnavailable, InvalidInput, MissingPayee, NotFound, PersonNotLeft
from onecard.core.money import yuan
from onecard.core.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.funding import regions
from onecard.funding.models import BankOrder, Settlement
from onecard.ledger.service import (
    Leg,
    account_id,
    balances,
    chunked,
    derived_balance,
    post,
)
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, Unit


def add_order(
    conn: Connection,
    *,
    order_id: str,
    kind: str,
    amount_fen: int,
    from_account: str,
    to_account: str,
    to_name: str,
    purpose: str,
    ref_id: int,
    entry_id: int | None,
    now: datetime,
) -> bool:
    if conn.execute(select(BankOrder.id).where(BankOrder.order_id == order_id)).first():
        return False
    conn.execute(
        insert(BankOrder).values(
            order_id=order_id,
            kind=kind,
            amount_fen=amount_fen,
            from_account=from_account,
            to_account=to_account,
            to_name=to_name,
            purpose=purpose,
            ref_id=ref_id,
            entry_id=entry_id,
            status="pending",
            created_at=now,
        )
    )
    return True


def add_orders(conn: Connection, orders: Sequence[dict[str, Any]], *, now: datetime) -> int:
    """``add_order`` for many orders (each a dict of its keyword arguments but ``now``):
    one lookup and one multi-row insert per chunk; known order ids are left as they are.
    Returns how many were recorded."""
    known: set[str] = set()
    for part in chunked([str(o["order_id"]) for o in orders]):
        known.update(
            str(oid)
            for oid in conn.execute(
                select(BankOrder.order_id).where(BankOrder.order_id.in_(part))
            ).scalars()
        )
    rows = [
        {**o, "status": "pending", "created_at": now} for o in orders if o["order_id"] not in known
    ]
    for row_part in chunked(rows, 1000):
        conn.execute(insert(BankOrder), list(row_part))
    return len(rows)


def send_orders(ctx: Context, order_ids: list[str]) -> list[str]:
    """Ask the bank to execute pending orders, in the given order; returns the problems
    (bank unreachable).

    The orders are read in one query (per chunk) and the bank's references written back
    in one transaction at the end (also when the bank raises part-way): the bank is
    idempotent per order id, so an order whose reference was not stored is simply sent
    again next time and answered with the same reference.
    """
    problems: list[str] = []
    bank = gateway(ctx)
    found: dict[str, Any] = {}
    with ctx.db.read() as conn:
        for id_part in chunked(list(dict.fromkeys(order_ids))):
            for row in conn.execute(
                select(BankOrder.__table__).where(BankOrder.order_id.in_(id_part))
            ):
                found[str(row.order_id)] = row
    refs: list[dict[str, str]] = []
    asked: set[str] = set()
    try:
        for oid in order_ids:
            o = found.get(oid)
            if o is None:
                raise NotFound(what=f"付款指令 {oid}")
            if o.status != "pending" or o.bank_ref or oid in asked:
                continue
            try:
                ack = bank.pay_out(
                    o.order_id,
                    o.to_account,
                    o.to_name,
                    o.amount_fen,
                    o.purpose,
                    from_account=o.from_account,
                )
            except BankUnavailable as exc:
                problems.append(f"银行暂不可用，指令 {oid} 待重发：{exc.message()}")
                continue
            asked.add(oid)
            refs.append({"oid": oid, "ref": ack.bank_ref})
    finally:
        if refs:
            with ctx.db.begin() as conn:
                for ref_part in chunked(refs):
                    conn.execute(
                        update(BankOrder)
                        .where(BankOrder.order_id == bindparam("oid"))
                        .values(bank_ref=bindparam("ref")),
                        list(ref_part),
                    )
    return problems


def pending_order_ids(ctx: Context) -> list[str]:
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                select(BankOrder.order_id)
                .where(BankOrder.status == "pending")
                .order_by(BankOrder.id)
            ).scalars()
        )


def handle_payout_notification(ctx: Context, note: Notification) -> str:
    with ctx.db.begin() as conn:
        order = conn.execute(
            select(BankOrder.__table__).where(BankOrder.order_id == note.order_id).with_for_update()
        ).one_or_none()
        if order is None:
            raise NotFound(what=f"付款指令 {note.order_id}")
        if order.status != "pending":
            return str(order.status)
        if note.amount_fen != order.amount_fen:
            raise InvalidInput(f"银行通知金额 {note.amount_fen} 与指令金额 {order.amount_fen} 不符")
        now = ctx.clock.now()
        if note.status == "succeeded":
            conn.execute(
                update(BankOrder)
                .where(BankOrder.id == order.id)
                .values(status="succeeded", bank_ref=note.bank_ref, completed_at=note.occurred_at)
            )
            if order.kind == "settlement":
                conn.execute(
                    update(Settlement).where(Settlement.id == order.ref_id).values(status="paid")
                )
            return "succeeded"
        back_to: int | None = None
        region = 0
        if order.kind == "settlement":
            st = conn.execute(
                select(Settlement.__table__).where(Settlement.id == order.ref_id)
            ).one()
            back_to = account_id(conn, "canteen", st.canteen_id, "canteen_payable")
            region = st.region_id
            conn.execute(
                update(Settlement)
                .where(Settlement.id == order.ref_id)
                .values(status="payout_failed")
            )
        elif order.kind == "unit_return":
            back_to = account_id(conn, "unit", order.ref_id, "unit_returned")
            region = int(
                conn.execute(select(Unit.region_id).where(Unit.id == order.ref_id)).scalar_one()
            )
        elif order.kind == "leaver_refund":
            back_to = account_id(conn, "person", order.ref_id, "cash")
            region = int(
                conn.execute(select(Person.region_id).where(Person.id == order.ref_id)).scalar_one()
            )
        if back_to is not None:
            post(
                conn,
                region_id=region,
                kind="payout_failed",
                key=f"payout_failed:{order.order_id}",
                legs=[
                    Leg(
                        regions.system_acct_for(conn, region, "bank_clearing"),
                        -order.amount_fen,
                    ),
                    Leg(back_to, order.amount_fen),
                ],
                actor="bank",
                booked_at=now,
                business_day=to_local(now).date(),
                reference=f"付款失败退回 {order.order_id}",
                memo=note.failure_reason or "",
            )
        conn.execute(
            update(BankOrder)
            .where(BankOrder.id == order.id)
            .values(
                status="failed",
                bank_ref=note.bank_ref,
                failure_reason=note.failure_reason,
                completed_at=note.occurred_at,
            )
        )
        return "failed"


def retry_settlement_payout(ctx: Context, actor: Actor, settlement_id: int) -> RunResult:
    """Pay a failed settlement again under a new order id (the canteen's details fixed)."""
    actor.require_money_runs()
    with ctx.db.begin() as conn:
        st = conn.execute(
            select(Settlement.__table__).where(Settlement.id == settlement_id).with_for_update()
        ).one_or_none()
        if st is None:
            raise NotFound(what="结算单")
        res = RunResult("settlement_retry", f"{st.quarter} 食堂{st.canteen_id}", False)
        if st.status != "payout_failed":
            return res
        c = conn.execute(select(Canteen.__table__).where(Canteen.id == st.canteen_id)).one()
        acct, name = payee_of(conn, c)
        tries = len(
            conn.execute(
                select(BankOrder.id).where(
                    BankOrder.kind == "settlement", BankOrder.ref_id == st.id
                )
            ).all()
        )
        oid = f"STL-{st.canteen_id}-{st.quarter}-R{tries}"
        now = ctx.clock.now()
        entry, _ = post(
            conn,
            region_id=st.region_id,
            kind="payout_retry",
            key=f"payout:{oid}",
            legs=[
                Leg(account_id(conn, "canteen", st.canteen_id, "canteen_payable"), -st.net_fen),
                Leg(regions.system_acct_for(conn, st.region_id, "bank_clearing"), st.net_fen),
            ],
            actor=actor.label,
            booked_at=now,
            business_day=to_local(now).date(),
            reference=f"{st.quarter} 结算重付 {c.name}",
        )
        from onecard.channels.bank import EXPENDITURE_ACCOUNT, PLATFORM_ACCOUNT_NAMES

        # If the sweep into the expenditure account failed too, sweep again first.
        sweeps = conn.execute(
            select(BankOrder.status, BankOrder.amount_fen)
            .where(BankOrder.kind == "sweep", BankOrder.ref_id == st.id)
            .order_by(BankOrder.id)
        ).all()
        send: list[str] = []
        if sweeps and all(s.status == "failed" for s in sweeps):
            sweep_id = f"SWP-{st.canteen_id}-{st.quarter}-R{len(sweeps)}"
            add_order(
                conn,
                order_id=sweep_id,
                kind="sweep",
                amount_fen=int(sweeps[0].amount_fen),
                from_account=INCOME_ACCOUNT,
                to_account=EXPENDITURE_ACCOUNT,
                to_name=PLATFORM_ACCOUNT_NAMES[EXPENDITURE_ACCOUNT],
                purpose="消费资金归集",
                ref_id=st.id,
                entry_id=None,
                now=now,
            )
            send.append(sweep_id)
        send.append(oid)
        add_order(
            conn,
            order_id=oid,
            kind="settlement",
            amount_fen=st.net_fen,
            from_account=EXPENDITURE_ACCOUNT,
            to_account=acct,
            to_name=name,
            purpose=f"{st.quarter}食堂结算款",
            ref_id=st.id,
            entry_id=entry,
            now=now,
        )
        conn.execute(
            update(Settlement)
            .where(Settlement.id == st.id)
            .values(status="payout_pending", order_id=oid)
        )
        res.totals = {"net_fen": st.net_fen}
        res.changed = True
        audit.record(conn, ctx, actor, "settlement_retry", res.scope, res.totals)
    res.problems = send_orders(ctx, send)
    return res


def refund_leaver_cash(
    ctx: Context, actor: Actor, person_id: int, *, dry_run: bool = False
) -> RunResult:
    """Refund a leaver's own cash purse to their bound savings card (the only such payout)."""
    with unit_of_work(ctx, dry_run) as conn:
        p = conn.execute(select(Person.__table__).where(Person.id == person_id)).one_or_none()
        if p is None:
            raise NotFound(what="人员")
        actor.require_unit(p.unit_id)
        if p.status != "left" or p.left_on is None:
            raise PersonNotLeft()
        if not p.bank_card_no:
            raise InvalidInput("该人员未绑定银行卡，无法退还现金余额")
        cash = account_id(conn, "person", p.id, "cash")
        amount = balances(conn, [cash])[cash]
        oid = f"LVR-{p.id}-{p.left_on:%Y%m%d}"
        res = RunResult("leaver_refund", f"{p.staff_no} {p.name}", dry_run)
        res.totals = {"cash_fen": amount}
        res.lines = [{"person": p.name, "card": p.bank_card_no, "amount_fen": amount}]
        if dry_run or amount == 0:
            return res
        now = ctx.clock.now()
        entry, created = post(
            conn,
            region_id=p.region_id,
            kind="leaver_refund",
            key=f"payout:{oid}",
            legs=[
                Leg(cash, -amount),
                Leg(regions.system_acct_for(conn, p.region_id, "bank_clearing"), amount),
            ],
            actor=actor.label,
            booked_at=now,
            business_day=to_local(now).date(),
            reference=f"离职现金退回 {p.name}",
        )
        res.changed = created
        add_order(
            conn,
            order_id=oid,
            kind="leaver_refund",
            amount_fen=amount,
            from_account=INCOME_ACCOUNT,
            to_account=p.bank_card_no,
            to_name=p.name,
            purpose="一卡通离职现金退回",
            ref_id=p.id,
            entry_id=entry,
            now=now,
        )
        audit.record(
            conn,
            ctx,
            actor,
            "leaver_refund",
            res.scope,
            res.totals,
            unit_id=int(p.unit_id),
            person_id=int(p.id),
        )
    res.problems = send_orders(ctx, [oid])
    return res


def return_to_units(
    ctx: Context,
    actor: Actor,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    region: str | None = None,
) -> RunResult:
    """Pay every unit of the fund region ``region`` (its code; the top's when None) what
    is owed back to it (``unit_returned``: year-end leftovers and
    withheld settlement parts) to its bank account, from the income account.

    One entry per unit (unit_returned −X / bank_clearing +X) keyed by the unit and the
    running total returned so far, so a repeat finds nothing owed and moves nothing. A
    unit without a bank account is listed as a problem and skipped. A refused payment is
    booked back onto ``unit_returned`` when the bank's notification arrives.
    """
    actor.require_money_runs(of_region=True)
    res = RunResult("return_to_units", "单位退回款", dry_run)
    now = ctx.clock.now()
    orders: list[str] = []
    with unit_of_work(ctx, dry_run) as conn:
        fund = regions.resolve(conn, region, actor)
        res.scope = fund.scope(res.scope)
        clearing = regions.system_acct(conn, fund, "bank_clearing")
        units = conn.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.region_id, Unit.bank_account)
            .where(Unit.region_id.in_(fund.members))
            .order_by(Unit.code)
        ).all()
        for i, u in enumerate(units, 1):
            acct = account_id(conn, "unit", u.id, "unit_returned")
            owed = derived_balance(conn, acct)
            progress(i, len(units))
            if owed <= 0:
                continue
            if not u.bank_account:
                res.problems.append(f"{u.name} 未登记银行账户，{yuan(owed)} 元暂不能退回")
                continue
            paid_before = int(
                conn.execute(
                    select(func.coalesce(func.sum(BankOrder.amount_fen), 0)).where(
                        BankOrder.kind == "unit_return", BankOrder.ref_id == u.id
                    )
                ).scalar_one()
            )
            oid = f"RTN-{u.code}-{paid_before + owed}"
            res.lines.append({"unit": u.name, "account": u.bank_account, "amount_fen": owed})
            if dry_run:
                continue
            entry, _ = post(
                conn,
                region_id=u.region_id,
                kind="unit_return",
                key=f"payout:{oid}",
                legs=[Leg(acct, -owed), Leg(clearing, owed)],
                actor=actor.label,
                booked_at=now,
                business_day=to_local(now).date(),
                reference=f"退回单位 {u.name}",
            )
            add_order(
                conn,
                order_id=oid,
                kind="unit_return",
                amount_fen=owed,
                from_account=INCOME_ACCOUNT,
                to_account=u.bank_account,
                to_name=u.name,
                purpose="一卡通经费退回",
                ref_id=u.id,
                entry_id=entry,
                now=now,
            )
            orders.append(oid)
        res.totals = {
            "units": len(res.lines),
            "amount_fen": sum(int(ln["amount_fen"]) for ln in res.lines),
        }
        res.changed = bool(orders)
        if not dry_run:
            audit.record(conn, ctx, actor, "return_to_units", res.scope, res.totals)
    if orders:
        res.problems.extend(send_orders(ctx, orders))
    return res


def payee_for(c: Any, unit: Any) -> tuple[str, str]:
    if c.operator_bank_account:
        return str(c.operator_bank_account), str(c.operator_name or unit.name)
    if c.operation == "self" and unit.bank_account:
        return str(unit.bank_account), str(unit.name)
    raise MissingPayee(canteen=c.name)


def payee_of(conn: Connection, c: Any) -> tuple[str, str]:
    """(bank account, account name) the operator is paid to.

    An outsourced canteen is paid to its operator's account; a canteen its unit runs
    itself, to the operator account if one is registered, else to the unit's own account.
    """
    unit = conn.execute(select(Unit.name, Unit.bank_account).where(Unit.id == c.unit_id)).one()
    return payee_for(c, unit)
