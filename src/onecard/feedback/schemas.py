"""API types of dish ratings and the diner's nutrition (/api/v1/me/meals, /api/v1/me/
nutrition, /api/v1/dishes; R-S1)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from onecard.feedback.models import MAX_DISH_COMMENT


class DishRatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stars: int = Field(ge=1, le=5, description="1–5 stars (5 best)")
    # Any text but NUL (PostgreSQL's text cannot hold it; ``web.nul_guard`` refuses it):
    # said in the schema, so a client learns it from the document.
    comment: str = Field("", max_length=MAX_DISH_COMMENT, pattern=r"^[^\x00]*$")


class DishRatingOut(BaseModel):
    id: int
    payment_id: int
    item_id: int
    stars: int
    comment: str


class DishLineOut(BaseModel):
    line_no: int
    item_id: int
    name: str
    kind: str = Field(description="dish | goods (only dishes are rated)")
    category: str
    qty: int
    unit_price_fen: int
    line_fen: int
    stars: int | None = Field(description="the diner's rating of this dish, if given")
    comment: str
    rateable: bool


class MealDishesOut(BaseModel):
    payment_id: int
    status: str
    amount_fen: int
    refunded_fen: int
    at: str = Field(description="Beijing time")
    canteen: str
    meal: str | None
    rateable: bool
    lines: list[DishLineOut]


class RankingOut(BaseModel):
    rank: int
    item_id: int
    dish: str
    category: str
    canteen_id: int
    canteen: str
    average: float
    count: int


class CommentOut(BaseModel):
    at: str = Field(description="Beijing time")
    stars: int
    comment: str
    item_id: int
    dish: str
    canteen: str


class RatingsOut(BaseModel):
    start: date
    end: date
    rankings: list[RankingOut]
    comments: list[CommentOut]


class NutrientOut(BaseModel):
    key: str = Field(description="energy_kj | protein | fat | carbohydrate | salt")
    label: str
    unit: str = Field(description="kJ or g")
    total: float = Field(description="kJ, or grams with one decimal")
    reference: int = Field(description="the reference adult's intake for 7 days")
    percent: int
    ceiling: bool = Field(description="the reference is an upper limit (fat, salt)")


class NutritionOut(BaseModel):
    monday: date
    sunday: date
    lines: int = Field(description="dish lines eaten this week")
    unknown_lines: int = Field(description="of them, dishes with a figure missing")
    portions: int = Field(description="portions eaten (Σ qty of those lines)")
    nutrients: list[NutrientOut]
