"""Roll-ups of the payments for the dashboard (R-R2): the quarter's figures kept current
by ``reports.service.catch_up`` so a chart reads a few hundred rows, not the quarter's
millions of payments.

Contract: these tables are derived data, never a source of truth: each equals what a
GROUP BY over ``payments`` (approved, net of reversals and refunds) gives for the rows
folded so far; ``report_watermarks`` says, per source, up to which id that is. Nothing
but ``catch_up`` writes them; dropping their rows and watermarks and catching up again
rebuilds them. A missing unit (a guest) is ``home_unit_id`` 0, a missing class ``''``.
- ``report_days`` — per business day × diner class: payments, net amount, the subsidy
  purse's part, reversals (daily chart, headline figures).
- ``report_slots`` — per business day × five minutes of local time: payments (rush).
- ``report_canteen_slots`` — the same per canteen, for the lunch window only
  (``LUNCH_SLOTS``): a region's rush chart (issue 17 §1).
- ``report_canteens`` — per quarter × canteen × diner class (revenue, matrix margins).
- ``report_units`` — per quarter × payer's unit (matrix margins).
- ``report_pairs`` — per quarter × payer's unit × canteen (the matrix's cells).
- ``report_diners`` — per quarter × person: payments (how many people ate), the subsidy
  purse's part of them, and the subsidy credited to the person by the quarter's
  distribution entries (a region's subsidy figures: its people's).
- ``report_funds`` — per quarter: subsidy credited to people's purses by the quarter's
  distribution entries (the headline's "distributed").
- ``report_meals`` — per quarter × canteen × meal code × diner class (per-capita report).
- ``report_meal_days`` — per business day × canteen × meal code: payments (waste per diner)
  and net amount (a region's daily chart).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base

SOURCES = ("payments", "reversals", "refunds")
# The local minutes the rush chart shows (10:30–14:00): the per-canteen slots keep only these.
LUNCH_SLOTS = (10 * 60 + 30, 14 * 60)


class ReportWatermark(Base):
    """How far each source has been folded into the roll-ups (ids ≤ ``done_id``), and
    the candidate for the next fold (``pending_id``, seen at ``pending_at``)."""

    __tablename__ = "report_watermarks"
    source: Mapped[str] = mapped_column(String(12), primary_key=True)
    done_id: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_id: Mapped[int | None] = mapped_column(BigInteger)
    pending_at: Mapped[datetime | None] = mapped_column(DateTime)
    folded_at: Mapped[datetime | None] = mapped_column(DateTime)


class ReportDay(Base):
    __tablename__ = "report_days"
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    diner_class: Mapped[str] = mapped_column(String(10), primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    reversals: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportSlot(Base):
    __tablename__ = "report_slots"
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # local minute, /5
    payments: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportCanteenSlot(Base):
    __tablename__ = "report_canteen_slots"
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # local minute, /5
    payments: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportCanteen(Base):
    __tablename__ = "report_canteens"
    quarter: Mapped[str] = mapped_column(String(6), primary_key=True)
    canteen_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    diner_class: Mapped[str] = mapped_column(String(10), primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    reversals: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportUnit(Base):
    __tablename__ = "report_units"
    quarter: Mapped[str] = mapped_column(String(6), primary_key=True)
    home_unit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportPair(Base):
    __tablename__ = "report_pairs"
    quarter: Mapped[str] = mapped_column(String(6), primary_key=True)
    home_unit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (Index("ix_report_pairs_canteen", "quarter", "canteen_id"),)


class ReportDiner(Base):
    __tablename__ = "report_diners"
    quarter: Mapped[str] = mapped_column(String(6), primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    distributed_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportFund(Base):
    __tablename__ = "report_funds"
    quarter: Mapped[str] = mapped_column(String(6), primary_key=True)
    distributed_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportMeal(Base):
    """Per quarter × canteen × meal code × diner class (the per-capita report, R-S4);
    a payment without a meal period (shop goods, e-CNY) has meal ``''``."""

    __tablename__ = "report_meals"
    quarter: Mapped[str] = mapped_column(String(6), primary_key=True)
    canteen_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meal: Mapped[str] = mapped_column(String(20), primary_key=True)
    diner_class: Mapped[str] = mapped_column(String(10), primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportMealDay(Base):
    """Per business day × canteen × meal code: payments (the diners a day's leftover
    weight is divided by, waste per diner)."""

    __tablename__ = "report_meal_days"
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meal: Mapped[str] = mapped_column(String(20), primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
