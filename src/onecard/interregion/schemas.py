"""API types of cross-region dining (/api/v1/interregion). Money in integer fen."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Side = Literal["home", "host"]


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    side: Side = Field(description="who proposes: home (A, whose people eat) or host (B)")
    home_region_id: int = Field(ge=1)
    host_region_id: int = Field(ge=1)
    unit_ids: list[int] | None = Field(default=None, description="A's units; none: all")
    canteen_ids: list[int] | None = Field(default=None, description="B's canteens; none: all")
    price_class: Literal["visitor", "own"]
    purse: Literal["subsidy", "cash", "subsidy_first"]
    valid_from: date
    valid_to: date | None = None
    host_account_no: str = Field(min_length=1, max_length=32)
    host_account_name: str = Field(min_length=1, max_length=60)
    note: str = Field(default="", max_length=200)


class AgreementOut(BaseModel):
    id: int
    home_region_id: int
    home_region: str
    host_region_id: int
    host_region: str
    unit_ids: list[int] | None
    canteen_ids: list[int] | None
    price_class: str
    purse: str
    valid_from: date
    valid_to: date | None
    status: str
    proposed_by: str
    note: str


class SideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    side: Side


class StatusOut(BaseModel):
    status: str


class IdOut(BaseModel):
    id: int


class StatementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    home_region_id: int = Field(ge=1)
    host_region_id: int = Field(ge=1)
    quarter: str = Field(pattern=r"^[0-9]{4}Q[1-4]$")


class UnitLine(BaseModel):
    unit_id: int
    unit: str
    fen: int
    payments: int


class CanteenLine(BaseModel):
    canteen_id: int
    canteen: str
    fen: int
    payments: int


class StatementOut(BaseModel):
    id: int
    home_region_id: int
    home_region: str
    host_region_id: int
    host_region: str
    quarter: str
    gross_fen: int
    payments: int
    status: str
    home_confirmed_by: str | None
    host_confirmed_by: str | None
    entry_id: int | None
    order_id: str | None
    per_unit: list[UnitLine]
    per_canteen: list[CanteenLine]


class BookedOut(BaseModel):
    statement_id: int
    status: str
    entry_id: int | None
    order_id: str | None
    problem: str | None = None
