"""Starting a city on an empty database (``onecard init``).

Contract: ``start_city(ctx, actor, …)`` is one transaction that creates the city (the
region, with its administrative code and one-card network number), its system ledger
accounts and the roles, the bureau's own unit (a person always belongs to a unit) and
the first bureau administrator, with a one-time password. That person must change it
and enrol an authenticator (TOTP) at first sign-in: ``must_change_password`` is set, no
authenticator is enrolled, and the bureau-admin role asks for a second factor. A
database that already holds a city (any region, unit or person) is refused with
``CityExists`` and nothing is written (``existing_city`` lets the command refuse before
it even migrates the schema). The network number must equal ``ONECARD_REGION_NO``
(payment codes are checked against it) and the code ``ONECARD_REGION_CODE`` (card
numbers start with it).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, func, inspect, select, text, update

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.core.errors import CityExists, InvalidInput
from onecard.core.passwords import hash_password
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.models import Person, Region, Unit

_CODE = re.compile(r"[0-9]{6}")
_NETWORK = re.compile(r"[0-9]{3}")
_UNIT_CODE = re.compile(r"[A-Za-z0-9_-]{1,20}")
_STAFF_NO = re.compile(r"[A-Za-z0-9_-]{1,32}")
# No 0/O, 1/l/I: a one-time password is read off a screen and typed in.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class StartedCity:
    region_id: int
    unit_id: int
    admin_id: int
    admin_staff_no: str
    password: str  # shown once; only its hash is stored


def one_time_password() -> str:
    """12 characters with letters and digits (the password rule), none easily misread."""
    while True:
        pw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def existing_city(engine: Engine) -> str | None:
    """The name of the city a database already holds (``None`` for an empty one), read
    before anything — even the schema — is touched."""
    names = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        if "regions" in names:
            got = conn.execute(select(Region.name).order_by(Region.id).limit(1)).scalar()
            if got is not None:
                return str(got)
        for table, what in (("units", "（已有单位数据）"), ("people", "（已有人员数据）")):
            if table in names and conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                return what
    return None


def _check(name: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    value = value.strip()
    if not pattern.fullmatch(value):
        raise InvalidInput(f"{name}应为{rule}：{value!r}")
    return value


def start_city(
    ctx: Context,
    actor: Actor,
    *,
    city: str,
    code: str,
    network_no: str,
    bureau_name: str,
    bureau_code: str,
    admin_staff_no: str,
    admin_name: str,
    level: str = "city",
) -> StartedCity:
    """``level`` "province" starts a province (its cities are then created under it by
    the org administration, as counties are under a city); the top region either way."""
    if level not in ("city", "province"):
        raise InvalidInput("最高一级区域应为 city（市）或 province（省）")
    city = city.strip()
    if not city or len(city) > 60:
        raise InvalidInput("城市名称不能为空，最多 60 个字")
    code = _check("行政区划代码", code, _CODE, " 6 位数字，如 431000")
    network_no = _check("一卡通网络号", network_no, _NETWORK, " 3 位数字，如 735")
    if network_no != ctx.settings.region_no:
        raise InvalidInput(
            f"网络号 {network_no} 与设置 ONECARD_REGION_NO={ctx.settings.region_no} 不一致："
            "付款码按该设置校验，请先改设置"
        )
    if code != ctx.settings.region_code:
        raise InvalidInput(
            f"行政区划代码 {code} 与设置 ONECARD_REGION_CODE={ctx.settings.region_code} 不一致："
            "卡号以该设置开头，请先改设置"
        )
    bureau_code = _check("机关事务局单位代码", bureau_code, _UNIT_CODE, "字母、数字、-、_")
    admin_staff_no = _check("管理员工号", admin_staff_no, _STAFF_NO, "字母、数字、-、_，最多 32 位")
    bureau_name, admin_name = bureau_name.strip(), admin_name.strip()
    if not bureau_name or len(bureau_name) > 100:
        raise InvalidInput("机关事务局名称不能为空，最多 100 个字")
    if not admin_name or len(admin_name) > 40:
        raise InvalidInput("管理员姓名不能为空，最多 40 个字")
    password = one_time_password()
    with ctx.db.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two inits at once: the second waits, then finds the first city.
            conn.execute(text("LOCK TABLE regions IN EXCLUSIVE MODE"))
        existing = conn.execute(select(Region.name).order_by(Region.id).limit(1)).scalar()
        if existing is None and conn.execute(select(func.count()).select_from(Unit)).scalar():
            existing = "（已有单位数据）"
        if existing is None and conn.execute(select(func.count()).select_from(Person)).scalar():
            existing = "（已有人员数据）"
        if existing is not None:
            raise CityExists(city=existing)
        region = b.create_region(conn, code, city, level)
        conn.execute(update(Region).where(Region.id == region).values(network_no=network_no))
        unit = b.create_unit(conn, region, bureau_code, bureau_name)
        admin = b.create_person(
            conn,
            region,
            unit,
            admin_staff_no,
            admin_name,
            password_hash=hash_password(password),
        )
        conn.execute(
            update(Person)
            .where(Person.id == admin)
            .values(must_change_password=True, totp_secret=None)
        )
        b.grant_role(conn, admin, "bureau_admin")
        audit.record(
            conn,
            ctx,
            actor,
            "init_city",
            f"{city} {code}",
            {
                "network_no": int(network_no),
                "region_id": region,
                "admin_id": admin,
                "level": level,
            },
        )
    return StartedCity(region, unit, admin, admin_staff_no, password)
