"""API types of menus and pre-orders (``/api/v1/menus``, ``/api/v1/me/preorders``,
``/api/v1/terminal/preorders/pickup``). Every string and number is bounded."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from onecard.core.fields import ClientKey
from onecard.menus.models import MAX_PORTIONS
from onecard.menus.service import MAX_DISHES
from onecard.pay.schemas import CREDENTIAL_PATTERN, PaymentOut

MealCode = StrictStr
SKU_PATTERN = r"^[A-Za-z0-9._-]+$"
MEAL_PATTERN = r"^[A-Za-z0-9_-]+$"
Sku = Annotated[StrictStr, Field(min_length=1, max_length=32, pattern=SKU_PATTERN)]


class DishOut(BaseModel):
    item_id: int
    sku: str
    name: str
    category: str
    price_fen: int
    portion_g: int | None
    allergens: str
    energy_kj: int | None
    energy_kcal: int | None
    protein_mg: int | None
    fat_mg: int | None
    carbohydrate_mg: int | None
    salt_mg: int | None
    rating: float | None = Field(None, description="average stars (none yet: null)")


class MealOut(BaseModel):
    meal: str
    name: str
    cutoff: str = Field(description="the pre-order cut-off, Beijing time (MM-DD HH:MM)")
    open: bool = Field(description="may be pre-ordered now")
    dishes: list[DishOut]


class DayOut(BaseModel):
    day: date
    meals: list[MealOut]


class WeekOut(BaseModel):
    canteen_id: int
    canteen: str
    cutoff: str
    no_show: Literal["charge", "release"]
    days: list[DayOut]


class MenuIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skus: list[Sku] = Field(
        max_length=MAX_DISHES,
        description="the dishes (catalogue skus of kind dish), in order; [] clears the meal",
        json_schema_extra={"uniqueItems": True},
    )


class MenuSetOut(BaseModel):
    dishes: int


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cutoff: time = Field(description="Beijing time on the day before the meal")
    no_show: Literal["charge", "release"]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: StrictStr = Field(min_length=1, max_length=32, pattern=SKU_PATTERN)
    qty: StrictInt = Field(ge=1, le=MAX_PORTIONS)


class PreorderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: ClientKey = Field(description="the client's own key: a retry is recognised")
    canteen_id: StrictInt = Field(ge=1, le=2**53)
    day: date
    meal: MealCode = Field(min_length=1, max_length=20, pattern=MEAL_PATTERN)
    pay_mode: Literal["prepaid", "at_pickup"]
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_DISHES)


class LineOut(BaseModel):
    sku: str
    name: str
    qty: int
    price_fen: int


class PreorderOut(BaseModel):
    id: int
    canteen_id: int
    canteen: str
    day: date
    meal: str
    pay_mode: Literal["prepaid", "at_pickup"]
    status: Literal["placed", "cancelled", "picked_up", "no_show"]
    amount_fen: int
    held_fen: int
    payment_id: int | None
    no_show_action: Literal["charged", "released", "none"] | None
    lines: list[LineOut]


class MyPreordersOut(BaseModel):
    held_fen: int = Field(description="on hold now for prepaid pre-orders")
    preorders: list[PreorderOut]


class CountOut(BaseModel):
    meal: str
    sku: str
    name: str
    portions: int
    orders: int
    prepaid: int
    picked_up: int


class PickupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    txn_id: ClientKey = Field(description="the terminal's own id")
    credential: StrictStr = Field(
        min_length=8,
        max_length=24,
        description="card number, or an 18-digit payment code",
        json_schema_extra={"pattern": CREDENTIAL_PATTERN},
    )
    meal: StrictStr | None = Field(default=None, min_length=1, max_length=20, pattern=MEAL_PATTERN)


class PickupOut(BaseModel):
    payment: PaymentOut
    preorder: PreorderOut
    replayed: bool
