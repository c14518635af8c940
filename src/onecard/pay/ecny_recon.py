"""The e-CNY acquirer's daily reconciliation file (对账单) against our orders and refunds.

Contract: ``reconcile_day(ctx, actor, day, data=None)`` reads the day's file — ``data``
a person gave, else the acquirer's (``EcnyGateway.bill_file``) — and matches each line
by our order (or refund) number, like the bank's statement (``funding.reconciliation``):
``matched``; ``amount_mismatch``; ``state_mismatch`` (the acquirer took or returned money
for an order we hold pending or failed: ``onecard ecny resolve`` books it);
``acquirer_only`` (a number we never issued); and ``ours_only`` for our successful
orders and refunds of that local day the file lacks. Everything but ``matched`` is a
problem a person must look at; nothing is corrected here. The run is recorded (audit,
kind money run) with its counts, in one transaction that writes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from onecard.audit import service as audit
from onecard.channels.ecny import BillLine, parse_bill
from onecard.channels.factory import ecny_gateway as gateway
from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.pay.models import EcnyOrder, EcnyRefund

STATUS_ZH = {
    "matched": "已匹配",
    "amount_mismatch": "金额不符",
    "state_mismatch": "状态不符",
    "acquirer_only": "仅收单机构有",
    "ours_only": "仅本系统有",
}


@dataclass
class EcnyReconciliation:
    day: date
    lines: int = 0
    matched: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)


def reconcile_day(
    ctx: Context, actor: Actor, day: date, data: bytes | None = None
) -> EcnyReconciliation:
    actor.require_money_runs()
    bill = parse_bill(data if data is not None else gateway(ctx).bill_file(day))
    start = from_local(datetime.combine(day, datetime.min.time()))
    end = start + timedelta(days=1)
    res = EcnyReconciliation(day, lines=len(bill))
    with ctx.db.begin() as conn:
        numbers = [ln.order_no for ln in bill]
        orders = {
            str(r.order_no): r
            for r in conn.execute(
                select(EcnyOrder.order_no, EcnyOrder.status, EcnyOrder.amount_fen).where(
                    EcnyOrder.order_no.in_(numbers)
                    | ((EcnyOrder.completed_at >= start) & (EcnyOrder.completed_at < end))
                )
            )
        }
        refunds = {
            str(r.refund_no): r
            for r in conn.execute(
                select(EcnyRefund.refund_no, EcnyRefund.status, EcnyRefund.amount_fen).where(
                    EcnyRefund.refund_no.in_(numbers)
                    | ((EcnyRefund.completed_at >= start) & (EcnyRefund.completed_at < end))
                )
            )
        }
        seen: set[str] = set()
        for ln in bill:
            seen.add(ln.order_no)
            ours = (orders if ln.kind == "pay" else refunds).get(ln.order_no)
            status = _match(ln, ours)
            if status == "matched":
                res.matched += 1
            else:
                res.problems.append(_problem(status, ln.order_no, ln.kind, ln.amount_fen, ours))
        for kind, rows in (("pay", orders), ("refund", refunds)):
            for number, r in rows.items():
                if number not in seen and r.status == "succeeded":
                    res.problems.append(_problem("ours_only", number, kind, None, r))
        audit.record(
            conn,
            ctx,
            actor,
            "money_run",
            "ecny_reconcile",
            target=day.isoformat(),
            data={"lines": res.lines, "matched": res.matched, "problems": len(res.problems)},
        )
    return res


def _match(ln: BillLine, ours: Any) -> str:
    if ours is None:
        return "acquirer_only"
    if ours.status != "succeeded":
        return "state_mismatch"
    if int(ours.amount_fen) != ln.amount_fen:
        return "amount_mismatch"
    return "matched"


def _problem(status: str, number: str, kind: str, theirs: int | None, ours: Any) -> dict[str, Any]:
    return {
        "status": status,
        "status_zh": STATUS_ZH[status],
        "order_no": number,
        "kind": kind,
        "acquirer_fen": theirs,
        "ours_fen": int(ours.amount_fen) if ours is not None else None,
        "our_status": str(ours.status) if ours is not None else None,
    }
