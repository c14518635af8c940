"""Bank statement lines and the daily statement file (对账单).

Contract:

- ``StatementLine`` is one movement through one of the platform's own bank accounts, seen
  from that account: ``direction`` is ``"credit"`` (贷, money in) or ``"debit"`` (借, money
  out); ``amount_fen`` is a positive int; ``balance_fen`` is the account's running balance
  after the line; ``day``/``time`` are the city's local (Asia/Shanghai) wall clock, to the
  second; ``memo`` (摘要/附言) carries our order id or, for money a unit sends us, the
  unit's own funding-notice reference.
- ``render_statement_file(lines)`` writes the file the way Chinese bank statement exports
  look: CSV, UTF-8 with BOM, CRLF, one header row (``STATEMENT_HEADER``), amounts in yuan
  with exactly two decimals. The last column, 本方账号, names the platform account a line
  belongs to, so one file can cover all the platform's accounts.
- ``render_statement_xlsx(lines)`` writes the bank's Excel export of the same lines:
  title lines above the header, debit and credit as two amount columns.
- ``parse_statement_file(data, filename)`` reads either (CSV in UTF-8 or GBK, or Excel,
  with the column names banks use, see ``STATEMENT_COLUMNS``) back into exactly the same
  lines. Amounts go from the decimal text (or an Excel number's shortest decimal text)
  to int fen without float arithmetic. Any malformed row rejects the whole file
  (``ImportRejected``, an ``InvalidInput``, naming every row and column); nothing is
  guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
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
    write_xlsx,
)
from onecard.core.money import yuan

Direction = Literal["credit", "debit"]

STATEMENT_HEADER: tuple[str, ...] = (
    "交易日期",
    "交易时间",
    "流水号",
    "借贷标志",
    "金额(元)",
    "对方户名",
    "对方账号",
    "摘要/附言",
    "余额",
    "本方账号",
)

_FLAG_OF: dict[Direction, str] = {"credit": "贷", "debit": "借"}
_DIRECTION_OF: dict[str, Direction] = {"贷": "credit", "借": "debit"}

# Each field of a line, with the column names banks give it (the first is ours).
STATEMENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "day": ("交易日期", "记账日期", "日期"),
    "time": ("交易时间", "时间"),
    "serial": ("流水号", "交易流水号", "账户明细编号-交易流水号"),
    "flag": ("借贷标志", "借贷方向"),
    "amount": ("金额(元)", "交易金额", "发生额"),
    "debit": ("借方发生额(元)", "借方发生额", "借方金额"),
    "credit": ("贷方发生额(元)", "贷方发生额", "贷方金额"),
    "cp_name": ("对方户名",),
    "cp_account": ("对方账号",),
    "memo": ("摘要/附言", "摘要", "附言", "用途"),
    "balance": ("余额", "余额(元)", "账户余额"),
    "account": ("本方账号", "账号"),
}
_OPTIONAL = ("flag", "amount", "debit", "credit", "cp_name", "cp_account", "memo")
XLSX_HEADER: tuple[str, ...] = (
    "交易日期",
    "交易时间",
    "流水号",
    "借方发生额(元)",
    "贷方发生额(元)",
    "余额(元)",
    "对方户名",
    "对方账号",
    "摘要",
    "本方账号",
)


@dataclass(frozen=True)
class StatementLine:
    day: dt.date
    time: dt.time
    serial: str
    direction: Direction
    amount_fen: int
    counterparty_name: str
    counterparty_account: str
    memo: str
    balance_fen: int
    account_no: str
    # Where the line stood in the file it was read from (for a person's error message);
    # not part of the line's identity.
    row: int = field(default=0, compare=False, repr=False)


def render_statement_file(lines: Iterable[StatementLine]) -> bytes:
    """CSV bytes (UTF-8 with BOM, CRLF) with a header row, one row per line, in order."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATEMENT_HEADER)
    for line in lines:
        writer.writerow(
            (
                line.day.isoformat(),
                line.time.strftime("%H:%M:%S"),
                line.serial,
                _FLAG_OF[line.direction],
                yuan(line.amount_fen),
                line.counterparty_name,
                line.counterparty_account,
                line.memo,
                yuan(line.balance_fen),
                line.account_no,
            )
        )
    return out.getvalue().encode("utf-8-sig")


def render_statement_xlsx(lines: Iterable[StatementLine], title: Sequence[str] = ()) -> bytes:
    """The bank's Excel export: title lines, then debit and credit in two columns."""
    rows = [
        (
            line.day.isoformat(),
            line.time.strftime("%H:%M:%S"),
            line.serial,
            decimal_yuan(line.amount_fen) if line.direction == "debit" else None,
            decimal_yuan(line.amount_fen) if line.direction == "credit" else None,
            decimal_yuan(line.balance_fen),
            line.counterparty_name,
            line.counterparty_account,
            line.memo,
            line.account_no,
        )
        for line in lines
    ]
    return write_xlsx("交易明细", XLSX_HEADER, rows, title=title, money_columns=(3, 4, 5))


def parse_statement_file(data: bytes, filename: str = "") -> list[StatementLine]:
    """The lines of a statement file: our CSV (``render_statement_file``), the bank's
    Excel export (``render_statement_xlsx``) or either with the bank's other column
    names (``STATEMENT_COLUMNS``; debit and credit as one flag + amount, or as two
    amount columns). Every row is checked; any problem rejects the whole file."""
    rows = read_rows(data, filename)
    head, cols = locate(rows, STATEMENT_COLUMNS, optional=_OPTIONAL)
    if not ({"flag", "amount"} <= cols.keys() or {"debit", "credit"} <= cols.keys()):
        raise rejected(
            [RowProblem(head + 1, "借贷标志", "缺少借贷标志与金额（或借方、贷方发生额）列")]
        )
    lines: list[StatementLine] = []
    problems: list[RowProblem] = []
    for rowno, row in enumerate(rows[head + 1 :], start=head + 2):
        cells = {f: row[i] if i < len(row) else None for f, i in cols.items()}
        if not any(cell_text(v) for v in cells.values()):
            continue  # a blank line carries nothing
        if cell_text(cells["day"]).startswith(("合计", "总计", "本页合计")):
            continue  # the bank's totals under its export
        try:
            lines.append(_line(cells, rowno))
        except _CellError as exc:
            problems.append(RowProblem(rowno, exc.column, exc.problem))
    if problems:
        raise rejected(problems)
    return lines


class _CellError(Exception):
    def __init__(self, column: str, problem: str) -> None:
        super().__init__(problem)
        self.column, self.problem = column, problem


def _cell(cells: dict[str, Any], field: str, read: Any) -> Any:
    try:
        return read(cells.get(field))
    except ValueError as exc:
        raise _CellError(STATEMENT_COLUMNS[field][0], str(exc)) from None


def _required(value: Any) -> str:
    text = cell_text(value)
    if not text:
        raise ValueError("不能为空")
    return text


def _signed_fen(value: Any) -> int:
    """A balance: may be zero or negative (an account the bank lets go below zero)."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if value == 0:
            return 0
        return -cell_fen(-value) if value < 0 else cell_fen(value)
    text = cell_text(value)
    if text in ("0.00", "-0.00"):
        return 0
    return -cell_fen(text[1:]) if text.startswith("-") else cell_fen(text)


def _line(cells: dict[str, Any], row: int) -> StatementLine:
    if "flag" in cells:
        flag = cell_text(cells["flag"])
        direction = _DIRECTION_OF.get(flag)
        if direction is None:
            raise _CellError("借贷标志", f"应为 借 或 贷：{flag!r}")
        amount = _cell(cells, "amount", cell_fen)
    else:
        debit, credit = cell_text(cells["debit"]), cell_text(cells["credit"])
        if bool(debit) == bool(credit):
            raise _CellError("借方发生额(元)", "借方与贷方发生额须有且只有一个")
        direction = "debit" if debit else "credit"
        amount = _cell(cells, direction, cell_fen)
    return StatementLine(
        day=_cell(cells, "day", cell_day),
        time=_cell(cells, "time", cell_time),
        serial=_cell(cells, "serial", _required),
        direction=direction,
        amount_fen=amount,
        counterparty_name=cell_text(cells.get("cp_name")),
        counterparty_account=cell_text(cells.get("cp_account")),
        memo=cell_text(cells.get("memo")),
        balance_fen=_cell(cells, "balance", _signed_fen),
        account_no=_cell(cells, "account", _required),
        row=row,
    )
