"""The catalogue's tables (R-F5, R-A11): dishes and shop goods sold by line, the city's
large-store reference prices, stock moves, and each unit's shop rule.

Contract:

- ``items`` is a canteen's list: a dish (category, portion, allergens, nutrition per
  portion) or a good (barcode, unit, stock count). A good carries the reference price it
  was priced against (``market_price_fen``) and may not be priced above it: the service
  refuses it first with the reference shown, and the ``price_cap`` CHECK is the backstop.
  The payment path reads ``sku``, ``price_fen``, ``kind`` and ``active`` only.
- ``reference_prices`` are published by the bureau, per region, by barcode or by name,
  each with the day it holds from; the newest row of a good (barcode first, else name)
  published on or before a day is the good's reference that day. Rows are never changed:
  a new price is a new row, so a falling reference is visible as history.
- ``stock_moves`` record every change of a good's stock count (in, out, a stock-take's
  adjustment) with the on-hand count after it. ``items.stock_qty`` is the count the
  moves recorded, with the till's sales of payments up to ``items.sold_through`` (a
  payment id) folded in at each move; the on-hand count is that less the goods of
  approved payments after it (``catalogue.stock``). The payment path never touches the
  item row; only stock moves and the undo of a folded sale do.
- ``shop_rules``: a unit's rule for the goods sold in its canteens — whether the subsidy
  purse may pay for them (default: no, goods are paid from the cash purse only).

Units: money in fen; portion in grams; energy in kJ and kcal; protein, fat,
carbohydrate and salt in milligrams (integers, never floats).
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

ITEM_KINDS = ("dish", "goods")
STOCK_MOVES = ("in", "out", "count")


class Item(Base):
    """A dish or a shop good sold by line. Goods carry the city's large-store price for
    the same good and may not be priced above it (R-A11)."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    sku: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(10), default="dish")  # dish | goods
    price_fen: Mapped[int] = mapped_column(BigInteger)
    market_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Since migration 0015. Goods: barcode (EAN-13 or the shop's own), unit (瓶, 袋 …),
    # stock count. Dishes: category, portion, allergens, nutrition per portion.
    barcode: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(10), default="", server_default="")
    stock_qty: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Since migration 0026: the last payment id whose goods are folded into stock_qty.
    sold_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    category: Mapped[str] = mapped_column(String(20), default="", server_default="")
    portion_g: Mapped[int | None] = mapped_column(Integer)
    allergens: Mapped[str] = mapped_column(String(200), default="", server_default="")
    energy_kj: Mapped[int | None] = mapped_column(Integer)
    energy_kcal: Mapped[int | None] = mapped_column(Integer)
    protein_mg: Mapped[int | None] = mapped_column(Integer)
    fat_mg: Mapped[int | None] = mapped_column(Integer)
    carbohydrate_mg: Mapped[int | None] = mapped_column(Integer)
    salt_mg: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("canteen_id", "sku"),
        CheckConstraint("price_fen > 0", name="positive"),
        CheckConstraint("kind IN ('dish','goods')", name="kind"),
        CheckConstraint(
            "kind = 'dish' OR (market_price_fen IS NOT NULL AND price_fen <= market_price_fen)",
            name="price_cap",
        ),
        CheckConstraint("stock_qty >= 0", name="stock_nonneg"),
        Index("ix_items_canteen_barcode", "canteen_id", "barcode", unique=True),
    )


class ReferencePrice(Base):
    """A large store's price of a good as the bureau published it, from a day on."""

    __tablename__ = "reference_prices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    barcode: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(60))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    store: Mapped[str] = mapped_column(String(60), default="", server_default="")
    valid_from: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("price_fen > 0", name="positive"),
        Index("ix_reference_prices_barcode", "region_id", "barcode", "valid_from"),
        Index("ix_reference_prices_name", "region_id", "name", "valid_from"),
    )


class StockMove(Base):
    """One change of a good's stock count: ``qty`` signed, ``stock_after`` the count."""

    __tablename__ = "stock_moves"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # in | out | count
    qty: Mapped[int] = mapped_column(Integer)
    stock_after: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("kind IN ('in','out','count')", name="kind"),
        CheckConstraint("stock_after >= 0", name="nonneg"),
    )


class ShopRule(Base):
    """A unit's rule for goods in its canteens (R-U1): may the subsidy pay for them."""

    __tablename__ = "shop_rules"
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    goods_from_subsidy: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
