"""JSON bodies of the rollout API (/api/v1/rollout): strict, unknown keys refused (422)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from onecard.web.deps import MAX_ID


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CanteenPlanOut(BaseModel):
    id: int
    code: str
    name: str
    unit_id: int
    unit_name: str
    windows: int
    diners: int
    planned: int = Field(description="max(1, windows, ceil(diners / 150))")
    terminals: dict[str, int] = Field(description="terminals by state")
    rollout_status: Literal["planned", "inspected", "live"]
    last_inspection: date | None
    last_passed: bool | None


class PlannedOut(BaseModel):
    canteen_id: int
    created: list[str] = Field(description="codes of the planned terminals added")


class TerminalOut(BaseModel):
    id: int
    code: str
    name: str
    status: Literal["planned", "installed", "accepted", "live", "revoked"]
    canteen_id: int
    canteen: str
    installed_at: datetime | None


class MoveIn(Strict):
    note: StrictStr = Field(default="", max_length=200)


class MoveOut(BaseModel):
    id: int
    status: str
    device_key: str | None = Field(
        default=None, description="only when installing: shown this once, stored hashed"
    )


class ItemIn(Strict):
    item: StrictStr = Field(min_length=1, max_length=100, examples=["刷卡与付款码支付成功"])
    passed: StrictBool


class InspectionIn(Strict):
    inspected_on: date
    items: list[ItemIn] = Field(min_length=1, max_length=30)
    note: StrictStr = Field(default="", max_length=1000)


class InspectionOut(BaseModel):
    id: int
    passed: bool
    rollout_status: str


class CanteenStateOut(BaseModel):
    id: int
    rollout_status: str


class UnitCardsOut(BaseModel):
    unit_id: int
    code: str
    name: str
    people: int
    with_card: int
    pct: float


class ProgressOut(BaseModel):
    units: list[UnitCardsOut]
    city: UnitCardsOut


class UnitProgressOut(BaseModel):
    unit_id: int
    code: str
    name: str
    canteens: int
    canteens_not_live: list[str]
    terminals_planned: int
    terminals_live: int
    terminals_short: int
    people: int
    with_card: int
    cards_pct: float
    cards_short: int
    behind: bool


class NoticeIn(Strict):
    unit_id: StrictInt = Field(ge=1, le=MAX_ID)
    kind: Literal["urge", "praise"]
    text: StrictStr = Field(min_length=1, max_length=1000)


class NoticeOut(BaseModel):
    id: int
    unit_id: int
    unit_name: str
    kind: str
    text: str
    issued_by: str
    issued_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
