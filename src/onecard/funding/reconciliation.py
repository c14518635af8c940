"""Reconciliation (对账): one day of the bank's statement file against our records.

Contract: ``reconcile_day(ctx, actor, day, data=None)`` parses the statement file (the
bank's own, or ``data`` uploaded by a person) and matches every line:
- a 贷 line on the dining-fund account ↔ the funding receipt with that bank serial;
- a line whose memo starts with one of our order ids ↔ that bank order (an internal
  transfer shows twice, once on each of our accounts) or that top-up order;
and reports, per line, ``matched`` / ``amount_mismatch`` / ``bank_only`` (on the
statement, not in our records) and, for our records of that day the statement lacks,
``ledger_only``. It reads only: nothing is corrected automatically; the result (and an
audit record of its totals) is for a person to act on.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from onecard.channels.bank import PLATFORM_ACCOUNT_NAMES
from onecard.channels.statement import StatementLine, parse_statement_file
from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.funding import audit
from onecard.funding.models import BankOrder, FundingReceipt
from onecard.funding.runs import RunResult
from onecard.org.actors import Actor
from onecard.pay.models import TopupOrder

STATUS_ZH = {
    "matched": "已匹配",
    "amount_mismatch": "金额不符",
    "bank_only": "银行有、系统无",
    "ledger_only": "系统有、银行无",
}


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = from_local(datetime.combine(day, time()))
    return start, start + timedelta(days=1)


def reconcile_day(ctx: Context, actor: Actor, day: date, data: bytes | None = None) -> RunResult:
    actor.require("bureau_admin", "clearing_operator", "finance", "auditor")
    raw = data if data is not None else ctx.bank_gateway().statement_file(day)
    lines = [ln for ln in parse_statement_file(raw) if ln.day == day]
    res = RunResult("reconcile", day.isoformat(), False)
    seen_orders: Counter[str] = Counter()
    seen_topups: set[str] = set()
    seen_receipts: set[str] = set()
    with ctx.db.begin() as conn:
        for ln in lines:
            res.lines.append(_match_line(conn, ln, seen_orders, seen_topups, seen_receipts))
        lo, hi = _day_bounds(day)
        for r in conn.execute(select(FundingReceipt.__table__).where(FundingReceipt.day == day)):
            if r.bank_serial not in seen_receipts:
                res.lines.append(
                    _item(
                        "ledger_only",
                        None,
                        r.amount_fen,
                        f"单位来款 {r.counterparty_name}",
                        r.bank_serial,
                    )
                )
        for o in conn.execute(
            select(BankOrder.__table__).where(
                BankOrder.status == "succeeded",
                BankOrder.completed_at >= lo,
                BankOrder.completed_at < hi,
            )
        ):
            expected = 2 if o.to_account in PLATFORM_ACCOUNT_NAMES else 1
            for _ in range(expected - seen_orders[o.order_id]):
                res.lines.append(_item("ledger_only", None, o.amount_fen, o.purpose, o.order_id))
        for t in conn.execute(
            select(TopupOrder.__table__).where(
                TopupOrder.status == "succeeded",
                TopupOrder.completed_at >= lo,
                TopupOrder.completed_at < hi,
            )
        ):
            if t.order_id not in seen_topups:
                res.lines.append(_item("ledger_only", None, t.amount_fen, "充值", t.order_id))
        counts = Counter(str(item["status"]) for item in res.lines)
        res.totals = {
            "lines": len(lines),
            "matched": counts["matched"],
            "amount_mismatch": counts["amount_mismatch"],
            "bank_only": counts["bank_only"],
            "ledger_only": counts["ledger_only"],
            "credit_fen": sum(ln.amount_fen for ln in lines if ln.direction == "credit"),
            "debit_fen": sum(ln.amount_fen for ln in lines if ln.direction == "debit"),
        }
        res.problems = [
            f"{STATUS_ZH[str(i['status'])]}：{i['what']} {i['ref']} 银行 {i['bank_fen']} 分 / "
            f"系统 {i['ledger_fen']} 分"
            for i in res.lines
            if i["status"] != "matched"
        ]
        audit.record(conn, ctx, actor, "reconcile", day.isoformat(), res.totals)
    return res


def _item(
    status: str, bank_fen: int | None, ledger_fen: int | None, what: str, ref: str
) -> dict[str, Any]:
    return {
        "status": status,
        "status_zh": STATUS_ZH[status],
        "bank_fen": bank_fen,
        "ledger_fen": ledger_fen,
        "what": what,
        "ref": ref,
    }


def _match_line(
    conn: Any,
    ln: StatementLine,
    seen_orders: Counter[str],
    seen_topups: set[str],
    seen_receipts: set[str],
) -> dict[str, Any]:
    token = ln.memo.split(" ", 1)[0] if ln.memo else ""
    if token:
        o = conn.execute(select(BankOrder.__table__).where(BankOrder.order_id == token)).first()
        if o is not None:
            seen_orders[o.order_id] += 1
            ok = o.amount_fen == ln.amount_fen and o.status == "succeeded"
            return _item(
                "matched" if ok else "amount_mismatch",
                ln.amount_fen,
                o.amount_fen if o.status == "succeeded" else 0,
                o.purpose,
                ln.serial,
            )
        t = conn.execute(select(TopupOrder.__table__).where(TopupOrder.order_id == token)).first()
        if t is not None:
            seen_topups.add(t.order_id)
            ok = t.amount_fen == ln.amount_fen and t.status == "succeeded"
            return _item(
                "matched" if ok else "amount_mismatch",
                ln.amount_fen,
                t.amount_fen if t.status == "succeeded" else 0,
                "充值",
                ln.serial,
            )
    r = conn.execute(
        select(FundingReceipt.__table__).where(FundingReceipt.bank_serial == ln.serial)
    ).first()
    if r is not None:
        seen_receipts.add(r.bank_serial)
        return _item(
            "matched" if r.amount_fen == ln.amount_fen else "amount_mismatch",
            ln.amount_fen,
            r.amount_fen,
            f"单位来款 {r.counterparty_name}",
            ln.serial,
        )
    return _item("bank_only", ln.amount_fen, None, f"{ln.counterparty_name} {ln.memo}", ln.serial)
