"""API types of purchasing and traceability (/api/v1/sourcing).

Quantities go in as a number or decimal text in the ingredient's unit (at most 3
decimals; the service parses them exactly and refuses a negative or absurd one with 422)
and come out as text ("25.5") with the thousandths beside them (``*_milli``). Money is
integer fen.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from onecard.sourcing.models import (
    MAX_GRAMS_PER_PORTION,
    MAX_GRAMS_PER_UNIT,
    MAX_UNIT_COST_FEN,
)

MAX_ID = 2**63 - 1
Qty = float | Annotated[str, Field(max_length=20)]


class IngredientIn(BaseModel):
    name: str = Field(max_length=60)
    unit: str = Field(max_length=10)
    grams_per_unit: int = Field(1000, ge=1, le=MAX_GRAMS_PER_UNIT)


class IngredientOut(BaseModel):
    id: int
    name: str
    unit: str
    grams_per_unit: int


class RecipeLineIn(BaseModel):
    ingredient_id: int = Field(ge=1, le=MAX_ID)
    grams: int = Field(ge=1, le=MAX_GRAMS_PER_PORTION)


class RecipeIn(BaseModel):
    lines: list[RecipeLineIn] = Field(max_length=40)


class RecipeLineOut(BaseModel):
    ingredient_id: int
    name: str
    grams: int


class DishRecipeOut(BaseModel):
    id: int
    sku: str
    name: str
    active: bool
    lines: list[RecipeLineOut]


class SupplierIn(BaseModel):
    name: str = Field(max_length=100)
    licence_no: str = Field(max_length=40)
    contact: str = Field("", max_length=60)


class SupplierOut(BaseModel):
    id: int
    name: str
    licence_no: str
    contact: str


class BatchIn(BaseModel):
    ingredient_id: int = Field(ge=1, le=MAX_ID)
    supplier_id: int = Field(ge=1, le=MAX_ID)
    batch_no: str = Field(max_length=40)
    received_on: date
    quantity: Qty
    unit_cost_fen: int = Field(ge=0, le=MAX_UNIT_COST_FEN)
    inspection: Literal["pass", "fail"]
    inspection_note: str = Field("", max_length=500)


class BatchOut(BaseModel):
    id: int
    canteen_id: int
    canteen: str
    batch_no: str
    received_on: date
    ingredient: str
    unit: str
    supplier: str
    licence_no: str
    quantity: str
    quantity_milli: int
    used_milli: int
    left_milli: int
    unit_cost_fen: int
    inspection: str
    inspection_note: str


class UseIn(BaseModel):
    day: date
    meal: str = Field(max_length=20)
    dish_id: int = Field(ge=1, le=MAX_ID)
    batch_id: int = Field(ge=1, le=MAX_ID)
    quantity: Qty


class UseOut(BaseModel):
    id: int
    canteen_id: int
    canteen: str
    day: date
    meal: str
    dish_id: int
    dish: str
    batch_id: int
    batch_no: str
    inspection: str
    ingredient: str
    unit: str
    supplier: str
    licence_no: str
    quantity: str
    quantity_milli: int


class SourcingOut(BaseModel):
    canteen_id: int
    canteen: str
    ingredients: list[IngredientOut]
    dishes: list[DishRecipeOut]
    suppliers: list[SupplierOut]
    batches: list[BatchOut]
    uses: list[UseOut]


class PlanLineIn(BaseModel):
    dish_id: int = Field(ge=1, le=MAX_ID)
    meal: str = Field(max_length=20)
    portions: int | None = Field(None, ge=0, le=100_000)


class PurchaseIn(BaseModel):
    day: date
    plan: list[PlanLineIn] = Field(max_length=200)


class PlannedDishOut(BaseModel):
    dish_id: int
    name: str
    meal: str
    portions: int
    has_recipe: bool


class NeedOut(BaseModel):
    ingredient_id: int
    name: str
    unit: str
    grams: int
    need_milli: int
    on_hand_milli: int
    to_buy_milli: int
    dishes: list[str]


class PurchaseOut(BaseModel):
    canteen_id: int
    canteen: str
    day: date
    dishes: list[PlannedDishOut]
    lines: list[NeedOut]


class BatchTraceOut(BaseModel):
    batch: BatchOut
    uses: list[UseOut]
    canteens: list[str]
    days: list[date]


class CostOut(BaseModel):
    canteen_id: int
    canteen: str
    unit_id: int
    unit: str
    meal: str
    days: int
    fen: int
