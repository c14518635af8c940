"""Funding notices (缴款通知), units' payments arriving at the bank, the bureau's transfer.

Contract:
- ``issue_notices(ctx, actor, quarter)``: for every unit, amount due = the sum of the
  quarterly standards of its active staff (a person's own standard, else the unit's
  default), due by the 10th of the quarter's first month (R-A4). One notice per unit and
  quarter; issuing again returns the first notice unchanged.
- ``import_receipts(ctx, actor, day)``: every 贷 line of that day's bank statement on the
  bureau's dining-fund account becomes one receipt and one entry
  (bank_clearing −X / dining_fund +X), keyed by the bank's serial number, so importing a
  day twice changes nothing. A line is matched to a notice by the notice reference in
  its memo (``JF-<unit code>-<quarter>``), else to a unit by the payer's account and to
  that unit's oldest notice not yet fully paid; a line matching nothing stays unmatched
  (listed for a person to act on; its money stays in the dining fund).
- ``notice_status``: paid / short / over / unpaid, and late when money came after the
  due date (or is still missing after it).
- ``transfer_to_income(ctx, actor)``: each matched receipt not yet transferred moves
  dining_fund −X / unit_income(U) +X (the unit's sub-account of the system income line,
  R-A3/R-A5) and orders the same bank transfer, dining-fund account → income account.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from onecard.audit import records as audit
from onecard.channels.bank import (
    DINING_FUND_ACCOUNT,
    INCOME_ACCOUNT,
    PLATFORM_ACCOUNT_NAMES,
    gateway,
)
from onecard.channels.statement import parse_statement_file
from onecard.core.clock import from_local, quarter_bounds
from onecard.core.context import Context
from onecard.core.errors import InvalidInput, NotFound, StateConflict
from onecard.core.money import yuan
from onecard.core.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.funding import regions
from onecard.funding.errors import check_quarter
from onecard.funding.models import FundingNotice, FundingReceipt
from onecard.funding.payouts import add_order, send_orders
from onecard.ledger.service import Leg, account_id, post
from onecard.org.actors import Actor
from onecard.org.models import Person, Unit


def due_date(quarter: str) -> date:
    start, _ = quarter_bounds(quarter)
    return start.replace(day=10)


def notice_reference(unit_code: str, quarter: str) -> str:
    return f"JF-{unit_code}-{quarter}"


def standard_of(person_std: int, unit_default: int) -> int:
    return person_std if person_std > 0 else unit_default


def _amount_due(conn: Connection, unit_id: int, unit_default: int) -> tuple[int, int]:
    rows = conn.execute(
        select(Person.standard_fen).where(Person.unit_id == unit_id, Person.status == "active")
    ).all()
    return len(rows), sum(standard_of(int(r[0]), unit_default) for r in rows)


def issue_notices(
    ctx: Context,
    actor: Actor,
    quarter: str,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    region: str | None = None,
) -> RunResult:
    """Notices for the units of one fund region (``region``: its code; the top's when
    None)."""
    actor.require_money_runs(of_region=True)
    check_quarter(quarter)
    res = RunResult("issue_notices", quarter, dry_run)
    now = ctx.clock.now()
    with unit_of_work(ctx, dry_run) as conn:
        fr = regions.resolve(conn, region, actor)
        res.scope = fr.scope(quarter)
        units = conn.execute(
            select(Unit.__table__)
            .where(Unit.retired_at.is_(None), Unit.region_id.in_(fr.members))
            .order_by(Unit.code)
        ).all()
        created = 0
        for i, u in enumerate(units, 1):
            existing = conn.execute(
                select(FundingNotice.__table__).where(
                    FundingNotice.unit_id == u.id, FundingNotice.quarter == quarter
                )
            ).one_or_none()
            if existing is not None:
                head, due = existing.headcount, existing.amount_due_fen
                ref = existing.reference
            else:
                head, due = _amount_due(conn, u.id, u.default_standard_fen)
                ref = notice_reference(u.code, quarter)
                if not dry_run:
                    conn.execute(
                        insert(FundingNotice).values(
                            region_id=u.region_id,
                            unit_id=u.id,
                            quarter=quarter,
                            reference=ref,
                            headcount=head,
                            amount_due_fen=due,
                            due_date=due_date(quarter),
                            issued_at=now,
                            issued_by=actor.label,
                        )
                    )
                created += 1
            res.lines.append(
                {
                    "unit": u.name,
                    "reference": ref,
                    "headcount": head,
                    "amount_due_fen": due,
                    "due_date": due_date(quarter).isoformat(),
                    "new": existing is None,
                }
            )
            progress(i, len(units))
        res.totals = {
            "units": len(units),
            "new_notices": created,
            "amount_due_fen": sum(int(line["amount_due_fen"]) for line in res.lines),
        }
        res.changed = created > 0 and not dry_run
        if not dry_run:
            audit.record(conn, ctx, actor, "issue_notices", res.scope, res.totals)
    return res


def notice_status(ctx: Context, quarter: str, region: str | None = None) -> list[dict[str, Any]]:
    """One line per notice of the fund region's units: due, paid, status
    (paid/short/over/unpaid), late."""
    check_quarter(quarter)
    today = ctx.clock.today()
    with ctx.db.read() as conn:
        fr = regions.resolve(conn, region)
        notices = conn.execute(
            select(FundingNotice.__table__, Unit.name.label("unit_name"))
            .join(Unit, Unit.id == FundingNotice.unit_id)
            .where(FundingNotice.quarter == quarter, Unit.region_id.in_(fr.members))
            .order_by(Unit.code)
        ).all()
        out = []
        for n in notices:
            uname = n.unit_name
            recs = conn.execute(
                select(FundingReceipt.amount_fen, FundingReceipt.late, FundingReceipt.day).where(
                    FundingReceipt.notice_id == n.id
                )
            ).all()
            paid = sum(int(r[0]) for r in recs)
            out.append(
                {
                    "unit": uname,
                    "unit_id": n.unit_id,
                    "reference": n.reference,
                    "amount_due_fen": n.amount_due_fen,
                    "paid_fen": paid,
                    "status": _status(n.amount_due_fen, paid),
                    "late": any(r[1] for r in recs)
                    or (paid < n.amount_due_fen and today > n.due_date),
                    "due_date": n.due_date.isoformat(),
                    "receipts": len(recs),
                }
            )
    return out


STATUS_ZH = {"paid": "已足额", "short": "短缴", "over": "多缴", "unpaid": "未缴"}


def _status(due: int, paid: int) -> str:
    if paid == 0 and due > 0:
        return "unpaid"
    if paid < due:
        return "short"
    if paid > due:
        return "over"
    return "paid"


def _match(conn: Connection, memo: str, cp_account: str) -> tuple[int | None, int | None]:
    """(unit_id, notice_id) for a statement line, or (None, None) if nothing matches."""
    for token in memo.replace("，", " ").replace(",", " ").split():
        n = conn.execute(
            select(FundingNotice.id, FundingNotice.unit_id).where(
                FundingNotice.reference == token.strip()
            )
        ).first()
        if n is not None:
            return int(n.unit_id), int(n.id)
    if not cp_account:
        return None, None
    unit = conn.execute(select(Unit.id).where(Unit.bank_account == cp_account)).scalar()
    if unit is None:
        return None, None
    return int(unit), open_notice(conn, int(unit))


def open_notice(conn: Connection, unit: int) -> int | None:
    """The unit's oldest notice not yet fully paid, else its newest, else None."""
    paid = (
        select(func.coalesce(func.sum(FundingReceipt.amount_fen), 0))
        .where(FundingReceipt.notice_id == FundingNotice.id)
        .scalar_subquery()
    )
    notices = conn.execute(
        select(FundingNotice.id, FundingNotice.amount_due_fen, paid)
        .where(FundingNotice.unit_id == unit)
        .order_by(FundingNotice.quarter)
    ).all()
    for nid, due, got in notices:
        if int(got) < int(due):
            return int(nid)
    return int(notices[-1][0]) if notices else None


def assign_receipt(
    ctx: Context, actor: Actor, bank_serial: str, unit_id: int, notice_id: int | None = None
) -> RunResult:
    """A person decides whose an unmatched credit is: it then counts against the unit's
    notice ``notice_id`` (one of that unit's), else its oldest open notice, and is passed
    on by the next transfer. Assigning it again the same way changes nothing; a receipt
    already matched elsewhere is refused."""
    actor.require_money_runs()
    res = RunResult("assign_receipt", bank_serial, False)
    with ctx.db.begin() as conn:
        r = conn.execute(
            select(FundingReceipt.__table__)
            .where(FundingReceipt.bank_serial == bank_serial)
            .with_for_update()
        ).one_or_none()
        if r is None:
            raise NotFound(what=f"来款流水 {bank_serial}")
        unit = conn.execute(select(Unit.name).where(Unit.id == unit_id)).scalar()
        if unit is None:
            raise NotFound(what="单位")
        if notice_id is not None:
            owner = conn.execute(
                select(FundingNotice.unit_id).where(FundingNotice.id == notice_id)
            ).scalar()
            if owner is None:
                raise NotFound(what="缴款通知")
            if int(owner) != unit_id:
                raise InvalidInput("该缴款通知不属于所选单位")
        res.lines = [{"serial": bank_serial, "unit": unit, "amount_fen": r.amount_fen}]
        res.totals = {"amount_fen": int(r.amount_fen)}
        if r.unit_id is not None:
            if int(r.unit_id) != unit_id or notice_id not in (None, r.notice_id):
                raise StateConflict(f"流水 {bank_serial} 已匹配到其他单位或通知")
            return res
        if notice_id is None:
            notice_id = open_notice(conn, unit_id)
        late = False
        if notice_id is not None:
            due = conn.execute(
                select(FundingNotice.due_date).where(FundingNotice.id == notice_id)
            ).scalar_one()
            late = r.day > due
        conn.execute(
            update(FundingReceipt)
            .where(FundingReceipt.id == r.id)
            .values(unit_id=unit_id, notice_id=notice_id, late=late)
        )
        res.changed = True
        audit.record(
            conn,
            ctx,
            actor,
            "assign_receipt",
            f"{bank_serial} → {unit}",
            res.totals,
            unit_id=unit_id,
            before={"unit_id": None},
            after={"unit_id": unit_id, "late": late},
        )
    return res


def import_receipts(
    ctx: Context,
    actor: Actor,
    day: date,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    data: bytes | None = None,
    region: str | None = None,
) -> RunResult:
    """``data``: the bank's statement file for ``day`` (else it is fetched from the bank).

    Books into the fund region ``region`` (the top's when None): a credit matched to a
    unit of another fund region is left out (listed as a problem: import it with that
    region), an unmatched one is the run's region's."""
    actor.require_money_runs(of_region=True)
    source = gateway(ctx).statement(day) if data is None else parse_statement_file(data)
    lines = [
        ln
        for ln in source
        if ln.day == day and ln.account_no == DINING_FUND_ACCOUNT and ln.direction == "credit"
    ]
    res = RunResult("import_receipts", day.isoformat(), dry_run)
    now = ctx.clock.now()
    new = 0
    elsewhere: list[str] = []
    with unit_of_work(ctx, dry_run) as conn:
        fr = regions.resolve(conn, region, actor)
        res.scope = fr.scope(res.scope)
        unit_regions = dict(conn.execute(select(Unit.id, Unit.region_id)).all())
        for i, ln in enumerate(lines, 1):
            known = conn.execute(
                select(FundingReceipt.id).where(FundingReceipt.bank_serial == ln.serial)
            ).first()
            unit_id, notice_id = _match(conn, ln.memo, ln.counterparty_account)
            if unit_id is not None and unit_regions.get(unit_id) not in fr.members:
                elsewhere.append(
                    f"来款 {ln.counterparty_name} {yuan(ln.amount_fen)} 元（流水 {ln.serial}）"
                    "属于其他经费区域的单位，请按该区域导入"
                )
                progress(i, len(lines))
                continue
            late = False
            if notice_id is not None:
                due = conn.execute(
                    select(FundingNotice.due_date).where(FundingNotice.id == notice_id)
                ).scalar_one()
                late = ln.day > due
            unit_name = (
                conn.execute(select(Unit.name).where(Unit.id == unit_id)).scalar()
                if unit_id
                else None
            )
            res.lines.append(
                {
                    "serial": ln.serial,
                    "payer": ln.counterparty_name,
                    "memo": ln.memo,
                    "amount_fen": ln.amount_fen,
                    "unit": unit_name,
                    "matched": unit_id is not None,
                    "late": late,
                    "new": known is None,
                }
            )
            if known is None and not dry_run:
                region_id = fr.id if unit_id is None else int(unit_regions[unit_id])
                entry, _ = post(
                    conn,
                    region_id=region_id,
                    kind="unit_funding",
                    key=f"receipt:{ln.serial}",
                    legs=[
                        Leg(regions.system_acct(conn, fr, "bank_clearing"), -ln.amount_fen),
                        Leg(regions.system_acct(conn, fr, "dining_fund"), ln.amount_fen),
                    ],
                    actor=actor.label,
                    booked_at=now,
                    occurred_at=from_local(datetime.combine(ln.day, ln.time)),
                    business_day=ln.day,
                    reference=f"单位拨款 {ln.counterparty_name} {ln.serial}",
                    memo=ln.memo[:200],
                )
                conn.execute(
                    insert(FundingReceipt).values(
                        region_id=region_id,
                        bank_serial=ln.serial,
                        day=ln.day,
                        amount_fen=ln.amount_fen,
                        counterparty_name=ln.counterparty_name,
                        counterparty_account=ln.counterparty_account,
                        memo=ln.memo[:200],
                        unit_id=unit_id,
                        notice_id=notice_id,
                        late=late,
                        entry_id=entry,
                        imported_at=now,
                    )
                )
            if known is None:
                new += 1
            progress(i, len(lines))
        fresh = [ln for ln in res.lines if ln["new"]]
        res.totals = {
            "lines": len(lines),
            "new": new,
            "amount_fen": sum(int(ln["amount_fen"]) for ln in fresh),
            "unmatched": sum(1 for ln in fresh if not ln["matched"]),
        }
        res.problems = [
            f"未能匹配到单位的来款：{ln['payer']} {yuan(int(ln['amount_fen']))} 元（流水 {ln['serial']}）"
            for ln in res.lines
            if not ln["matched"]
        ] + elsewhere
        res.changed = new > 0 and not dry_run
        if not dry_run:
            audit.record(conn, ctx, actor, "import_receipts", res.scope, res.totals)
    return res


def transfer_to_income(
    ctx: Context,
    actor: Actor,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    region: str | None = None,
) -> RunResult:
    """Bureau → system income line, one entry and one bank transfer per matched receipt
    of the fund region's units (``region``: its code; the top's when None)."""
    actor.require_money_runs(of_region=True)
    res = RunResult("transfer_to_income", "经费专户→系统收入户", dry_run)
    now = ctx.clock.now()
    orders: list[str] = []
    with unit_of_work(ctx, dry_run) as conn:
        fr = regions.resolve(conn, region, actor)
        res.scope = fr.scope(res.scope)
        todo = conn.execute(
            select(FundingReceipt.__table__, Unit.name.label("unit_name"))
            .join(Unit, Unit.id == FundingReceipt.unit_id)
            .where(FundingReceipt.transfer_entry_id.is_(None), Unit.region_id.in_(fr.members))
            .order_by(FundingReceipt.id)
        ).all()
        for i, r in enumerate(todo, 1):
            uname = r.unit_name
            res.lines.append({"unit": uname, "serial": r.bank_serial, "amount_fen": r.amount_fen})
            if not dry_run:
                entry, _ = post(
                    conn,
                    region_id=r.region_id,
                    kind="bureau_transfer",
                    key=f"transfer:{r.bank_serial}",
                    legs=[
                        Leg(regions.system_acct(conn, fr, "dining_fund"), -r.amount_fen),
                        Leg(
                            account_id(conn, "unit", int(r.unit_id or 0), "unit_income"),
                            r.amount_fen,
                        ),
                    ],
                    actor=actor.label,
                    booked_at=now,
                    reference=f"转拨系统收入户 {uname}",
                )
                conn.execute(
                    update(FundingReceipt)
                    .where(FundingReceipt.id == r.id)
                    .values(transfer_entry_id=entry)
                )
                oid = f"TRF-{r.bank_serial}"
                add_order(
                    conn,
                    order_id=oid,
                    kind="transfer",
                    amount_fen=r.amount_fen,
                    from_account=DINING_FUND_ACCOUNT,
                    to_account=INCOME_ACCOUNT,
                    to_name=PLATFORM_ACCOUNT_NAMES[INCOME_ACCOUNT],
                    purpose="就餐经费转拨",
                    ref_id=r.id,
                    entry_id=entry,
                    now=now,
                )
                orders.append(oid)
            progress(i, len(todo))
        res.totals = {
            "receipts": len(todo),
            "amount_fen": sum(int(r.amount_fen) for r in todo),
        }
        res.changed = bool(todo) and not dry_run
        if not dry_run:
            audit.record(conn, ctx, actor, "transfer_to_income", res.scope, res.totals)
    if orders:
        res.problems = send_orders(ctx, orders)
    return res


def quarter_receipts(conn: Connection, unit_id: int, quarter: str) -> int:
    """Money a unit paid in against its notice for ``quarter``."""
    return int(
        conn.execute(
            select(func.coalesce(func.sum(FundingReceipt.amount_fen), 0))
            .join(FundingNotice, FundingNotice.id == FundingReceipt.notice_id)
            .where(FundingNotice.unit_id == unit_id, FundingNotice.quarter == quarter)
        ).scalar_one()
    )
