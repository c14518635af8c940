"""Offline terminals' tables: device signing keys, issued working sets, uploaded records,
and the debts a late record leaves when the purse has run short since.

Contract:
- ``offline_terminals``: one row per terminal that works offline — its Ed25519 public
  key (the private half never leaves the device) and ``next_seq``, the sequence number
  the server applies next, and the gap the terminal has shown by sending later records
  first (``ahead_seq``, ``ahead_taken_at``: the daily reconciliation lists it). The row is locked while a batch is applied, so one
  terminal's records are applied one batch at a time, in order.
- ``offline_working_sets``: every version issued to a terminal (when, confirmed until
  when, its limits); an upload is checked against the version its record names.
- ``offline_ws_entries``: what each key of a terminal's working set became at the version
  it changed in (the entry less the payment-code secrets, and a digest of the whole
  entry; NULL: removed then), the key's newest row marked ``latest``. A version stores
  only what changed (a city's 83,600 people once, then the few who changed), a record is
  checked against its person's entry as of its version (one indexed row), and a refresh
  since version v sends the keys whose newest row is after v.
- ``offline_records``: one row per record whose signature held and whose sequence number
  was due — applied (with its payment) or refused (with its reason). ``(terminal_id,
  seq)`` is unique: a batch sent again is answered from here (and counted, ``resent``).
- ``offline_debts``: the part of an applied record the purses could not cover (posted
  to the person's ``offline_debt`` account), and how much of it the next allocations
  have recovered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId


class OfflineTerminal(Base):
    __tablename__ = "offline_terminals"
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # Ed25519, 32 bytes as hex
    next_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    registered_at: Mapped[datetime] = mapped_column(DateTime)
    # A gap the terminal has shown: the lowest sequence number it sent ahead of
    # ``next_seq`` (answered ``deferred``; ``next_seq`` up to it is missing) and the
    # earliest time such a record was taken (the missing ones were taken before it).
    # Cleared once ``next_seq`` passes it.
    ahead_seq: Mapped[int | None] = mapped_column(BigInteger)
    ahead_taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint("next_seq >= 1", name="seq_positive"),)


class OfflineWorkingSet(Base):
    __tablename__ = "offline_working_sets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    version: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    # The last refresh that found nothing changed and confirmed this version again: a
    # record's ``synced_at`` must fall between the two.
    refreshed_at: Mapped[datetime] = mapped_column(DateTime)
    limits: Mapped[str] = mapped_column(Text)  # JSON: the terminal's limits
    __table_args__ = (UniqueConstraint("terminal_id", "version"),)


class OfflineWorkingSetEntry(Base):
    __tablename__ = "offline_ws_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    key: Mapped[str] = mapped_column(String(80))  # person:<id>, meal:<code>, lost:<card no>
    version: Mapped[int] = mapped_column(BigInteger)  # the version it changed in
    entry: Mapped[str | None] = mapped_column(Text)  # JSON, no secrets; NULL: removed
    digest: Mapped[str | None] = mapped_column(String(32))  # of the full entry; NULL: removed
    latest: Mapped[bool] = mapped_column(Boolean)  # the key's newest row
    __table_args__ = (
        # The entry as of a version: the newest row of the key at or below it.
        UniqueConstraint("terminal_id", "key", "version"),
        Index("ix_offline_ws_entries_latest", "terminal_id", "latest", "version"),
    )


class OfflineRecord(Base):
    __tablename__ = "offline_records"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    txn_id: Mapped[str] = mapped_column(String(64))
    ws_version: Mapped[int] = mapped_column(BigInteger)
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))  # applied | refused
    reason: Mapped[str | None] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    meal: Mapped[str | None] = mapped_column(String(20))
    code_step: Mapped[int | None] = mapped_column(BigInteger)
    taken_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC, the terminal's clock
    received_at: Mapped[datetime] = mapped_column(DateTime)
    payment_id: Mapped[int | None] = mapped_column(BigInteger)
    period: Mapped[str | None] = mapped_column(String(6))  # the quarter it was booked in
    resent: Mapped[int] = mapped_column(BigInteger, default=0)  # times sent again (duplicates)
    __table_args__ = (
        UniqueConstraint("terminal_id", "seq"),
        CheckConstraint("status IN ('applied','refused')", name="status"),
        CheckConstraint("amount_fen >= 0", name="amount_nonneg"),
    )


class OfflineDebt(Base):
    __tablename__ = "offline_debts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("offline_records.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    recovered_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    recovered_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="positive"),
        CheckConstraint("recovered_fen >= 0 AND recovered_fen <= amount_fen", name="recovered"),
    )
