"""Menus and pre-orders (R-S2, R-S3, issue 16 §2): a canteen's weekly menu, its
pre-order rule, and the diners' pre-orders with their dish lines.

Contract:

- ``menu_dishes``: one row per dish a canteen serves on a day at a meal (a meal period
  code: ``breakfast`` / ``lunch`` / ``dinner`` …). The dish is a catalogue item of kind
  ``dish``; its price, portion and nutrition stay the catalogue's (read when shown). A
  week's menu is the rows of its seven days.
- ``menu_settings``: a canteen's pre-order rule — the cut-off (Beijing wall-clock time
  on the day *before* the meal: a pre-order for day D is taken, changed or cancelled
  until D−1 at ``cutoff``) and what a no-show's hold becomes (``charge``: paid to the
  canteen as a payment; ``release``: back to the purses). No row: 18:00 and release.
- ``preorders``: a diner's pre-order of one meal of one day at one canteen.
  ``(person_id, request_id)`` is unique: the client's key, so a retried pre-order is
  recognised (the same key with a different body is refused). Status moves only
  ``placed`` → ``cancelled`` | ``picked_up`` | ``no_show``. ``pay_mode`` ``prepaid``
  holds the amount at pre-order (the purses → the person's ``preorder_hold`` account,
  a balanced ledger entry; ``held_subsidy_fen`` / ``held_cash_fen`` say from which purse,
  so a release puts each fen back where it came from); ``at_pickup`` holds nothing.
  A pick-up (or a no-show charge) is a real payment (``payment_id``, the ``payments``
  table) made by the one payment decision core; the hold is released in the same
  transaction, so the money moves once.
- ``preorder_lines``: the dishes and portions of a pre-order, with the price when it
  was taken.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

PAY_MODES = ("prepaid", "at_pickup")
STATUSES = ("placed", "cancelled", "picked_up", "no_show")
NO_SHOW_RULES = ("charge", "release")
MAX_PORTIONS = 20  # portions of one dish in one pre-order: beyond is a typo
HOLD_KIND = "preorder_hold"  # the person's ledger account a prepaid pre-order is held in


class MenuDish(Base):
    """One dish on a canteen's menu for one day and meal."""

    __tablename__ = "menu_dishes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    day: Mapped[date] = mapped_column(Date)
    meal: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        UniqueConstraint("canteen_id", "day", "meal", "item_id"),
        Index("ix_menu_dishes_canteen_day", "canteen_id", "day"),
    )


class MenuSetting(Base):
    """A canteen's pre-order rule: the cut-off and the no-show rule."""

    __tablename__ = "menu_settings"
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), primary_key=True)
    cutoff: Mapped[time] = mapped_column(Time)
    no_show: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint("no_show IN ('charge','release')", name="no_show"),)


class Preorder(Base):
    """A diner's pre-order of one meal (see the module's contract)."""

    __tablename__ = "preorders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    day: Mapped[date] = mapped_column(Date)
    meal: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    pay_mode: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="placed")
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    held_subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    held_cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    release_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    no_show_action: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("person_id", "request_id"),
        Index("ix_preorders_canteen_day", "canteen_id", "day"),
        Index("ix_preorders_person_day", "person_id", "day"),
        CheckConstraint("pay_mode IN ('prepaid','at_pickup')", name="pay_mode"),
        CheckConstraint("status IN ('placed','cancelled','picked_up','no_show')", name="status"),
        CheckConstraint(
            "amount_fen > 0 AND held_subsidy_fen >= 0 AND held_cash_fen >= 0", name="amounts"
        ),
        CheckConstraint(
            "held_subsidy_fen + held_cash_fen = CASE WHEN pay_mode = 'prepaid'"
            " THEN amount_fen ELSE 0 END",
            name="held_sums",
        ),
        CheckConstraint(
            "no_show_action IS NULL OR no_show_action IN ('charged','released','none')",
            name="no_show_action",
        ),
    )


class PreorderLine(Base):
    """A dish and its portions in a pre-order, priced when it was taken."""

    __tablename__ = "preorder_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    preorder_id: Mapped[int] = mapped_column(ForeignKey("preorders.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    sku: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(60))
    qty: Mapped[int] = mapped_column(Integer)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint(f"qty BETWEEN 1 AND {MAX_PORTIONS}", name="qty"),
        CheckConstraint("price_fen > 0", name="price"),
    )
