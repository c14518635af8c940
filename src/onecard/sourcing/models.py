"""Purchasing and traceability (R-S2, R-S4): a canteen's ingredients, its dishes'
recipes, its suppliers, the batches they deliver and which batches each meal's dishes
used.

Contract (everything belongs to one canteen):

- ``ingredients``: a name (unique in the canteen), the unit it is bought and counted in
  (kg, 斤, 个 …) and how many grams one unit weighs (``grams_per_unit``), so a recipe's
  grams per portion turn into units to buy.
- ``recipe_lines``: a dish (``items`` of kind dish) uses ``grams`` of an ingredient per
  portion; one line per dish and ingredient. A recipe is saved whole (its lines replaced).
- ``suppliers``: name and food business licence number (食品经营许可证号, required, unique
  in the canteen).
- ``ingredient_batches``: one delivery of one ingredient by a supplier: batch number,
  the day received, the quantity in thousandths of the ingredient's unit
  (``quantity_milli``: 25.5 kg is 25500), the unit cost in fen, and the inspection on
  arrival (``pass`` / ``fail``, a note; a failed batch needs the note). A failed batch is
  never used (the service refuses it; nothing checks it in SQL).
- ``batch_uses``: a dish served at a day's meal used so much of a batch (thousandths of
  a unit). The service never lets the uses of a batch exceed its quantity.

Rows are only added, except a recipe (replaced whole; the audit record keeps the old).
Cost of a use = ``quantity_milli × unit_cost_fen / 1000`` fen, rounded half up per
canteen and meal (``sourcing.queries.ingredient_cost``).
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
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

INSPECTIONS = ("pass", "fail")
MAX_GRAMS_PER_PORTION = 5_000  # 5 kg of one ingredient in one portion: beyond is a typo
MAX_GRAMS_PER_UNIT = 1_000_000  # a unit of at most a tonne
MAX_QUANTITY_MILLI = 1_000_000_000  # a batch of at most a million units
MAX_UNIT_COST_FEN = 10_000_000  # 100,000 yuan for one unit: beyond is a typo


class Ingredient(Base):
    __tablename__ = "ingredients"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    name: Mapped[str] = mapped_column(String(60))
    unit: Mapped[str] = mapped_column(String(10))
    grams_per_unit: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("canteen_id", "name"),
        CheckConstraint(
            f"grams_per_unit BETWEEN 1 AND {MAX_GRAMS_PER_UNIT}", name="grams_per_unit"
        ),
    )


class RecipeLine(Base):
    __tablename__ = "recipe_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    ingredient_id: Mapped[int] = mapped_column(ForeignKey("ingredients.id"))
    grams: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("item_id", "ingredient_id"),
        CheckConstraint(f"grams BETWEEN 1 AND {MAX_GRAMS_PER_PORTION}", name="grams"),
    )


class Supplier(Base):
    __tablename__ = "suppliers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    name: Mapped[str] = mapped_column(String(100))
    licence_no: Mapped[str] = mapped_column(String(40))
    contact: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("canteen_id", "licence_no"),)


class IngredientBatch(Base):
    __tablename__ = "ingredient_batches"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    ingredient_id: Mapped[int] = mapped_column(ForeignKey("ingredients.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    batch_no: Mapped[str] = mapped_column(String(40))
    received_on: Mapped[date] = mapped_column(Date)
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    unit_cost_fen: Mapped[int] = mapped_column(BigInteger)
    inspection: Mapped[str] = mapped_column(String(4))
    inspection_note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("supplier_id", "ingredient_id", "batch_no"),
        CheckConstraint(f"quantity_milli BETWEEN 1 AND {MAX_QUANTITY_MILLI}", name="quantity"),
        CheckConstraint(f"unit_cost_fen BETWEEN 0 AND {MAX_UNIT_COST_FEN}", name="cost"),
        CheckConstraint("inspection IN ('pass','fail')", name="inspection"),
        Index("ix_ingredient_batches_canteen", "canteen_id", "received_on"),
    )


class BatchUse(Base):
    __tablename__ = "batch_uses"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    day: Mapped[date] = mapped_column(Date)
    meal: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingredient_batches.id"), index=True)
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint(f"quantity_milli BETWEEN 1 AND {MAX_QUANTITY_MILLI}", name="quantity"),
        Index("ix_batch_uses_meal", "canteen_id", "day", "meal"),
    )
