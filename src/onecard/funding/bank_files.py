"""The bank's files, for the people who exchange them: batches out, results in.

Contract (money-run rights: the bureau and its clearing operator; each function checks):
- ``write_batch(ctx, actor, kind, fmt)`` (file exchange only) writes every order waiting
  for the bank into one batch file and returns it (``None`` when nothing waits), with an
  audit record; ``batch_file`` gives a written file again, byte for byte.
- ``import_returns(ctx, actor, data, filename)`` (file exchange only) reads the bank's
  return file: every line must name an order of a batch we wrote, with its amount, or
  the whole file is refused and nothing changes. Each order's state then follows from
  its line exactly once (``funding.notifications.apply_notification``): a payout the bank refused
  is booked back as if the bank had called back. Reading the file again changes
  nothing; a result contradicting what the order already is (the statement showed it
  paid, the return file says failed) is listed for a person and changes nothing.
- ``apply_statement_evidence(ctx, lines)`` settles the orders a statement shows done
  (a debit on the paying account, or the credit of an internal transfer, whose memo
  starts with the order id; a top-up's credit on the income account) that are still
  pending — whichever of statement and return file arrives first decides, once — and
  lists lines that contradict an order (another amount, an order we booked as failed).
- Reading files works in any bank mode; a return file or a batch needs the file
  exchange (``NotFileExchange`` otherwise). Each step is its own transaction and
  idempotent, so reading a file again after an interruption completes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from onecard.audit import service as audit_service
from onecard.channels import bankfiles
from onecard.channels.bank import (
    INCOME_ACCOUNT,
    PLATFORM_ACCOUNT_NAMES,
    Notification,
    OrderKind,
    gateway,
)
from onecard.channels.files import BATCH_TITLE, BatchKind, FileExchangeBank
from onecard.channels.models import BankFile, BankFileOrder
from onecard.channels.statement import StatementLine
from onecard.channels.store import record_file
from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.core.errors import InvalidInput, NotFileExchange, NotFound
from onecard.core.money import yuan
from onecard.core.runs import RunResult, unit_of_work
from onecard.funding.models import BankOrder
from onecard.funding.notifications import apply_notification
from onecard.org.actors import Actor
from onecard.pay.models import TopupOrder

KIND_ZH = {
    "transfers": "批量转账文件",
    "collections": "批量代扣文件",
    "returns": "处理结果文件",
    "statement": "对账单",
}


@dataclass(frozen=True)
class BatchOut:
    file_id: int
    name: str
    data: bytes
    orders: int
    amount_fen: int


def money_run_record(
    conn: Connection, ctx: Context, actor: Actor, action: str, target: str, totals: dict[str, int]
) -> None:
    """The audit event of reading or writing a bank file: a money run's kind (the funding
    wrapper would file an action it does not know under "other")."""
    audit_service.record(conn, ctx, actor, "money_run", action, target=target, data=totals)


def files_bank(ctx: Context) -> FileExchangeBank:
    bank = gateway(ctx)
    if not isinstance(bank, FileExchangeBank):
        raise NotFileExchange()
    return bank


def is_file_exchange(ctx: Context) -> bool:
    return isinstance(ctx.bank, FileExchangeBank)


# --- batches out -----------------------------------------------------------------------
def waiting(ctx: Context) -> dict[str, tuple[int, int]]:
    """Per batch kind: (orders waiting, their total fen). Empty outside the file exchange."""
    if not is_file_exchange(ctx):
        return {}
    out: dict[str, tuple[int, int]] = {}
    with ctx.db.read() as conn:
        for kind, order_kind in (("transfers", "transfer"), ("collections", "collection")):
            n, total = conn.execute(
                select(func.count(), func.coalesce(func.sum(BankFileOrder.amount_fen), 0)).where(
                    BankFileOrder.kind == order_kind, BankFileOrder.batch_file_id.is_(None)
                )
            ).one()
            out[kind] = (int(n), int(total))
    return out


def write_batch(
    ctx: Context, actor: Actor, kind: BatchKind, fmt: bankfiles.FileFormat
) -> BatchOut | None:
    actor.require_money_runs()
    if kind not in BATCH_TITLE:
        raise InvalidInput(f"批量文件类型应为 transfers 或 collections：{kind}")
    if fmt not in ("csv", "xlsx"):
        raise InvalidInput(f"文件格式应为 csv 或 xlsx：{fmt}")
    bank = files_bank(ctx)
    with unit_of_work(ctx, False) as conn:
        cut = bank.cut_batch(conn, kind, fmt, actor.label)
        if cut is None:
            return None
        fid, name, data, orders = cut
        total = sum(int(o.amount_fen) for o in orders)
        money_run_record(
            conn, ctx, actor, "bank_batch", name, {"orders": len(orders), "amount_fen": total}
        )
    return BatchOut(fid, name, data, len(orders), total)


def batch_file(ctx: Context, actor: Actor, file_id: int) -> tuple[str, bytes]:
    """A file written for (or read from) the bank, again, as it was."""
    actor.require_city_reader()
    with ctx.db.read() as conn:
        row = conn.execute(
            select(BankFile.name, BankFile.content).where(BankFile.id == file_id)
        ).first()
    if row is None:
        raise NotFound(what="银行文件")
    return str(row.name), bytes(row.content)


def recent_files(ctx: Context, limit: int = 20) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                BankFile.id,
                BankFile.kind,
                BankFile.name,
                BankFile.lines,
                BankFile.amount_fen,
                BankFile.created_at,
                BankFile.created_by,
            )
            .order_by(BankFile.id.desc())
            .limit(limit)
        ).all()
    return [{**dict(r._mapping), "kind_zh": KIND_ZH.get(r.kind, r.kind)} for r in rows]


# --- results in ------------------------------------------------------------------------
def import_returns(ctx: Context, actor: Actor, data: bytes, filename: str = "") -> RunResult:
    actor.require_money_runs()
    bank = files_bank(ctx)
    lines = bankfiles.parse_returns(data, filename)
    if not lines:
        raise InvalidInput("处理结果文件中没有任何记录")
    name = filename or "returns"
    res = RunResult("bank_returns", name, False)
    with unit_of_work(ctx, False) as conn:
        fid, _ = record_file(
            conn,
            kind="returns",
            name=name,
            data=data,
            lines=len(lines),
            amount_fen=sum(ln.amount_fen for ln in lines),
            now=ctx.clock.now(),
            by=actor.label,
        )
        outcomes = bank.record_returns(conn, fid, lines)
        fresh = [o for o in outcomes if o.status == "new"]
        if fresh:
            money_run_record(
                conn,
                ctx,
                actor,
                "bank_returns",
                name,
                {
                    "lines": len(lines),
                    "new": len(fresh),
                    "paid": sum(1 for o in fresh if o.line.paid),
                    "failed": sum(1 for o in fresh if not o.line.paid),
                },
            )
    changed = 0
    for o in outcomes:
        ln = o.line
        item: dict[str, Any] = {
            "reference": ln.reference,
            "name": ln.name,
            "amount_fen": ln.amount_fen,
            "result": bankfiles.PAID if ln.paid else bankfiles.FAILED,
            "reason": ln.reason,
            "status": o.status,
        }
        res.lines.append(item)
        if o.note is None:
            res.problems.append(
                f"指令 {ln.reference} 此前的处理结果与本文件不同（本文件：{item['result']}），"
                "未作改动：请与银行核实"
            )
            continue
        before = _order_status(ctx, o.note)
        after = apply_notification(ctx, o.note)
        item["order_status"] = after
        if after != o.note.status:
            res.problems.append(_contradiction(ln.reference, o.note, after))
        elif before == "pending":
            changed += 1
    res.totals = {
        "lines": len(lines),
        "new": sum(1 for o in outcomes if o.status == "new"),
        "settled": changed,
        "paid": sum(1 for ln in lines if ln.paid),
        "failed": sum(1 for ln in lines if not ln.paid),
    }
    res.changed = changed > 0 or res.totals["new"] > 0
    return res


def _contradiction(reference: str, note: Notification, status: str) -> str:
    said = "成功" if note.status == "succeeded" else f"失败（{note.failure_reason}）"
    now = {"succeeded": "已付款", "failed": "付款失败"}.get(status, status)
    return (
        f"指令 {reference}：银行文件显示{said}，但系统中该指令已是「{now}」，未作改动：请与银行核实"
    )


def _order_status(ctx: Context, note: Notification) -> str | None:
    table: Any = TopupOrder if note.kind == "topup" else BankOrder
    with ctx.db.read() as conn:
        got = conn.execute(select(table.status).where(table.order_id == note.order_id)).scalar()
    return None if got is None else str(got)


# --- what a statement proves -----------------------------------------------------------
@dataclass
class Evidence:
    settled: int = 0  # orders the statement decided
    problems: list[str] = field(default_factory=list)


def apply_statement_evidence(ctx: Context, lines: Sequence[StatementLine]) -> Evidence:
    found = Evidence()
    for ln in lines:
        token = ln.memo.split(" ", 1)[0] if ln.memo else ""
        if not token:
            continue
        note, problem = _evidence(ctx, ln, token)
        if problem:
            found.problems.append(problem)
        if note is None:
            continue
        before = _order_status(ctx, note)
        after = apply_notification(ctx, note)
        if after != "succeeded":
            found.problems.append(_contradiction(token, note, after))
        elif before == "pending":
            found.settled += 1
    return found


def _evidence(ctx: Context, ln: StatementLine, token: str) -> tuple[Notification | None, str]:
    """(the notification a statement line means, a problem) for a line naming an order."""
    with ctx.db.read() as conn:
        order = conn.execute(
            select(BankOrder.amount_fen, BankOrder.from_account, BankOrder.to_account).where(
                BankOrder.order_id == token
            )
        ).first()
        topup = None
        if order is None:
            topup = conn.execute(
                select(TopupOrder.amount_fen).where(TopupOrder.order_id == token)
            ).first()
    if order is None and topup is None:
        return None, ""
    at = from_local(datetime.combine(ln.day, ln.time))
    kind: OrderKind
    if order is not None:
        ours = (ln.direction == "debit" and ln.account_no == order.from_account) or (
            ln.direction == "credit"
            and ln.account_no == order.to_account
            and order.to_account in PLATFORM_ACCOUNT_NAMES
        )
        expected, kind = int(order.amount_fen), "payout"
    else:
        assert topup is not None
        ours = ln.direction == "credit" and ln.account_no == INCOME_ACCOUNT
        expected, kind = int(topup.amount_fen), "topup"
    if not ours:
        return None, f"流水 {ln.serial} 的摘要写有指令 {token}，但账户或借贷方向与该指令不符"
    if ln.amount_fen != expected:
        return None, (
            f"流水 {ln.serial}：指令 {token} 银行金额 {yuan(ln.amount_fen)} 元，"
            f"系统金额 {yuan(expected)} 元，未作改动"
        )
    note = Notification(
        order_id=token,
        bank_ref=ln.serial,
        status="succeeded",
        amount_fen=expected,
        failure_reason=None,
        occurred_at=at,
        kind=kind,
    )
    return note, ""
