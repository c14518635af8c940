"""Keeping the bank's files and statement lines once (inside the caller's transaction).

Contract:
- ``record_file(conn, …)`` stores a file's bytes and returns ``(id, new)``: the same
  bytes of the same kind read again are the first row (``new`` False).
- ``store_statement(conn, file_id, lines, now)`` keeps each statement line once per
  (account, serial) and returns the lines that were new. A line that repeats one
  already kept changes nothing; one that contradicts it (same account and serial, any
  other field different) is a row problem and the whole file is refused
  (``ImportRejected``), so the caller's transaction writes nothing.
- ``stored_statement(conn, day)`` gives back the kept lines of a local day in the order
  they were read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_

from onecard.channels.models import BankFile, BankStatementLine
from onecard.channels.statement import StatementLine
from onecard.channels.tables import RowProblem, is_xlsx, rejected


def file_format(data: bytes, filename: str) -> str:
    return "xlsx" if is_xlsx(data, filename) else "csv"


def record_file(
    conn: Connection,
    *,
    kind: str,
    name: str,
    data: bytes,
    lines: int,
    amount_fen: int,
    now: datetime,
    by: str,
    fmt: str | None = None,
) -> tuple[int, bool]:
    digest = hashlib.sha256(data).hexdigest()
    known = conn.execute(
        select(BankFile.id).where(BankFile.kind == kind, BankFile.sha256 == digest)
    ).scalar()
    if known is not None:
        return int(known), False
    fid = conn.execute(
        insert(BankFile)
        .values(
            kind=kind,
            name=name[:200],
            fmt=fmt or file_format(data, name),
            sha256=digest,
            lines=lines,
            amount_fen=amount_fen,
            created_at=now,
            created_by=by[:60],
            content=data,
        )
        .returning(BankFile.id)
    ).scalar_one()
    return int(fid), True


def _key(line: StatementLine) -> tuple[str, str]:
    return line.account_no, line.serial


def _same(row: Any, line: StatementLine) -> bool:
    return (
        row.day == line.day
        and _as_time(row.time) == line.time
        and row.direction == line.direction
        and int(row.amount_fen) == line.amount_fen
        and int(row.balance_fen) == line.balance_fen
        and row.memo == line.memo
        and row.counterparty_account == line.counterparty_account
    )


def _as_time(value: object) -> dtime:
    return value if isinstance(value, dtime) else dtime.fromisoformat(str(value))


def store_statement(
    conn: Connection,
    file_id: int,
    lines: Sequence[StatementLine],
    now: datetime,
) -> list[StatementLine]:
    """Keep the lines not kept yet (a refusal names each line's row in its file)."""
    keys = list({_key(ln) for ln in lines})
    known: dict[tuple[str, str], Any] = {}
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        for kept in conn.execute(
            select(BankStatementLine.__table__).where(
                tuple_(BankStatementLine.account_no, BankStatementLine.serial).in_(part)
            )
        ):
            known[(kept.account_no, kept.serial)] = kept
    problems: list[RowProblem] = []
    new: list[StatementLine] = []
    seen: dict[tuple[str, str], StatementLine] = {}
    for ln in lines:
        key = _key(ln)
        row = known.get(key)
        if row is not None and not _same(row, ln):
            problems.append(RowProblem(ln.row, "流水号", f"流水 {ln.serial} 与此前读入的不一致"))
        elif key in seen and seen[key] != ln:
            problems.append(RowProblem(ln.row, "流水号", f"流水 {ln.serial} 在文件中重复"))
        elif row is None and key not in seen:
            new.append(ln)
        seen.setdefault(key, ln)
    if problems:
        raise rejected(problems)
    if new:
        conn.execute(
            insert(BankStatementLine),
            [
                {
                    "account_no": ln.account_no,
                    "serial": ln.serial,
                    "day": ln.day,
                    "time": ln.time,
                    "direction": ln.direction,
                    "amount_fen": ln.amount_fen,
                    "counterparty_name": ln.counterparty_name[:100],
                    "counterparty_account": ln.counterparty_account[:40],
                    "memo": ln.memo,
                    "balance_fen": ln.balance_fen,
                    "file_id": file_id,
                    "imported_at": now,
                }
                for ln in new
            ],
        )
    return new


def stored_statement(conn: Connection, day: date) -> list[StatementLine]:
    return [
        StatementLine(
            day=r.day,
            time=_as_time(r.time),
            serial=r.serial,
            direction=r.direction,
            amount_fen=int(r.amount_fen),
            counterparty_name=r.counterparty_name,
            counterparty_account=r.counterparty_account,
            memo=r.memo,
            balance_fen=int(r.balance_fen),
            account_no=r.account_no,
        )
        for r in conn.execute(
            select(BankStatementLine.__table__)
            .where(BankStatementLine.day == day)
            .order_by(BankStatementLine.id)
        )
    ]
