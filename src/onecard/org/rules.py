"""The rules a region, unit or canteen must satisfy against what the database holds.

Contract: each ``*_problems`` returns every ``BadValue`` it finds (empty: fine) and
writes nothing; ``org.admin`` raises the first, the information-table import reports
all of them as row errors. Only the fields in ``changed`` are checked against other
rows (an edit that leaves the code alone does not collide with itself). What the rules
ask of the database goes through ``Lookup``: ``DbLookup`` asks it, the import answers
from the rows it read once — the same answers inside one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, select

from onecard.org.fields import BadValue
from onecard.org.models import Canteen, Region, Unit

# The levels a region may be created at, and the level of its parent: province > city >
# county > township. The top region (a city, or a province) is made by ``onecard init``.
PARENT_LEVEL = {"city": "province", "county": "city", "township": "county"}


def unit_level(region_level: str) -> str:
    """A unit's default level, its region's: a unit of the province itself (省直) is
    counted with the city-level units (units have no province level)."""
    return "city" if region_level == "province" else region_level


def region_problems(
    conn: Connection, final: Mapping[str, Any], changed: Mapping[str, Any], region_id: int | None
) -> list[BadValue]:
    out: list[BadValue] = []
    if "code" in changed:
        q = select(Region.id).where(Region.code == final["code"])
        if region_id is not None:
            q = q.where(Region.id != region_id)
        if conn.execute(q).first() is not None:
            out.append(BadValue.duplicate("区域代码", final["code"]))
    if "parent_id" in changed or "level" in changed:
        level = final["level"]
        if level not in PARENT_LEVEL:
            out.append(
                BadValue("区域级别", "最高一级区域（全市或全省）由 onecard init 创建，这里不能新建")
            )
            return out
        parent = conn.execute(
            select(Region.id, Region.level, Region.retired_at).where(
                Region.id == final["parent_id"]
            )
        ).first()
        if parent is None or parent.retired_at is not None:
            out.append(BadValue.unknown("上级区域", final["parent_id"]))
        elif parent.level != PARENT_LEVEL[level]:
            out.append(
                BadValue(
                    "上级区域",
                    "市的上级应为省，县（区）的上级应为市，乡镇的上级应为县（区）",
                )
            )
    return out


class Lookup(Protocol):
    """What the rules ask of the database. ``DbLookup`` asks it; the information-table
    import answers from the rows it read once (the same answers, at city scale)."""

    def unit_taken(self, column: str, value: Any, except_id: int | None) -> bool:
        """Another unit has this code (any), or this name / bank account (not retired)."""
        ...

    def region_open(self, region_id: int) -> bool: ...

    def unit_open(self, unit_id: int) -> bool: ...

    def canteen_code_taken(self, code: str, except_id: int | None) -> bool: ...

    def open_canteen_names(self, unit_id: int) -> list[str]: ...


@dataclass
class DbLookup:
    conn: Connection

    def unit_taken(self, column: str, value: Any, except_id: int | None) -> bool:
        q = select(Unit.id).where(getattr(Unit, column) == value)
        if column != "code":
            q = q.where(Unit.retired_at.is_(None))
        if except_id is not None:
            q = q.where(Unit.id != except_id)
        return self.conn.execute(q).first() is not None

    def region_open(self, region_id: int) -> bool:
        r = self.conn.execute(select(Region.retired_at).where(Region.id == region_id)).first()
        return r is not None and r.retired_at is None

    def unit_open(self, unit_id: int) -> bool:
        u = self.conn.execute(select(Unit.retired_at).where(Unit.id == unit_id)).first()
        return u is not None and u.retired_at is None

    def canteen_code_taken(self, code: str, except_id: int | None) -> bool:
        q = select(Canteen.id).where(Canteen.code == code)
        if except_id is not None:
            q = q.where(Canteen.id != except_id)
        return self.conn.execute(q).first() is not None

    def open_canteen_names(self, unit_id: int) -> list[str]:
        return list(
            self.conn.execute(
                select(Canteen.name)
                .where(Canteen.unit_id == unit_id, Canteen.retired_at.is_(None))
                .order_by(Canteen.code)
            ).scalars()
        )


def unit_problems(
    db: Lookup,
    final: Mapping[str, Any],
    changed: Mapping[str, Any],
    unit_id: int | None,
    *,
    check_region: bool = True,
) -> list[BadValue]:
    out: list[BadValue] = []
    if "code" in changed and db.unit_taken("code", final["code"], unit_id):
        out.append(BadValue.duplicate("单位代码", final["code"]))
    if "name" in changed and db.unit_taken("name", final["name"], unit_id):
        out.append(BadValue.duplicate("单位名称", final["name"]))
    if check_region and "region_id" in changed and not db.region_open(final["region_id"]):
        out.append(BadValue.unknown("所属区域", final["region_id"]))
    if (
        "bank_account" in changed
        and final["bank_account"]
        and db.unit_taken("bank_account", final["bank_account"], unit_id)
    ):
        # Units' payments are matched to them by this account (funding.notices).
        out.append(BadValue.duplicate("单位账户", final["bank_account"]))
    if "has_canteen" in changed and not final["has_canteen"] and unit_id is not None:
        names = db.open_canteen_names(unit_id)
        if names:
            out.append(BadValue("有无食堂", f"本单位登记有食堂 {'、'.join(names)}"))
    return out


def canteen_problems(
    db: Lookup,
    final: Mapping[str, Any],
    changed: Mapping[str, Any],
    canteen_id: int | None,
    *,
    check_unit: bool = True,
) -> list[BadValue]:
    out: list[BadValue] = []
    if "code" in changed and db.canteen_code_taken(final["code"], canteen_id):
        out.append(BadValue.duplicate("食堂编码", final["code"]))
    if check_unit and "unit_id" in changed and not db.unit_open(final["unit_id"]):
        out.append(BadValue.unknown("所属单位", final["unit_id"]))
    out.extend(canteen_shape_problems(final))
    return out


def canteen_shape_problems(final: Mapping[str, Any]) -> list[BadValue]:
    """What a canteen's own fields must agree on, whatever the database holds."""
    out: list[BadValue] = []
    if final.get("operation") == "outsourced" and not final.get("operator_name"):
        out.append(BadValue("经营者", "委托经营的食堂须填写经营者名称"))
    starts, ends = final.get("contract_starts"), final.get("contract_ends")
    if starts and ends and ends < starts:
        out.append(BadValue("合同结束日期", "不能早于合同开始日期"))
    return out
