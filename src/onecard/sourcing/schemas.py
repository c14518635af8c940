"""API types of purchasing and traceability (/api/v1/sourcing).

Quantities go in as a number or decimal text in the ingredient's unit (at most 3
decimals; the service parses them exactly and refuses a negative or absurd one with 422)
and come out as text ("25.5") with the thousandths beside them (``*_milli``). Money is
integer fen.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from onecard.sourcing.models import (
    MAX_GRAMS_PER_PORTION,
    MAX_GRAMS_PER_UNIT,
    MAX_UNIT_COST_FEN,
)

# Ids in a body: up to 2**53, exact as a JSON number in every client (a path id may be
# larger: IdPath).
MAX_ID = 2**53
# Text without control characters (PostgreSQL's text holds no NUL; names are read on
# pages): the same rule as ``core.fields.ClientKey``, in the document.
TEXT = r"^[^\x00-\x1f\x7f]*$"
# A name: text that does not start with a space (what a person reads must not be blank).
NAME = r"^[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
LICENCE = r"^[A-Za-z0-9-]{6,40}$"
# A quantity in the ingredient's unit: more than 0, below a million, at most 3 decimals.
QUANTITY = r"^(?:[1-9][0-9]{0,5}(?:\.[0-9]{1,3})?|0?\.(?:[1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$"
MEAL = r"^[A-Za-z0-9_-]{1,20}$"  # a meal period code: breakfast, lunch, dinner …
Qty = Annotated[str, Field(max_length=12, pattern=QUANTITY, examples=["25.5"])]


class In(BaseModel):
    """A request body: a field it does not know is refused (422), not ignored."""

    model_config = ConfigDict(extra="forbid")


class IngredientIn(In):
    name: str = Field(min_length=1, max_length=60, pattern=NAME)
    unit: str = Field(min_length=1, max_length=10, pattern=NAME)
    grams_per_unit: int = Field(1000, ge=1, le=MAX_GRAMS_PER_UNIT)


class IngredientOut(BaseModel):
    id: int
    name: str
    unit: str
    grams_per_unit: int


class RecipeLineIn(In):
    ingredient_id: int = Field(ge=1, le=MAX_ID)
    grams: int = Field(ge=1, le=MAX_GRAMS_PER_PORTION)


class RecipeIn(In):
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


class SupplierIn(In):
    name: str = Field(min_length=1, max_length=100, pattern=NAME)
    licence_no: str = Field(min_length=6, max_length=40, pattern=LICENCE)
    contact: str = Field("", max_length=60, pattern=TEXT)


class SupplierOut(BaseModel):
    id: int
    name: str
    licence_no: str
    contact: str


class _BatchFields(In):
    ingredient_id: int = Field(ge=1, le=MAX_ID)
    supplier_id: int = Field(ge=1, le=MAX_ID)
    batch_no: str = Field(min_length=1, max_length=40, pattern=NAME)
    received_on: date
    quantity: Qty
    unit_cost_fen: int = Field(ge=0, le=MAX_UNIT_COST_FEN)


class PassedBatchIn(_BatchFields):
    inspection: Literal["pass"]
    inspection_note: str = Field("", max_length=500, pattern=TEXT)


class FailedBatchIn(_BatchFields):
    """A batch that failed its inspection: the note says why (required)."""

    inspection: Literal["fail"]
    inspection_note: str = Field(min_length=1, max_length=500, pattern=NAME)


BatchIn = Annotated[PassedBatchIn | FailedBatchIn, Field(discriminator="inspection")]


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


class UseIn(In):
    day: date
    meal: str = Field(min_length=1, max_length=20, pattern=MEAL)
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


class PlanLineIn(In):
    dish_id: int = Field(ge=1, le=MAX_ID)
    meal: str = Field(min_length=1, max_length=20, pattern=MEAL)
    portions: int | None = Field(None, ge=0, le=100_000)


class PurchaseIn(In):
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
