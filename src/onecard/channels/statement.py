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
- ``parse_statement_file(data)`` parses such a file back into exactly the same lines.
  Amounts go from the decimal string to int fen without ever touching ``float``. Anything
  malformed raises ``InvalidInput`` naming the row; nothing is guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from onecard.core.errors import InvalidInput
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

_AMOUNT_RE = re.compile(r"(0|[1-9][0-9]*)\.([0-9]{2})")
_BALANCE_RE = re.compile(r"(-?)(0|[1-9][0-9]*)\.([0-9]{2})")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME_RE = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}")


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


def parse_statement_file(data: bytes) -> list[StatementLine]:
    """The lines of a statement file written by ``render_statement_file`` (BOM optional)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"statement file is not UTF-8: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InvalidInput(f"statement file is not valid CSV: {exc}") from None
    if not rows or tuple(rows[0]) != STATEMENT_HEADER:
        raise InvalidInput("statement file header is not the expected one")
    lines: list[StatementLine] = []
    for rowno, row in enumerate(rows[1:], start=2):
        if not row:  # a blank line (e.g. trailing) carries nothing
            continue
        try:
            lines.append(_parse_row(row))
        except ValueError as exc:
            raise InvalidInput(f"statement file row {rowno}: {exc}") from None
    return lines


def parse_yuan(text: str, *, signed: bool = False) -> int:
    """'12345678.90' -> 1234567890 fen, exactly; '-0.01' only when ``signed``."""
    if signed:
        m = _BALANCE_RE.fullmatch(text)
        if m is None:
            raise ValueError(f"bad amount {text!r}")
        fen = int(m.group(2)) * 100 + int(m.group(3))
        return -fen if m.group(1) else fen
    m = _AMOUNT_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"bad amount {text!r}")
    return int(m.group(1)) * 100 + int(m.group(2))


def _parse_row(row: list[str]) -> StatementLine:
    if len(row) != len(STATEMENT_HEADER):
        raise ValueError(f"expected {len(STATEMENT_HEADER)} fields, got {len(row)}")
    day_s, time_s, serial, flag, amount_s, cp_name, cp_account, memo, balance_s, acct = row
    if not _DATE_RE.fullmatch(day_s):
        raise ValueError(f"bad date {day_s!r}")
    if not _TIME_RE.fullmatch(time_s):
        raise ValueError(f"bad time {time_s!r}")
    direction = _DIRECTION_OF.get(flag)
    if direction is None:
        raise ValueError(f"bad debit/credit flag {flag!r}")
    amount = parse_yuan(amount_s)
    if amount <= 0:
        raise ValueError("amount must be positive")
    if not serial:
        raise ValueError("empty serial number")
    if not acct:
        raise ValueError("empty account number")
    return StatementLine(
        day=dt.date.fromisoformat(day_s),
        time=dt.time.fromisoformat(time_s),
        serial=serial,
        direction=direction,
        amount_fen=amount,
        counterparty_name=cp_name,
        counterparty_account=cp_account,
        memo=memo,
        balance_fen=parse_yuan(balance_s, signed=True),
        account_no=acct,
    )
