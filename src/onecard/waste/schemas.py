"""API types of waste supervision (/api/v1/waste, /api/v1/me/clean-plates).

Weights go in as kilograms (a number or decimal text: the service turns them into integer
grams and refuses a negative or absurd one with 422) and come out as grams. A photo goes
in base64 (JPEG or PNG, at most 2 MB once decoded).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

KG = float | str


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inspected_on: date
    meal: str = Field(max_length=20)
    leftover_kg: KG
    findings: str = Field("", max_length=1000)
    photo_base64: str | None = Field(None, max_length=3_000_000)


class InspectionOut(BaseModel):
    id: int
    canteen_id: int
    canteen: str
    inspected_on: date
    meal: str
    leftover_grams: int
    findings: str
    photo_type: str | None


class WeightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    meal: str = Field(max_length=20)
    leftover_kg: KG


class WeightOut(BaseModel):
    id: int
    canteen_id: int
    day: date
    meal: str
    leftover_grams: int


class CleanPlateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meal: str = Field(max_length=20)
    photo_base64: str = Field(max_length=3_000_000)


class CleanPlatesOut(BaseModel):
    streak: int
    total: int
    today: list[str]


class DayWasteOut(BaseModel):
    canteen_id: int
    canteen: str
    day: date
    meal: str
    grams: int
    diners: int
    per_diner: int | None


class CanteenWasteOut(BaseModel):
    canteen_id: int
    canteen: str
    days: int
    grams: int
    diners: int
    per_diner: int | None


class PerDinerOut(BaseModel):
    start: date
    end: date
    canteens: list[CanteenWasteOut]
    days: list[DayWasteOut]


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    canteen_id: int = Field(ge=1)
    text: str = Field(max_length=1000)


class NoticeOut(BaseModel):
    id: int
    canteen_id: int
    canteen: str
    unit_id: int
    unit: str
    text: str
    issued_by: str
    issued_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(max_length=6)
    assessed: int = Field(ge=0, le=100)


class ScoreOut(BaseModel):
    canteen_id: int
    quarter: str
    assessed: int
    grams_per_diner: int | None
    waste_points: int
    notices: int
    notice_points: int
    final: int
