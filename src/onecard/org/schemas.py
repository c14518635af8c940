"""API types for organisation administration (/api/v1/org).

Input models check the shape only (types, lengths, which fields exist); every value is
checked again, with the same words as the pages, by ``org.fields`` in the services — a
bank account's check digit, a code in use, an unknown owner unit. A PATCH body changes
the fields it names and no others (``null`` clears an optional field). Money is integer
fen; dates are ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Level = Literal["city", "county", "township"]
Operation = Literal["self", "outsourced"]
GuestAccess = Literal["none", "appointment", "open"]
Role = Literal[
    "bureau_admin", "clearing_operator", "finance", "auditor", "unit_admin", "canteen_manager"
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def given(self) -> dict[str, Any]:
        """The fields the client sent (a PATCH changes only these)."""
        return self.model_dump(exclude_unset=True)


# --- regions ------------------------------------------------------------------------------
class RegionIn(_In):
    code: StrictStr = Field(max_length=12, examples=["431002"])
    name: StrictStr = Field(max_length=60, examples=["北湖区"])
    level: Literal["county", "township"]
    parent_id: StrictInt


class RegionPatch(_In):
    code: StrictStr | None = Field(default=None, max_length=12)
    name: StrictStr | None = Field(default=None, max_length=60)


class RegionOut(BaseModel):
    id: int
    code: str
    name: str
    level: Level
    parent_id: int | None
    retired_at: str | None
    units: int


# --- units --------------------------------------------------------------------------------
class UnitPatch(_In):
    code: StrictStr | None = Field(default=None, max_length=20)
    name: StrictStr | None = Field(default=None, max_length=100)
    region_id: StrictInt | None = None
    level: Level | None = None
    bank_account: StrictStr | None = Field(
        default=None, max_length=40, description="refunds to the unit are paid here"
    )
    contact: StrictStr | None = Field(default=None, max_length=40)
    phone: StrictStr | None = Field(default=None, max_length=40)
    has_canteen: StrictBool | None = None
    default_standard_fen: StrictInt | None = Field(default=None, ge=0)


class UnitIn(UnitPatch):
    code: StrictStr = Field(max_length=20, examples=["U101"])
    name: StrictStr = Field(max_length=100, examples=["北湖区教育局"])
    region_id: StrictInt
    level: Level | None = Field(default=None, description="the region's level if left out")


class UnitOut(BaseModel):
    id: int
    code: str
    name: str
    region_id: int
    region_name: str
    level: Level
    bank_account: str | None
    contact: str | None
    phone: str | None
    has_canteen: bool
    default_standard_fen: int
    retired_at: str | None
    people: int
    canteens: int | None = None
    retire_blockers: list[str] | None = Field(
        default=None, description="why it cannot be retired now (detail view only)"
    )


# --- canteens -----------------------------------------------------------------------------
class CanteenPatch(_In):
    code: StrictStr | None = Field(default=None, max_length=20)
    name: StrictStr | None = Field(default=None, max_length=100)
    unit_id: StrictInt | None = Field(default=None, description="the owner unit")
    location: StrictStr | None = Field(default=None, max_length=200, description="address")
    opening_hours: StrictStr | None = Field(default=None, max_length=100)
    capacity: StrictInt | None = Field(default=None, ge=0, description="seats")
    windows: StrictInt | None = Field(default=None, ge=0, description="serving windows")
    service_staff: StrictInt | None = Field(default=None, ge=0)
    dining_area_m2: StrictInt | None = Field(default=None, ge=0)
    operation: Operation | None = None
    operator_name: StrictStr | None = Field(default=None, max_length=100)
    operator_bank_account: StrictStr | None = Field(
        default=None, max_length=40, description="the operator's settlement account"
    )
    contract_starts: date | None = None
    contract_ends: date | None = None
    contact: StrictStr | None = Field(default=None, max_length=40)
    phone: StrictStr | None = Field(default=None, max_length=40)
    notes: StrictStr | None = Field(default=None, max_length=2000)
    district: StrictStr | None = Field(default=None, max_length=40, description="区县")
    guest_access: GuestAccess | None = Field(
        default=None, description="whether someone without a one card may eat there"
    )
    guest_note: StrictStr | None = Field(
        default=None, max_length=500, description="what such a visitor should know or bring"
    )
    coordinates: StrictStr | None = Field(
        default=None, max_length=32, description='"lng,lat" (GCJ-02), e.g. "113.014917,25.770612"'
    )


class CanteenIn(CanteenPatch):
    code: StrictStr = Field(max_length=20, examples=["C101"])
    name: StrictStr = Field(max_length=100, examples=["北湖区机关食堂"])
    unit_id: StrictInt


class CanteenOut(BaseModel):
    id: int
    code: str
    name: str
    unit_id: int
    unit_name: str
    location: str
    opening_hours: str
    capacity: int
    windows: int
    service_staff: int
    dining_area_m2: int
    operation: Operation
    operator_name: str | None
    operator_bank_account: str | None
    contract_starts: str | None
    contract_ends: str | None
    contact: str | None
    phone: str | None
    notes: str
    district: str
    guest_access: GuestAccess
    guest_note: str
    coordinates: str | None
    rollout_status: str
    retired_at: str | None
    retire_blockers: list[str] | None = None


# --- changes --------------------------------------------------------------------------------
class RunOut(BaseModel):
    action: str
    scope: str
    dry_run: bool
    changed: bool
    totals: dict[str, int]
    lines: list[dict[str, Any]]
    problems: list[str]


class ChangeOut(BaseModel):
    """What a create / edit / retire did; ``before``/``after`` as in the audit record."""

    kind: Literal["region", "unit", "canteen"]
    id: int
    action: Literal["create", "update", "retire"]
    scope: str
    changed: bool
    before: dict[str, Any] | None
    after: dict[str, Any]
    payouts_retried: list[RunOut] = Field(
        description="failed settlement payouts re-sent because the payee's account changed"
    )


# --- administrators -------------------------------------------------------------------------
class AppointIn(_In):
    staff_no: StrictStr = Field(min_length=1, max_length=32)
    role: Role
    unit_id: StrictInt | None = Field(default=None, description="for unit_admin")
    canteen_id: StrictInt | None = Field(default=None, description="for canteen_manager")
    name: StrictStr | None = Field(
        default=None, max_length=40, description="to create the person if the number is new"
    )
    person_unit_id: StrictInt | None = Field(
        default=None, description="the new person's unit (default: the role's unit)"
    )
    phone: StrictStr | None = Field(default=None, max_length=20)
    region_id: StrictInt | None = Field(
        default=None,
        description="a city role held for this region and those below it (default: everywhere)",
    )


class AppointOut(BaseModel):
    person_id: int
    staff_no: str
    name: str
    created: bool
    roles: list[str]


class GrantOut(BaseModel):
    id: int
    role_code: str
    role_zh: str
    unit_id: int | None
    canteen_id: int | None
    unit_name: str | None
    canteen_name: str | None
    region_id: int | None = None  # a city role held for this region (None: everywhere)
    region_name: str | None = None
    person_id: int
    staff_no: str
    name: str
    status: str
    person_unit: str


class RevokeOut(BaseModel):
    person_id: int
    staff_no: str
    roles: list[str]
