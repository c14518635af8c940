"""The catalogue's API types: dishes, goods, reference prices, stock moves, shop rules.

Money is integer fen; portion grams; energy kJ / kcal; nutrients milligrams.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

Sku = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
Fen = Field(gt=0, le=1_000_000_000)
Amount = Field(default=None, ge=0, le=10_000_000)


class DishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60)
    price_fen: int = Fen
    category: str = Field(default="", max_length=20)
    portion_g: int | None = Amount
    allergens: str = Field(default="", max_length=200)
    energy_kj: int | None = Amount
    energy_kcal: int | None = Amount
    protein_mg: int | None = Amount
    fat_mg: int | None = Amount
    carbohydrate_mg: int | None = Amount
    salt_mg: int | None = Amount
    active: bool = True


class GoodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60)
    price_fen: int = Fen
    barcode: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$"
    )
    unit: str = Field(default="", max_length=10)
    active: bool = True


class SavedOut(BaseModel):
    id: int
    sku: str


class ItemOut(BaseModel):
    id: int
    sku: str
    kind: str
    name: str
    price_fen: int
    active: bool
    barcode: str | None = None
    unit: str = ""
    stock_qty: int = 0
    sold_since: int = 0
    needs_count: bool = False
    reference_fen: int | None = None
    over: bool = False
    category: str = ""
    portion_g: int | None = None
    allergens: str = ""
    energy_kj: int | None = None
    energy_kcal: int | None = None
    protein_mg: int | None = None
    fat_mg: int | None = None
    carbohydrate_mg: int | None = None
    salt_mg: int | None = None


class CatalogueOut(BaseModel):
    canteen_id: int
    canteen: str
    dishes: list[ItemOut]
    goods: list[ItemOut]


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60)
    price_fen: int = Fen
    barcode: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$"
    )
    store: str = Field(default="", max_length=60)


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    valid_from: date
    prices: list[ReferenceIn] = Field(min_length=1, max_length=5000)


class OverOut(BaseModel):
    item_id: int
    canteen_id: int
    canteen: str
    sku: str
    barcode: str | None
    name: str
    price_fen: int
    reference_fen: int
    valid_from: date


class ReferenceOut(BaseModel):
    id: int
    barcode: str | None
    name: str
    price_fen: int
    store: str
    valid_from: date
    in_force: bool


class StockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^(in|out|count)$")
    qty: int = Field(ge=0, le=1_000_000)
    note: str = Field(default="", max_length=200)


class StockOut(BaseModel):
    item_id: int
    stock_qty: int


class ShopRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goods_from_subsidy: bool


class StockEventOut(BaseModel):
    """A good's stock move (in | out | count) or till sale (``sale``), newest first."""

    kind: str
    qty: int
    stock_after: int | None
    at: datetime
    note: str
    payment_id: int | None
    txn_id: str | None
    status: str | None
