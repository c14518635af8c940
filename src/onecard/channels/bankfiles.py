"""The files OneCard exchanges with a bank's online banking (网银), besides statements.

Contract:
- A **batch file** (批量转账 for transfers and payouts, 批量代扣 for debiting diners'
  savings cards for top-ups) has one row per order, columns ``BATCH_HEADER``: payer
  account and name, payee account, name and bank, amount (yuan, two decimals), purpose,
  and our reference (the order id). The purpose starts with the reference too, because
  the bank carries the purpose into its statement's memo and that is how a statement
  line is tied back to an order. ``render_batch(lines, fmt)`` writes it as CSV (UTF-8
  with BOM) or Excel; ``parse_batch`` reads it back (the sandbox, playing online
  banking, reads what we wrote).
- A **return file** (处理结果) has one row per processed order, columns
  ``RETURN_HEADER``: our reference, the counterparty, amount, 成功 or 失败, the failure
  reason (required for 失败), the bank's serial (for 成功) and when it was processed.
  ``parse_returns`` accepts the bank's other column names (``RETURN_COLUMNS``) and 交易
  成功/交易失败 style results; every row is checked and any problem rejects the file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from onecard.channels.tables import (
    RowProblem,
    cell_day,
    cell_fen,
    cell_text,
    cell_time,
    decimal_yuan,
    locate,
    read_rows,
    rejected,
    write_csv,
    write_xlsx,
)
from onecard.core.money import yuan

FileFormat = Literal["csv", "xlsx"]

BATCH_HEADER: tuple[str, ...] = (
    "序号",
    "付款人账号",
    "付款人户名",
    "收款人账号",
    "收款人户名",
    "收款行",
    "金额(元)",
    "用途",
    "业务参考号",
)
RETURN_HEADER: tuple[str, ...] = (
    "序号",
    "业务参考号",
    "对方账号",
    "对方户名",
    "金额(元)",
    "处理结果",
    "失败原因",
    "银行流水号",
    "处理时间",
)
RETURN_COLUMNS: dict[str, tuple[str, ...]] = {
    "reference": ("业务参考号", "客户业务编号", "企业流水号", "客户流水号"),
    "account": ("对方账号", "收款人账号", "付款人账号"),
    "name": ("对方户名", "收款人户名", "付款人户名"),
    "amount": ("金额(元)", "交易金额", "金额"),
    "result": ("处理结果", "交易状态", "状态"),
    "reason": ("失败原因", "备注", "错误信息"),
    "serial": ("银行流水号", "交易流水号", "流水号"),
    "at": ("处理时间", "交易时间"),
}
BATCH_COLUMNS: dict[str, tuple[str, ...]] = {
    "payer_account": ("付款人账号",),
    "payer_name": ("付款人户名",),
    "payee_account": ("收款人账号",),
    "payee_name": ("收款人户名",),
    "payee_bank": ("收款行",),
    "amount": ("金额(元)",),
    "purpose": ("用途",),
    "reference": ("业务参考号",),
}
PAID = "成功"
FAILED = "失败"
_RESULTS = {"成功": True, "交易成功": True, "已成功": True, "失败": False, "交易失败": False}


@dataclass(frozen=True)
class BatchLine:
    reference: str  # our order id
    payer_account: str
    payer_name: str
    payee_account: str
    payee_name: str
    payee_bank: str
    amount_fen: int
    purpose: str  # as written: starts with the reference


@dataclass(frozen=True)
class ReturnLine:
    reference: str
    account: str
    name: str
    amount_fen: int
    paid: bool
    reason: str  # empty exactly when paid
    serial: str
    at: dt.datetime | None  # local wall clock, as the bank writes it
    row: int = field(default=0, compare=False, repr=False)  # in the file read


def purpose_with_reference(reference: str, purpose: str) -> str:
    return f"{reference} {purpose}".strip()


def render_batch(lines: Sequence[BatchLine], fmt: FileFormat, title: str = "") -> bytes:
    rows: list[tuple[Any, ...]] = [
        (
            n,
            ln.payer_account,
            ln.payer_name,
            ln.payee_account,
            ln.payee_name,
            ln.payee_bank,
            decimal_yuan(ln.amount_fen) if fmt == "xlsx" else yuan(ln.amount_fen),
            ln.purpose,
            ln.reference,
        )
        for n, ln in enumerate(lines, start=1)
    ]
    if fmt == "csv":
        return write_csv(BATCH_HEADER, rows)
    return write_xlsx(title or "批量付款", BATCH_HEADER, rows, money_columns=(6,))


def parse_batch(data: bytes, filename: str = "") -> list[BatchLine]:
    rows = read_rows(data, filename)
    head, cols = locate(rows, BATCH_COLUMNS, optional=("payee_bank",))
    out: list[BatchLine] = []
    problems: list[RowProblem] = []
    for rowno, row in enumerate(rows[head + 1 :], start=head + 2):
        cells = {f: cell_text(row[i]) if i < len(row) else "" for f, i in cols.items()}
        if not any(cells.values()):
            continue
        try:
            amount = cell_fen(row[cols["amount"]] if cols["amount"] < len(row) else "")
        except ValueError as exc:
            problems.append(RowProblem(rowno, "金额(元)", str(exc)))
            continue
        missing = [
            BATCH_COLUMNS[f][0]
            for f in ("payer_account", "payee_account", "payee_name", "reference")
            if not cells[f]
        ]
        problems.extend(RowProblem(rowno, c, "不能为空") for c in missing)
        out.append(
            BatchLine(
                reference=cells["reference"],
                payer_account=cells["payer_account"],
                payer_name=cells["payer_name"],
                payee_account=cells["payee_account"],
                payee_name=cells["payee_name"],
                payee_bank=cells.get("payee_bank", ""),
                amount_fen=amount,
                purpose=cells["purpose"],
            )
        )
    if problems:
        raise rejected(problems)
    return out


def render_returns(lines: Iterable[ReturnLine], fmt: FileFormat) -> bytes:
    rows = [
        (
            n,
            ln.reference,
            ln.account,
            ln.name,
            decimal_yuan(ln.amount_fen) if fmt == "xlsx" else yuan(ln.amount_fen),
            PAID if ln.paid else FAILED,
            ln.reason,
            ln.serial,
            ln.at.strftime("%Y-%m-%d %H:%M:%S") if ln.at else "",
        )
        for n, ln in enumerate(lines, start=1)
    ]
    if fmt == "csv":
        return write_csv(RETURN_HEADER, rows)
    return write_xlsx("处理结果", RETURN_HEADER, rows, money_columns=(4,))


def parse_returns(data: bytes, filename: str = "") -> list[ReturnLine]:
    """Every row of a return file; a reference listed twice is an error."""
    rows = read_rows(data, filename)
    head, cols = locate(rows, RETURN_COLUMNS, optional=("account", "name", "serial", "at"))
    out: list[ReturnLine] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for rowno, row in enumerate(rows[head + 1 :], start=head + 2):
        raw = {f: row[i] if i < len(row) else None for f, i in cols.items()}
        cells = {f: cell_text(v) for f, v in raw.items()}
        if not any(cells.values()):
            continue
        before = len(problems)
        ref = cells["reference"]
        if not ref:
            problems.append(RowProblem(rowno, "业务参考号", "不能为空"))
        elif ref in seen:
            problems.append(RowProblem(rowno, "业务参考号", f"与第 {seen[ref]} 行重复"))
        seen.setdefault(ref, rowno)
        paid = _RESULTS.get(cells["result"])
        if paid is None:
            problems.append(
                RowProblem(rowno, "处理结果", f"应为 成功 或 失败：{cells['result']!r}")
            )
        elif not paid and not cells.get("reason"):
            problems.append(RowProblem(rowno, "失败原因", "失败的指令须写明原因"))
        amount = 0
        try:
            amount = cell_fen(raw["amount"])
        except ValueError as exc:
            problems.append(RowProblem(rowno, "金额(元)", str(exc)))
        at = None
        if cells.get("at"):
            try:
                at = dt.datetime.combine(cell_day(raw["at"]), cell_time(raw["at"]))
            except ValueError as exc:
                problems.append(RowProblem(rowno, "处理时间", str(exc)))
        if len(problems) > before:
            continue
        out.append(
            ReturnLine(
                reference=ref,
                account=cells.get("account", ""),
                name=cells.get("name", ""),
                amount_fen=amount,
                paid=bool(paid),
                reason="" if paid else cells.get("reason", ""),
                serial=cells.get("serial", ""),
                at=at,
                row=rowno,
            )
        )
    if problems:
        raise rejected(problems)
    return out
