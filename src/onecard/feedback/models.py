"""Satisfaction ratings (满意度评价, R-F4): one rating per paid meal, by the diner who paid.

Contract: a ``ratings`` row belongs to exactly one approved payment (``payment_id`` is
unique: once per payment) and to the person who made it; the four scores are 1–5 stars,
checked in Python (``feedback.service``) and by the database.

A ``dish_ratings`` row (migration 0025, R-S1) is one diner's stars (1–5) and optional
comment for one dish of one approved payment's item lines (``pay.models.PaymentLine``):
unique per (payment, item) — once per dish per payment.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

ASPECTS = ("taste", "hygiene", "service", "value")


class Rating(Base):
    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    taste: Mapped[int] = mapped_column(Integer)
    hygiene: Mapped[int] = mapped_column(Integer)
    service: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = tuple(
        CheckConstraint(f"{a} BETWEEN 1 AND 5", name=f"{a}_stars") for a in ASPECTS
    )


MAX_DISH_COMMENT = 200


class DishRating(Base):
    __tablename__ = "dish_ratings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(MAX_DISH_COMMENT), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("payment_id", "item_id"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
        Index("ix_dish_ratings_item_created", "item_id", "created_at"),
        Index("ix_dish_ratings_canteen_created", "canteen_id", "created_at"),
    )
