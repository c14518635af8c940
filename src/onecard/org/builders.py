"""Creating organisation rows together with their ledger accounts.

Contract: each function works inside the caller's transaction (it never commits) and
returns the new row's id. Creating a person opens their two purses; a unit, its two
sub-accounts of the system lines; a canteen, its payable. The demo builder, the roster
import and the tests all create rows through here, so no row exists without its
accounts.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, time

import pyotp
from sqlalchemy import Connection, func, insert, select, update

from onecard.ledger.models import CANTEEN_KINDS, PERSON_KINDS, UNIT_KINDS
from onecard.ledger.service import open_account, open_system_accounts
from onecard.org.models import ROLE_ROWS, Canteen, Person, Region, Role, RoleGrant, Terminal, Unit
from onecard.pay.models import MealPeriod, MealPrice


def seed_roles(conn: Connection) -> None:
    have = set(conn.execute(select(Role.code)).scalars())
    rows = [
        {"code": c, "name_zh": zh, "name_en": en, "read_only": ro, "needs_second_factor": tf}
        for c, zh, en, ro, tf in ROLE_ROWS
        if c not in have
    ]
    if rows:
        conn.execute(insert(Role), rows)


def create_region(
    conn: Connection, code: str, name: str, level: str = "city", parent_id: int | None = None
) -> int:
    rid = int(
        conn.execute(
            insert(Region)
            .values(
                code=code, name=name, level=level, parent_id=parent_id, own_fund=parent_id is None
            )
            .returning(Region.id)
        ).scalar_one()
    )
    if parent_id is None:
        # The deployment's top keeps ("system", 0); another region without a parent (a
        # second tree beside it, as tests build a town next to a city) keeps its own
        # fund with accounts of its own, never the top's.
        first = (
            conn.execute(
                select(func.count()).where(Region.parent_id.is_(None), Region.id != rid)
            ).scalar_one()
            == 0
        )
        open_system_accounts(conn, rid, top=first)
        seed_roles(conn)
    return rid


def create_unit(
    conn: Connection,
    region_id: int,
    code: str,
    name: str,
    *,
    default_standard_fen: int = 0,
    bank_account: str | None = None,
    contact: str | None = None,
    phone: str | None = None,
    level: str = "city",
    has_canteen: bool = False,
) -> int:
    uid = int(
        conn.execute(
            insert(Unit)
            .values(
                region_id=region_id,
                code=code,
                name=name,
                default_standard_fen=default_standard_fen,
                bank_account=bank_account,
                contact=contact,
                phone=phone,
                level=level,
                has_canteen=has_canteen,
            )
            .returning(Unit.id)
        ).scalar_one()
    )
    for kind in UNIT_KINDS:
        open_account(conn, region_id, "unit", uid, kind)
    return uid


def generate_secret() -> str:
    """A fresh base32 TOTP secret (160 bits) for a person's row."""
    return pyotp.random_base32()


def generate_token() -> str:
    """8 random digits (a leading 0 is fine: it is a string, never an int)."""
    # secrets, not random: the token is half of what a forger would have to guess.
    return f"{secrets.randbelow(10**8):08d}"


def new_paycode_identity(conn: Connection) -> tuple[str, str]:
    """A fresh (token, secret) pair; the token is unique among people and was never
    anyone's before (a retired token keeps meaning "a code made with an old secret")."""
    from onecard.pay.models import RetiredPaycode

    while True:
        token = generate_token()
        taken = (
            select(Person.id)
            .where(Person.paycode_token == token)
            .union_all(select(RetiredPaycode.person_id).where(RetiredPaycode.token == token))
        )
        if conn.execute(taken.limit(1)).first() is None:
            return token, generate_secret()


def create_person(
    conn: Connection,
    region_id: int,
    unit_id: int,
    staff_no: str,
    name: str,
    *,
    category: str = "staff",
    phone: str | None = None,
    standard_fen: int = 0,
    bank_card_no: str | None = None,
    joined_on: date | None = None,
    password_hash: str | None = None,
) -> int:
    token, secret = new_paycode_identity(conn)
    pid = int(
        conn.execute(
            insert(Person)
            .values(
                region_id=region_id,
                unit_id=unit_id,
                staff_no=staff_no,
                name=name,
                category=category,
                phone=phone,
                status="active",
                standard_fen=standard_fen,
                bank_card_no=bank_card_no,
                joined_on=joined_on,
                paycode_token=token,
                paycode_secret=secret,
                paycode_last_step=0,
                password_hash=password_hash,
                must_change_password=True,
            )
            .returning(Person.id)
        ).scalar_one()
    )
    for kind in PERSON_KINDS:
        open_account(conn, region_id, "person", pid, kind)
    return pid


def create_canteen(
    conn: Connection,
    region_id: int,
    unit_id: int,
    code: str,
    name: str,
    *,
    operation: str = "self",
    operator_name: str | None = None,
    operator_bank_account: str | None = None,
    location: str = "",
    contact: str | None = None,
    phone: str | None = None,
    capacity: int = 0,
    service_staff: int = 0,
    dining_area_m2: int = 0,
    opening_hours: str = "",
    serves_visitors: bool = True,
    purse_order: str = "subsidy_first",
    rollout_status: str = "live",
    windows: int = 0,
    contract_starts: date | None = None,
    contract_ends: date | None = None,
    district: str = "",
    guest_access: str = "none",
    guest_note: str = "",
    coordinates: str | None = None,
) -> int:
    cid = int(
        conn.execute(
            insert(Canteen)
            .values(
                region_id=region_id,
                unit_id=unit_id,
                code=code,
                name=name,
                operation=operation,
                operator_name=operator_name,
                operator_bank_account=operator_bank_account,
                location=location,
                contact=contact,
                phone=phone,
                capacity=capacity,
                service_staff=service_staff,
                dining_area_m2=dining_area_m2,
                opening_hours=opening_hours,
                notes="",
                serves_visitors=serves_visitors,
                serves_guests=True,
                purse_order=purse_order,
                rollout_status=rollout_status,
                windows=windows,
                contract_starts=contract_starts,
                contract_ends=contract_ends,
                district=district,
                guest_access=guest_access,
                guest_note=guest_note,
                coordinates=coordinates,
            )
            .returning(Canteen.id)
        ).scalar_one()
    )
    for kind in CANTEEN_KINDS:
        open_account(conn, region_id, "canteen", cid, kind)
    conn.execute(
        update(Unit).where(Unit.id == unit_id, Unit.has_canteen.is_(False)).values(has_canteen=True)
    )
    return cid


def add_meal_period(
    conn: Connection,
    canteen_id: int,
    code: str,
    name: str,
    starts: time,
    ends: time,
    prices: dict[str, int],
    per_person_limit: int = 1,
) -> int:
    """A meal window with its price per diner class ('own', 'visitor', 'guest')."""
    mid = int(
        conn.execute(
            insert(MealPeriod)
            .values(
                canteen_id=canteen_id,
                code=code,
                name=name,
                starts=starts,
                ends=ends,
                per_person_limit=per_person_limit,
            )
            .returning(MealPeriod.id)
        ).scalar_one()
    )
    conn.execute(
        insert(MealPrice),
        [{"meal_period_id": mid, "diner_class": k, "price_fen": v} for k, v in prices.items()],
    )
    return mid


def hash_device_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def register_terminal(
    conn: Connection,
    region_id: int,
    canteen_id: int,
    code: str,
    *,
    name: str = "",
    key: str | None = None,
    installed_at: datetime | None = None,
    status: str = "live",
) -> tuple[int, str]:
    """Register a terminal; returns (id, device key). The key is shown once, stored hashed.

    Builders (tests, the demo, the benchmark city) make terminals that pay at once
    (``live``); the bureau's registration (``rollout.terminals``) makes an ``installed`` one,
    which pays once accepted and made live (``rollout.service``)."""
    key = key or secrets.token_urlsafe(32)
    tid = int(
        conn.execute(
            insert(Terminal)
            .values(
                region_id=region_id,
                canteen_id=canteen_id,
                code=code,
                name=name,
                key_hash=hash_device_key(key),
                status=status,
                installed_at=installed_at,
            )
            .returning(Terminal.id)
        ).scalar_one()
    )
    return tid, key


def grant_role(
    conn: Connection,
    person_id: int,
    role_code: str,
    *,
    unit_id: int | None = None,
    canteen_id: int | None = None,
    region_id: int | None = None,
) -> None:
    conn.execute(
        insert(RoleGrant).values(
            person_id=person_id,
            role_code=role_code,
            unit_id=unit_id,
            canteen_id=canteen_id,
            region_id=region_id,
        )
    )
