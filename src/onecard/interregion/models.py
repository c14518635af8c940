"""Dining agreements between fund regions and their quarterly clearing statements.

Contract:
- ``interregion_agreements``: fund region A (``home_region_id``, whose people eat) and
  fund region B (``host_region_id``, whose canteens serve); which of A's units
  (``unit_ids``: a JSON list of ids, NULL = all) and which of B's canteens
  (``canteen_ids``, NULL = all); the ``price_class`` A's people pay at B (``visitor``:
  B's visitor price, ``own``: B's staff price); the ``purse`` they pay from (``subsidy``,
  ``cash``, or ``subsidy_first``: subsidy then cash); valid from / to (inclusive, local
  dates; no end: open); ``status`` proposed → accepted → suspended ⇄ accepted → ended
  (proposed → ended when refused). ``proposed_by`` is the side that proposed (``home`` or
  ``host``); the other side accepts. B's bank account that receives the clearing.
  A payment is decided under an agreement only while it is ``accepted`` and the day is
  within its dates (``pay.interregion``).
- ``interregion_statements``: one per (A, B, quarter): gross fen, the figures (JSON: per
  A unit, per B canteen, the payment count), each side's confirmation (who, when; a
  change of the figures clears both), the status open → confirmed (both sides) → booked
  (the ledger entry, kind ``interregion_clearing``) → paid (the bank's success) or
  payout_failed (the booking compensated; sent again under a new order id).
- ``interregion_fund_version``: one row, bumped by a trigger on every write to
  ``regions`` (migration 0031): the payment path caches the fund-region map in process
  and reloads it when this version changes (``pay.interregion``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
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

PRICE_CLASSES = ("visitor", "own")
PURSES = ("subsidy", "cash", "subsidy_first")
AGREEMENT_STATES = ("proposed", "accepted", "suspended", "ended")
STATEMENT_STATES = ("open", "confirmed", "booked", "paid", "payout_failed")


class Agreement(Base):
    __tablename__ = "interregion_agreements"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))  # = home, for placement
    home_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    host_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    unit_ids: Mapped[str | None] = mapped_column(Text)
    canteen_ids: Mapped[str | None] = mapped_column(Text)
    price_class: Mapped[str] = mapped_column(String(10))
    purse: Mapped[str] = mapped_column(String(14))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    proposed_by: Mapped[str] = mapped_column(String(4))
    host_account_no: Mapped[str] = mapped_column(String(32))
    host_account_name: Mapped[str] = mapped_column(String(60))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("price_class IN ('visitor','own')", name="price_class"),
        CheckConstraint("purse IN ('subsidy','cash','subsidy_first')", name="purse"),
        CheckConstraint("status IN ('proposed','accepted','suspended','ended')", name="status"),
        CheckConstraint("proposed_by IN ('home','host')", name="proposed_by"),
        CheckConstraint("home_region_id <> host_region_id", name="two_regions"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="dates"),
    )


class Statement(Base):
    __tablename__ = "interregion_statements"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))  # = home
    home_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    host_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    quarter: Mapped[str] = mapped_column(String(7))
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    payments: Mapped[int] = mapped_column(Integer)
    figures: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(14))
    home_confirmed_by: Mapped[str | None] = mapped_column(String(60))
    home_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    host_confirmed_by: Mapped[str | None] = mapped_column(String(60))
    host_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    order_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("home_region_id", "host_region_id", "quarter"),
        CheckConstraint(
            "status IN ('open','confirmed','booked','paid','payout_failed')", name="status"
        ),
        CheckConstraint("gross_fen >= 0", name="gross"),
    )


class FundVersion(Base):
    __tablename__ = "interregion_fund_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
