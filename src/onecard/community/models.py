"""Community canteens for residents (社区食堂, R-C1..R-C5, seed 003 Taiyuan).

Contract:
- ``community_rules``: the civil affairs bureau's rules, one row per version (``version``
  unique, the newest applies from its ``set_at``); a version is never changed, a change
  is a new version, audited. Every meal records the version it was priced by.
- ``residents``: a resident is not staff of a unit (no ``people`` row): name, ID number
  (unique, its check digit checked), birth date taken from the ID number, and a wallet —
  a ``resident_wallet`` ledger account (owner ``resident``, owner id the resident's),
  cached and never negative.
  ``resident_categories``: the categories held, each with its proof note, once each.
- ``community_canteens``: operator, address, rating (A/AA/AAA or none); each has three
  ledger accounts (owner ``community``): ``cc_sales`` (what residents paid from their
  wallets), ``cc_subsidy`` (subsidies booked at payment, awaiting the monthly claim),
  ``cc_due`` (approved claims and rating subsidies owed to the canteen).
  ``community_dishes``: its meals and prices; a love meal (爱心餐) costs at most the
  rules' cap (checked by the service; the database keeps prices positive).
- ``community_meals``: one row per meal paid — price, subsidy (and of it the daily
  allowance), delivery subsidy, wallet part, winning category, rules version, the day and
  slot (Beijing time), the counter's transaction id (unique per canteen: a retry finds
  it) and the ledger entry. ``price = subsidy + wallet`` (CHECK).
- ``community_claims`` / ``community_claim_lines``: a canteen's monthly subsidy claim and
  one line per subsidised meal (a meal is claimed once: ``meal_id`` unique); a line is
  pending, approved or rejected (a rejection carries its reason).
- ``community_ratings``: a canteen's yearly rating, the score's three parts, the grade
  and the subsidy booked (once per canteen and year).
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
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId


class CommunityRules(Base):
    __tablename__ = "community_rules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    rules: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(200), default="")
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime] = mapped_column(DateTime)


class Resident(Base):
    __tablename__ = "residents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(60))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    birth_date: Mapped[date] = mapped_column(Date)
    address: Mapped[str] = mapped_column(String(200), default="")
    registered_at: Mapped[datetime] = mapped_column(DateTime)


class ResidentCategory(Base):
    __tablename__ = "resident_categories"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    proof: Mapped[str] = mapped_column(String(200))
    __table_args__ = (UniqueConstraint("resident_id", "category"),)


class CommunityCanteen(Base):
    __tablename__ = "community_canteens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    operator: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    rating: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("rating IS NULL OR rating IN ('A','AA','AAA')", name="rating"),
    )


class CommunityDish(Base):
    __tablename__ = "community_dishes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("community_canteens.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    love: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (
        UniqueConstraint("canteen_id", "name"),
        CheckConstraint("price_fen > 0", name="positive"),
    )


class CommunityMeal(Base):
    __tablename__ = "community_meals"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("community_canteens.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    dish_id: Mapped[int] = mapped_column(ForeignKey("community_dishes.id"))
    txn_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger)
    allowance_fen: Mapped[int] = mapped_column(BigInteger)
    wallet_fen: Mapped[int] = mapped_column(BigInteger)
    delivery_fen: Mapped[int] = mapped_column(BigInteger)
    delivered: Mapped[bool] = mapped_column(Boolean)
    love: Mapped[bool] = mapped_column(Boolean)
    category: Mapped[str] = mapped_column(String(100))
    age: Mapped[int] = mapped_column(Integer)
    rules_version: Mapped[int] = mapped_column(Integer)
    meal_day: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(10))
    paid_at: Mapped[datetime] = mapped_column(DateTime)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("canteen_id", "txn_id"),
        CheckConstraint("price_fen = subsidy_fen + wallet_fen", name="parts"),
        CheckConstraint(
            "subsidy_fen >= 0 AND wallet_fen >= 0 AND delivery_fen >= 0 "
            "AND allowance_fen >= 0 AND allowance_fen <= subsidy_fen",
            name="nonneg",
        ),
        Index("ix_community_meals_resident_day", "resident_id", "meal_day"),
        Index("ix_community_meals_canteen_day", "canteen_id", "meal_day"),
    )


class CommunityClaim(Base):
    __tablename__ = "community_claims"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("community_canteens.id"))
    month: Mapped[str] = mapped_column(String(7))  # '2026-03'
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    approved_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("canteen_id", "month"),
        CheckConstraint("status IN ('open','approved')", name="status"),
    )


class CommunityClaimLine(Base):
    __tablename__ = "community_claim_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("community_claims.id"), index=True)
    meal_id: Mapped[int] = mapped_column(ForeignKey("community_meals.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # meal subsidy + delivery subsidy
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200), default="")
    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected')", name="status"),
        CheckConstraint("status <> 'rejected' OR reason <> ''", name="reason"),
    )


class CommunityRating(Base):
    __tablename__ = "community_ratings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("community_canteens.id"))
    year: Mapped[int] = mapped_column(Integer)
    frequency_points: Mapped[int] = mapped_column(Integer)
    satisfaction_points: Mapped[int] = mapped_column(Integer)
    special_points: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str | None] = mapped_column(String(3))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    rated_by: Mapped[str] = mapped_column(String(100))
    rated_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("canteen_id", "year"),)
