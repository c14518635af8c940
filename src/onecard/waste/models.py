"""Waste supervision (R-R4, R-S5): inspections, daily leftover weights, clean-plate
check-ins (光盘打卡) and waste notices (浪费通报).

Contract: weights are integer grams (``0 ≤ grams ≤ MAX_GRAMS``, checked in Python by
``waste.service`` and by the database); a meal is a meal period code of the canteen
(``breakfast`` / ``lunch`` / ``dinner`` …). A canteen has at most one daily weight per
day and meal (recording again replaces it, audited with the old value); a person at most
one clean-plate check-in per day and meal (unique). Photos are JPEG or PNG bytes of at
most ``MAX_PHOTO`` bytes, kept in the database with their type. Rows are only added,
except a daily weight (replaced) and a notice's acknowledgement (set once).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

MAX_GRAMS = 2_000_000  # 2 tonnes of leftovers from one meal of one canteen: beyond is a typo
MAX_PHOTO = 2 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png")


class WasteInspection(Base):
    """A supervisor's spot check of one canteen's meal."""

    __tablename__ = "waste_inspections"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    inspected_on: Mapped[date] = mapped_column(Date)
    meal: Mapped[str] = mapped_column(String(20))
    leftover_grams: Mapped[int] = mapped_column(BigInteger)
    findings: Mapped[str] = mapped_column(String(1000), default="")
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    photo_type: Mapped[str | None] = mapped_column(String(20))
    inspector_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint(f"leftover_grams BETWEEN 0 AND {MAX_GRAMS}", name="grams"),)


class WasteWeight(Base):
    """A canteen's own record of one day's leftovers of one meal."""

    __tablename__ = "waste_weights"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    day: Mapped[date] = mapped_column(Date)
    meal: Mapped[str] = mapped_column(String(20))
    leftover_grams: Mapped[int] = mapped_column(BigInteger)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("canteen_id", "day", "meal"),
        CheckConstraint(f"leftover_grams BETWEEN 0 AND {MAX_GRAMS}", name="grams"),
    )


class CleanPlate(Base):
    """A diner's clean-plate check-in (光盘打卡) for one meal of one day."""

    __tablename__ = "clean_plates"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    day: Mapped[date] = mapped_column(Date)
    meal: Mapped[str] = mapped_column(String(20))
    photo: Mapped[bytes] = mapped_column(LargeBinary)
    photo_type: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("person_id", "day", "meal"),)


class WasteNotice(Base):
    """The bureau's notice of waste (浪费通报) to a canteen, shown on its public card
    until its unit acknowledges it — and after, marked acknowledged."""

    __tablename__ = "waste_notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    text: Mapped[str] = mapped_column(String(1000))
    issued_by: Mapped[str] = mapped_column(String(120))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_waste_notices_canteen", "canteen_id", "issued_at"),)
