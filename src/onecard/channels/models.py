"""What OneCard keeps of its file exchange with the bank (migration 0006).

Contract:
- ``BankFile``: every file written for the bank (a batch of transfers or card debits)
  or read from it (a return file, a statement), with its bytes, so a batch can be
  downloaded again exactly and every intake can be shown later. A file read twice is
  one row (``kind`` + SHA-256 are unique).
- ``BankFileOrder``: the file adapter's queue — one row per order handed to
  ``FileExchangeBank``: queued, then written into exactly one batch file, then given
  its result by a return file (paid / failed with the reason, the bank's serial).
- ``BankStatementLine``: each statement line read, once (``account_no`` + ``serial``
  are unique); an upload repeating a line changes nothing, one contradicting a line
  already read is refused whole.
The orders' *business* state stays on ``funding_bank_orders`` / ``topup_orders``;
these rows are the evidence it follows from.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

FILE_KINDS = ("transfers", "collections", "returns", "statement")


class BankFile(Base):
    __tablename__ = "bank_files"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    fmt: Mapped[str] = mapped_column(String(4))  # csv | xlsx
    sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(60))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (
        UniqueConstraint("kind", "sha256"),
        CheckConstraint("kind IN ('transfers','collections','returns','statement')", name="kind"),
        CheckConstraint("fmt IN ('csv','xlsx')", name="fmt"),
    )


class BankFileOrder(Base):
    __tablename__ = "bank_file_orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # transfer | collection
    payer_account: Mapped[str] = mapped_column(String(40))
    payer_name: Mapped[str] = mapped_column(String(100))
    payee_account: Mapped[str] = mapped_column(String(40))
    payee_name: Mapped[str] = mapped_column(String(100))
    payee_bank: Mapped[str] = mapped_column(String(100))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(200))
    queue_ref: Mapped[str] = mapped_column(String(40))
    queued_at: Mapped[datetime] = mapped_column(DateTime)
    batch_file_id: Mapped[int | None] = mapped_column(ForeignKey("bank_files.id"), index=True)
    result: Mapped[str | None] = mapped_column(String(6))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    bank_serial: Mapped[str | None] = mapped_column(String(40))
    result_at: Mapped[datetime | None] = mapped_column(DateTime)
    result_file_id: Mapped[int | None] = mapped_column(ForeignKey("bank_files.id"))
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="positive"),
        CheckConstraint("kind IN ('transfer','collection')", name="kind"),
        CheckConstraint("result IS NULL OR result IN ('paid','failed')", name="result"),
    )


class BankStatementLine(Base):
    __tablename__ = "bank_statement_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_no: Mapped[str] = mapped_column(String(40))
    serial: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date, index=True)
    time: Mapped[time] = mapped_column(Time)
    direction: Mapped[str] = mapped_column(String(6))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    counterparty_name: Mapped[str] = mapped_column(String(100))
    counterparty_account: Mapped[str] = mapped_column(String(40))
    memo: Mapped[str] = mapped_column(Text)
    balance_fen: Mapped[int] = mapped_column(BigInteger)
    file_id: Mapped[int] = mapped_column(ForeignKey("bank_files.id"), index=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("account_no", "serial"),
        CheckConstraint("direction IN ('credit','debit')", name="direction"),
        CheckConstraint("amount_fen > 0", name="positive"),
    )
