"""Organisation tables: regions, units, people, canteens, terminals, roles.

Contract: every row carries ``region_id`` so the schema can be distributed by region
(Citus) with no payment query crossing regions. People hold balances (through their
ledger purses), cards only point at people: replacing a card never moves money.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

REGION_LEVELS = ("city", "county", "township")
PERSON_CATEGORIES = ("staff", "contract", "retired", "guest")
PERSON_STATUSES = ("active", "left")
CANTEEN_OPERATIONS = ("self", "outsourced")
TERMINAL_STATUSES = ("planned", "installed", "accepted", "live", "revoked")  # rollout.states
# Roles a person holds for the whole city, and those held for one unit or canteen.
CITY_ROLES = ("bureau_admin", "clearing_operator", "finance", "auditor")
UNIT_ROLES = ("unit_admin", "canteen_manager", "waste_supervisor")
ROLE_CODES = (
    "bureau_admin",
    "clearing_operator",
    "finance",
    "auditor",
    "unit_admin",
    "canteen_manager",
    "waste_supervisor",
    "diner",
)


class Region(Base):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    # A city's one-card network number (the 3 digits after the 8 of a payment code);
    # recorded by ``onecard init``, must equal ONECARD_REGION_NO.
    network_no: Mapped[str | None] = mapped_column(String(3))
    # Nothing is deleted: a retired region keeps its history (org/admin.py).
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Keeps its own dining fund, funding calendar and settlement; a region without one
    # shares the fund of the nearest region above it that has one (``org.fund_regions``).
    # The top region always does.
    own_fund: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    __table_args__ = (
        CheckConstraint("level IN ('province','city','county','township')", name="level"),
    )


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    bank_account: Mapped[str | None] = mapped_column(String(40))
    contact: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    # Quarterly dining standard per person in fen, unless the roster gives one.
    default_standard_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # A city, county or township unit (市直 / 县直 / 乡镇), by default its region's level.
    level: Mapped[str] = mapped_column(String(10), default="city", server_default="city")
    has_canteen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set when the unit is retired (no people, no money left): rows are never deleted.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("default_standard_fen >= 0", name="std_nonneg"),
        CheckConstraint("level IN ('city','county','township')", name="unit_level"),
    )


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    staff_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(10), default="staff")
    phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="active")
    # Quarterly dining standard in fen (the unit's default when the roster gives none).
    standard_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    joined_on: Mapped[date | None] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    # R-A2: the bound bank savings card is the master account (top-ups come from it,
    # the only payout to a person — a leaver's cash — goes back to it).
    bank_card_no: Mapped[str | None] = mapped_column(String(32))
    # Dynamic payment code: an 8-digit random token (never the staff number) and the
    # TOTP secret the phone holds; the last TOTP step used makes codes single-use.
    paycode_token: Mapped[str] = mapped_column(String(8), unique=True)
    paycode_secret: Mapped[str] = mapped_column(String(64))
    paycode_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The last 30-second step a sign-in code was accepted for: each code signs in once.
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        CheckConstraint("category IN ('staff','contract','retired','guest')", name="category"),
        CheckConstraint("status IN ('active','left')", name="status"),
        CheckConstraint("standard_fen >= 0", name="std_nonneg"),
    )


class Canteen(Base):
    __tablename__ = "canteens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(12), default="self")
    operator_name: Mapped[str | None] = mapped_column(String(100))
    operator_bank_account: Mapped[str | None] = mapped_column(String(40))
    location: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    service_staff: Mapped[int] = mapped_column(Integer, default=0)
    dining_area_m2: Mapped[int] = mapped_column(Integer, default=0)
    opening_hours: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # R-U1 rules set by the owning unit.
    serves_visitors: Mapped[bool] = mapped_column(Boolean, default=True)
    serves_guests: Mapped[bool] = mapped_column(Boolean, default=True)
    purse_order: Mapped[str] = mapped_column(String(20), default="subsidy_first")
    rollout_status: Mapped[str] = mapped_column(String(12), default="live")
    # Serving windows (the terminal plan counts them) and the operator's contract.
    windows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    contract_starts: Mapped[date | None] = mapped_column(Date)
    contract_ends: Mapped[date | None] = mapped_column(Date)
    # Set when the canteen is retired (nothing unsettled, no terminal in use).
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The public directory (issue 14 §6, since migration 0011): the district it is in,
    # whether and how someone without a one card (not staff of a participating unit) may
    # eat there — ``none`` staff only, ``appointment`` by appointment, ``open`` welcome —
    # and what they must know or bring, and where it is on a map ("lng,lat", GCJ-02 as
    # Amap's coordinate picker gives it).
    district: Mapped[str] = mapped_column(String(40), default="", server_default="")
    guest_access: Mapped[str] = mapped_column(String(12), default="none", server_default="none")
    guest_note: Mapped[str] = mapped_column(String(500), default="", server_default="")
    coordinates: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (
        CheckConstraint("operation IN ('self','outsourced')", name="operation"),
        CheckConstraint("guest_access IN ('none','appointment','open')", name="guest_access"),
        CheckConstraint("windows >= 0", name="windows_nonneg"),
        CheckConstraint("purse_order IN ('subsidy_first','cash_first')", name="purse_order"),
        CheckConstraint("rollout_status IN ('planned','inspected','live')", name="rollout"),
        CheckConstraint(
            "operation = 'self' OR operator_name IS NOT NULL", name="outsourced_has_operator"
        ),
    )


class Terminal(Base):
    __tablename__ = "terminals"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(60), default="")
    # sha256 of a 32-byte random device key: a high-entropy secret needs no slow hash,
    # and the payment path must stay fast.
    key_hash: Mapped[str] = mapped_column(String(64))
    # planned → installed → accepted → live, revoked from any; pays only when live.
    status: Mapped[str] = mapped_column(String(10), default="live")
    installed_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint(
            "status IN ('planned','installed','accepted','live','revoked')", name="status"
        ),
    )


class Role(Base):
    __tablename__ = "roles"
    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)


class RoleGrant(Base):
    __tablename__ = "role_grants"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role_code: Mapped[str] = mapped_column(ForeignKey("roles.code"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    canteen_id: Mapped[int | None] = mapped_column(ForeignKey("canteens.id"))
    # A city role (bureau admin, clearing operator, finance, auditor) held for one region
    # and those below it; NULL = the whole deployment (``org.actors.Actor.load``).
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    __table_args__ = (UniqueConstraint("person_id", "role_code", "unit_id", "canteen_id"),)


ROLE_ROWS = [
    # code, zh, en, read_only, needs 2FA
    ("bureau_admin", "机关事务局管理员", "Bureau administrator", False, True),
    ("clearing_operator", "清算运营方", "Clearing operator", False, True),
    ("finance", "财政", "Finance", True, True),
    ("auditor", "审计", "Auditor", True, True),
    ("unit_admin", "单位管理员", "Unit administrator", False, False),
    ("canteen_manager", "食堂管理员", "Canteen manager", False, False),
    ("waste_supervisor", "反浪费监督员", "Anti-waste supervisor", False, False),
    ("diner", "就餐人员", "Diner", False, False),
]
