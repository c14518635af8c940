"""The partner API's types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class PartnerCanteenOut(BaseModel):
    code: str
    name: str
    unit_name: str
    district: str | None
    location: str | None
    phone: str | None
    opening_hours: str | None
    serves_visitors: bool
    takes_guests: bool
    meals: list[dict[str, Any]]
    rating: float | None


class PartnerDirectoryOut(BaseModel):
    partner: str  # the client id that asked
    total: int
    page: int
    pages: int
    canteens: list[PartnerCanteenOut]
