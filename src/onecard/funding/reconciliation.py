"""Reconciliation (对账): the bank's statement against our records, and reading it in.

Contract:
- ``reconcile_day(ctx, actor, day, data=None, lines=None)`` matches every statement line
  of the day — from ``lines``, or the file ``data`` a person gave, or else the bank
  (``BankGateway.statement``: the sandbox's store, or what statement uploads stored in
  the file exchange):
  a 贷 line on the dining-fund account ↔ the funding receipt with that bank serial
  (``unclaimed`` while no unit is said to have paid it); a line whose memo starts with
  one of our order ids ↔ that bank order (an internal transfer shows twice, once on
  each of our accounts) or that top-up. Per line: ``matched``, ``amount_mismatch``,
  ``state_mismatch`` (the bank moved money for an order we hold as pending or failed),
  ``bank_only`` (not in our records) and, for our records of that day the statement
  lacks, ``ledger_only``. Everything but ``matched`` is listed in ``problems``: a person
  must act. It corrects nothing. The result is recorded (audit) when it differs from
  the day's last reconciliation, and then ``changed``; the same result again is
  "already processed".
- ``import_statement(ctx, actor, data, filename)`` reads a statement file (CSV or the
  bank's Excel) in, for the clearing operator: keeps its lines once
  (``channels.store``; a line contradicting one read before refuses the whole file),
  lets the orders it shows done follow (``bank_files.apply_statement_evidence``), books
  the units' payments on the dining-fund account it lists (``notices.import_receipts``)
  and reconciles each day it covers against every line kept for that day. Reading the
  same file again changes nothing. Each step is idempotent, so reading it again after
  an interruption completes it.
- ``reconcile_kept(ctx, actor, day)``: ``reconcile_day`` against the statement lines
  already kept for the day, else the bank's own (the page's "reconcile this day").
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select

from onecard.audit import records as audit
from onecard.audit.models import AuditEvent
from onecard.channels.bank import DINING_FUND_ACCOUNT, PLATFORM_ACCOUNT_NAMES, gateway
from onecard.channels.statement import StatementLine, parse_statement_file
from onecard.channels.store import record_file, store_statement, stored_statement
from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.core.errors import InvalidInput
from onecard.core.money import yuan
from onecard.core.runs import RunResult, unit_of_work
from onecard.funding import bank_files, notices
from onecard.funding.bank_files import money_run_record
from onecard.funding.models import BankOrder, FundingReceipt
from onecard.org.actors import Actor
from onecard.pay.models import TopupOrder

STATUS_ZH = {
    "matched": "已匹配",
    "amount_mismatch": "金额不符",
    "state_mismatch": "状态不符",
    "unclaimed": "未认领来款",
    "bank_only": "银行有、系统无",
    "ledger_only": "系统有、银行无",
}
ORDER_STATE_ZH = {"pending": "付款中", "failed": "付款失败", "succeeded": "已付款"}


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = from_local(datetime.combine(day, time()))
    return start, start + timedelta(days=1)


def reconcile_day(
    ctx: Context,
    actor: Actor,
    day: date,
    data: bytes | None = None,
    *,
    lines: list[StatementLine] | None = None,
) -> RunResult:
    actor.require_city_reader()
    if lines is None:
        source = parse_statement_file(data) if data is not None else gateway(ctx).statement(day)
        lines = [ln for ln in source if ln.day == day]
    res = RunResult("reconcile", day.isoformat(), False)
    with ctx.db.begin() as conn:
        seen = _Seen()
        res.lines = [_match_line(conn, ln, seen) for ln in lines]
        res.lines += _ledger_only(conn, day, seen)
        counts = Counter(str(item["status"]) for item in res.lines)
        res.totals = {"lines": len(lines)} | {k: counts[k] for k in STATUS_ZH}
        res.totals |= {
            "credit_fen": sum(ln.amount_fen for ln in lines if ln.direction == "credit"),
            "debit_fen": sum(ln.amount_fen for ln in lines if ln.direction == "debit"),
        }
        res.problems = [_problem(i) for i in res.lines if i["status"] != "matched"]
        if _last_result(conn, day) != res.totals:
            audit.record(conn, ctx, actor, "reconcile", day.isoformat(), res.totals)
            res.changed = True
    return res


def _last_result(conn: Connection, day: date) -> dict[str, int] | None:
    got = conn.execute(
        select(AuditEvent.data)
        .where(AuditEvent.action == "reconcile", AuditEvent.target == day.isoformat())
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar()
    return None if got is None else dict(json.loads(got))


def _problem(i: dict[str, Any]) -> str:
    bank = "—" if i["bank_fen"] is None else f"{yuan(int(i['bank_fen']))} 元"
    ours = "—" if i["ledger_fen"] is None else f"{yuan(int(i['ledger_fen']))} 元"
    return f"{STATUS_ZH[str(i['status'])]}：{i['what']} {i['ref']} 银行 {bank} / 系统 {ours}"


def _item(
    status: str,
    bank_fen: int | None,
    ledger_fen: int | None,
    what: str,
    ref: str,
    serial: str = "",
) -> dict[str, Any]:
    return {
        "status": status,
        "status_zh": STATUS_ZH[status],
        "bank_fen": bank_fen,
        "ledger_fen": ledger_fen,
        "what": what,
        "ref": ref,
        "serial": serial,
    }


@dataclass
class _Seen:
    orders: Counter[str] = field(default_factory=Counter)
    topups: set[str] = field(default_factory=set)
    receipts: set[str] = field(default_factory=set)


def _match_line(conn: Connection, ln: StatementLine, seen: _Seen) -> dict[str, Any]:
    token = ln.memo.split(" ", 1)[0] if ln.memo else ""
    if token:
        o = conn.execute(select(BankOrder.__table__).where(BankOrder.order_id == token)).first()
        if o is not None:
            seen.orders[o.order_id] += 1
            return _order_item(ln, o.amount_fen, o.status, o.purpose)
        t = conn.execute(select(TopupOrder.__table__).where(TopupOrder.order_id == token)).first()
        if t is not None:
            seen.topups.add(t.order_id)
            return _order_item(ln, t.amount_fen, t.status, "充值")
    r = conn.execute(
        select(FundingReceipt.__table__).where(FundingReceipt.bank_serial == ln.serial)
    ).first()
    if r is not None:
        seen.receipts.add(r.bank_serial)
        what = f"单位来款 {r.counterparty_name}"
        if r.amount_fen != ln.amount_fen:
            return _item("amount_mismatch", ln.amount_fen, r.amount_fen, what, ln.serial)
        status = "matched" if r.unit_id is not None else "unclaimed"
        memo = f"{what} {r.memo}".strip()
        return _item(status, ln.amount_fen, r.amount_fen, memo, ln.serial, ln.serial)
    what = f"{ln.counterparty_name} {ln.memo}".strip()
    return _item("bank_only", ln.amount_fen, None, what, ln.serial)


def _order_item(ln: StatementLine, amount: int, status: str, purpose: str) -> dict[str, Any]:
    if amount != ln.amount_fen:
        return _item("amount_mismatch", ln.amount_fen, amount, purpose, ln.serial)
    if status != "succeeded":
        what = f"{purpose}（系统：{ORDER_STATE_ZH.get(status, status)}）"
        return _item("state_mismatch", ln.amount_fen, amount, what, ln.serial)
    return _item("matched", ln.amount_fen, amount, purpose, ln.serial)


def _ledger_only(conn: Connection, day: date, seen: _Seen) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    lo, hi = _day_bounds(day)
    for r in conn.execute(select(FundingReceipt.__table__).where(FundingReceipt.day == day)):
        if r.bank_serial not in seen.receipts:
            what = f"单位来款 {r.counterparty_name}"
            out.append(_item("ledger_only", None, r.amount_fen, what, r.bank_serial))
    for o in conn.execute(
        select(BankOrder.__table__).where(
            BankOrder.status == "succeeded",
            BankOrder.completed_at >= lo,
            BankOrder.completed_at < hi,
        )
    ):
        expected = 2 if o.to_account in PLATFORM_ACCOUNT_NAMES else 1
        for _ in range(expected - seen.orders[o.order_id]):
            out.append(_item("ledger_only", None, o.amount_fen, o.purpose, o.order_id))
    for t in conn.execute(
        select(TopupOrder.__table__).where(
            TopupOrder.status == "succeeded",
            TopupOrder.completed_at >= lo,
            TopupOrder.completed_at < hi,
        )
    ):
        if t.order_id not in seen.topups:
            out.append(_item("ledger_only", None, t.amount_fen, "充值", t.order_id))
    return out


# --- reading a statement file in -------------------------------------------------------
@dataclass
class StatementImport:
    name: str
    lines: int
    new_lines: int
    days: list[RunResult] = field(default_factory=list)  # one reconciliation per day
    receipts: list[RunResult] = field(default_factory=list)  # bookings this file caused
    settled: int = 0  # orders whose state this file decided
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.new_lines or self.settled or any(r.changed for r in self.receipts))

    @property
    def needs_a_person(self) -> bool:
        return bool(self.problems or any(d.problems for d in self.days))


def import_statement(
    ctx: Context, actor: Actor, data: bytes, filename: str = ""
) -> StatementImport:
    actor.require_money_runs()
    lines = parse_statement_file(data, filename)
    if not lines:
        raise InvalidInput("对账单文件中没有任何交易记录")
    name = filename or "statement"
    now = ctx.clock.now()
    with unit_of_work(ctx, False) as conn:
        fid, _ = record_file(
            conn,
            kind="statement",
            name=name,
            data=data,
            lines=len(lines),
            amount_fen=sum(ln.amount_fen for ln in lines),
            now=now,
            by=actor.label,
        )
        new = store_statement(conn, fid, lines, now)
        if new:
            money_run_record(
                conn,
                ctx,
                actor,
                "bank_statement",
                name,
                {
                    "lines": len(lines),
                    "new": len(new),
                    "credit_fen": sum(ln.amount_fen for ln in new if ln.direction == "credit"),
                    "debit_fen": sum(ln.amount_fen for ln in new if ln.direction == "debit"),
                },
            )
    out = StatementImport(name, len(lines), len(new))
    evidence = bank_files.apply_statement_evidence(ctx, lines)
    out.settled, out.problems = evidence.settled, evidence.problems
    days = sorted({ln.day for ln in lines})
    for day in days:
        if _unbooked(ctx, [ln for ln in lines if ln.day == day]):
            out.receipts.append(notices.import_receipts(ctx, actor, day, data=data))
    for day in days:
        with ctx.db.read() as conn:
            kept = stored_statement(conn, day)
        out.days.append(reconcile_day(ctx, actor, day, lines=kept))
    return out


def reconcile_kept(ctx: Context, actor: Actor, day: date) -> RunResult:
    with ctx.db.read() as conn:
        kept = stored_statement(conn, day)
    return reconcile_day(ctx, actor, day, lines=kept or None)


def _unbooked(ctx: Context, lines: list[StatementLine]) -> bool:
    """Whether any unit payment on these lines is not booked as a receipt yet."""
    serials = [
        ln.serial
        for ln in lines
        if ln.account_no == DINING_FUND_ACCOUNT and ln.direction == "credit"
    ]
    if not serials:
        return False
    with ctx.db.read() as conn:
        booked = set(
            conn.execute(
                select(FundingReceipt.bank_serial).where(FundingReceipt.bank_serial.in_(serials))
            ).scalars()
        )
    return bool(set(serials) - booked)
