"""API types of community canteens (/api/v1/community). Money in integer fen."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from onecard.core.fields import ClientKey

Fen = Field(gt=0, le=1_000_000_000)


class ResidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=60)
    id_number: str = Field(min_length=18, max_length=18)
    birth_date: date | None = None
    address: str = Field(default="", max_length=200)
    # category → proof note (e.g. {"aged_60": "身份证", "sanwu": "民政认定书"})
    categories: dict[str, str] = Field(default_factory=dict)


class ResidentOut(BaseModel):
    id: int
    name: str
    id_number: str  # masked: 140105********0017
    birth_date: date
    categories: list[str]
    wallet_fen: int


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: int = Fen
    key: str = Field(min_length=1, max_length=80, description="idempotency key")


class EntryOut(BaseModel):
    entry_id: int


class RulesIn(BaseModel):
    """Only the items to change; the rest stay as the current version has them."""

    model_config = ConfigDict(extra="forbid")
    allowance_fen: int | None = Field(default=None, ge=0)
    allowance_categories: list[str] | None = None
    discounts: dict[str, int] | None = None
    elder_only: list[str] | None = None
    precedence: str | None = Field(default=None, pattern="^(best|order)$")
    order: list[str] | None = None
    stack: bool | None = None
    daily_cap_fen: int | None = Field(default=None, ge=0)
    love_meal_cap_fen: int | None = Field(default=None, ge=0)
    delivery_subsidy_fen: int | None = Field(default=None, ge=0)
    delivery_categories: list[str] | None = None
    elder_age: int | None = Field(default=None, ge=0, le=150)
    child_age: int | None = Field(default=None, ge=0, le=150)
    rating_fen: dict[str, int] | None = None
    note: str = Field(default="", max_length=200)


class RulesOut(BaseModel):
    version: int
    rules: dict[str, object]


class CanteenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_id: int = Field(ge=1)
    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100)
    operator: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=1, max_length=200)
    rating: str | None = Field(default=None, pattern="^(A|AA|AAA)$")


class IdOut(BaseModel):
    id: int


class DishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60)
    price_fen: int = Fen
    love: bool = False


class MealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resident_id: int = Field(ge=1)
    dish_id: int = Field(ge=1)
    txn_id: ClientKey = Field(description="the counter's id: a retry")
    delivered: bool = False


class MealOut(BaseModel):
    meal_id: int
    entry_id: int
    price_fen: int
    subsidy_fen: int
    wallet_fen: int
    delivery_fen: int
    category: str
    wallet_after_fen: int


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=r"^\d{4}-\d{2}$")


class ClaimLineOut(BaseModel):
    id: int
    when: str  # Beijing time
    resident: str
    id_number: str
    dish: str
    category: str
    price_fen: int
    subsidy_fen: int
    delivery_fen: int
    amount_fen: int
    status: str
    reason: str


class ClaimOut(BaseModel):
    id: int
    canteen: str
    month: str
    status: str
    total_fen: int
    approved_fen: int
    rejected_fen: int
    lines: list[ClaimLineOut]


class LineDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str = Field(default="", max_length=200)


class ApprovedOut(BaseModel):
    approved_fen: int
    rejected_fen: int


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2000, le=2100)
    satisfaction_pct: int = Field(ge=0, le=100)


class RatingOut(BaseModel):
    score: int
    grade: str | None
    amount_fen: int
