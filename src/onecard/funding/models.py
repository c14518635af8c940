"""Funding tables: notices, receipts, bank orders, quality rules/scores, settlements,
and the unit information table (the audit trail of money runs is ``onecard.audit``).

Contract: money itself lives only in the ledger; these rows are the decision records
that point at journal entries (``entry_id``) and bank orders (``order_id``). Every row a
run writes has a natural unique key (unit+quarter, bank serial, canteen+quarter, order id)
so a run repeated finds its first result instead of writing a second one.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId


class FundingNotice(Base):
    """缴款通知: what a unit owes for a quarter, due by the 10th of its first month (R-A4)."""

    __tablename__ = "funding_notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    quarter: Mapped[str] = mapped_column(String(6))
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    headcount: Mapped[int] = mapped_column(Integer)
    amount_due_fen: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    issued_by: Mapped[str] = mapped_column(String(60))
    __table_args__ = (
        UniqueConstraint("unit_id", "quarter"),
        CheckConstraint("amount_due_fen >= 0", name="nonneg"),
    )


class FundingReceipt(Base):
    """One bank credit into the bureau's dining-fund account (a unit's payment)."""

    __tablename__ = "funding_receipts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    bank_serial: Mapped[str] = mapped_column(String(40), unique=True)
    day: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    counterparty_name: Mapped[str] = mapped_column(String(100))
    counterparty_account: Mapped[str] = mapped_column(String(40))
    memo: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("funding_notices.id"), index=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    transfer_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint("amount_fen > 0", name="positive"),)


class BankOrder(Base):
    """An order we gave the bank: transfer, sweep, operator payout or leaver's refund."""

    __tablename__ = "funding_bank_orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # transfer|sweep|settlement|leaver_refund
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    from_account: Mapped[str] = mapped_column(String(40))
    to_account: Mapped[str] = mapped_column(String(40))
    to_name: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(100))
    ref_id: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    bank_ref: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="positive"),
        CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
    )


class QualityBand(Base):
    """A band of a canteen's quality rule (set by the owning unit): score ≥ min → share."""

    __tablename__ = "funding_quality_bands"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    min_score: Mapped[int] = mapped_column(Integer)
    share_bp: Mapped[int] = mapped_column(Integer)  # 10000 = 100 % paid
    __table_args__ = (
        UniqueConstraint("canteen_id", "min_score"),
        CheckConstraint("min_score >= 0 AND min_score <= 100", name="score"),
        CheckConstraint("share_bp >= 0 AND share_bp <= 10000", name="share"),
    )


class QualityScore(Base):
    """The owning unit's quarterly assessment of its canteen operator (R-A7)."""

    __tablename__ = "funding_quality_scores"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    quarter: Mapped[str] = mapped_column(String(6))
    score: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(60))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("canteen_id", "quarter"),
        CheckConstraint("score >= 0 AND score <= 100", name="score"),
    )


class Settlement(Base):
    """One canteen's quarter-end settlement: gross, fee, quality share, net paid out."""

    __tablename__ = "funding_settlements"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    quarter: Mapped[str] = mapped_column(String(6))
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[int | None] = mapped_column(Integer)
    share_bp: Mapped[int] = mapped_column(Integer)
    withheld_fen: Mapped[int] = mapped_column(BigInteger)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    order_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # nothing|payout_pending|paid|payout_failed
    settled_at: Mapped[datetime] = mapped_column(DateTime)
    settled_by: Mapped[str] = mapped_column(String(60))
    __table_args__ = (
        UniqueConstraint("canteen_id", "quarter"),
        CheckConstraint("gross_fen = fee_fen + withheld_fen + net_fen", name="parts_sum"),
        CheckConstraint("fee_fen >= 0 AND withheld_fen >= 0 AND net_fen >= 0", name="nonneg"),
    )


class UnitInfo(Base):
    """A unit's row of the seed's 信息统计表 (R-U3), as last imported."""

    __tablename__ = "funding_unit_info"
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    canteens: Mapped[int] = mapped_column(Integer, default=0)
    service_staff: Mapped[int] = mapped_column(Integer, default=0)
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    dining_area_m2: Mapped[int] = mapped_column(Integer, default=0)
    breakfast_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    lunch_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    dinner_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    location: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str] = mapped_column(String(40), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime)
