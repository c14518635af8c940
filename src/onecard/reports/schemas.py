"""API types of the reports (/api/v1/reports)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# Times are kept naive UTC; the API says so in every answer ("…Z").
UtcTime = Annotated[datetime, AfterValidator(_utc)]


class PerCapitaRowOut(BaseModel):
    canteen_id: int = Field(description="0: the whole city")
    canteen: str
    meal: str = Field(description="meal code; '*' every meal, '' outside a meal period")
    diners: int = Field(description="meals paid (approved payments net of reversals)")
    revenue_fen: int = Field(description="takings net of refunds")
    per_diner_fen: int | None = Field(description="revenue ÷ diners, half up to the fen")
    visitors: int = Field(description="diners of other units and guests")
    visitor_share_bp: int | None = Field(description="visitors ÷ diners, basis points")
    waste_grams: int
    waste_diners: int = Field(description="diners of the meals with a leftover weight")
    waste_per_diner_g: int | None


class PerCapitaOut(BaseModel):
    quarter: str
    as_of: UtcTime | None = Field(description="when the roll-ups were last folded (UTC)")
    city: PerCapitaRowOut
    meals: list[PerCapitaRowOut]
    canteens: list[PerCapitaRowOut]
    rows: list[PerCapitaRowOut]
    not_recorded: list[str] = Field(description="what the report cannot show, and why")
