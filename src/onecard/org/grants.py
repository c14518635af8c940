"""Administrators and their roles: appointing (granting) and revoking, audited.

Contract:
- ``appoint`` gives a person a role — one of the city roles (bureau admin, clearing
  operator, finance, auditor: ``CITY_ROLES``) or a unit role (unit admin of a unit,
  canteen manager of a canteen) — creating the person first (with their purses, through
  ``builders.create_person``) when the staff number is new, so a unit can have its admin
  before its roster is imported. ``revoke`` removes one grant. Each is one transaction
  with one audit record (``org_role_grant`` / ``org_role_revoke``) whose before/after are
  the person's roles.
- Who: only a bureau admin grants or revokes city roles; a unit's admin (or the bureau)
  the unit roles of that unit and its canteens. A unit role goes to a person of that
  unit. The city keeps at least one bureau admin.
- Regions (issue 17 §1): a city role may be granted for a region (``region_id``; None =
  the whole deployment); it reaches that region and those below it. A bureau admin of a
  region grants and revokes only within its region and those below it: city roles for a
  region in its subtree (never an unscoped one), to a person of its subtree, and unit
  roles of units in its subtree (``Actor.manages_unit``); anything else is 403 with
  nothing written. A person's city roles are all held for one region, or all for the
  whole deployment (a mix is refused). The deployment keeps at least one bureau admin
  for the whole of it.
- Changes take effect at once: every request loads the actor's grants afresh
  (``web.deps.get_actor`` → ``Actor.load``), so the next page or API call sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, StateConflict, UnknownReference
from onecard.org import builders
from onecard.org.actors import CITY_READERS, Actor
from onecard.org.errors import unique_races
from onecard.org.fields import PHONE_RE
from onecard.org.models import (
    CITY_ROLES,
    ROLE_ROWS,
    UNIT_ROLES,
    Canteen,
    Person,
    Region,
    RoleGrant,
    Unit,
)

ROLE_ZH = {code: zh for code, zh, _en, _ro, _tf in ROLE_ROWS}
STAFF_NO_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Appointment:
    """Who gets which role, where; ``name`` / ``unit_id`` / ``phone`` create the person
    when ``staff_no`` is new (the unit defaults to the role's own unit)."""

    staff_no: str
    role: str
    unit_id: int | None = None  # for unit_admin
    canteen_id: int | None = None  # for canteen_manager
    name: str | None = None
    person_unit_id: int | None = None
    phone: str | None = None
    region_id: int | None = None  # a city role held for this region (None: everywhere)


def _grant_label(
    conn: Connection,
    role: str,
    unit_id: int | None,
    canteen_id: int | None,
    region_id: int | None = None,
) -> str:
    label = ROLE_ZH.get(role, role)
    if region_id is not None:
        label += "·" + str(conn.execute(select(Region.name).where(Region.id == region_id)).scalar())
    if unit_id is not None:
        label += "·" + str(conn.execute(select(Unit.name).where(Unit.id == unit_id)).scalar())
    if canteen_id is not None:
        label += "·" + str(
            conn.execute(select(Canteen.name).where(Canteen.id == canteen_id)).scalar()
        )
    return label


def roles_of(conn: Connection, person_id: int) -> list[str]:
    rows = conn.execute(
        select(RoleGrant.role_code, RoleGrant.unit_id, RoleGrant.canteen_id, RoleGrant.region_id)
        .where(RoleGrant.person_id == person_id)
        .order_by(RoleGrant.id)
    ).all()
    return [_grant_label(conn, r.role_code, r.unit_id, r.canteen_id, r.region_id) for r in rows]


def _scope_unit(
    conn: Connection, role: str, unit_id: int | None, canteen_id: int | None
) -> int | None:
    """The unit a role is held in (None for city roles); refuses a wrong shape."""
    if role in CITY_ROLES:
        if unit_id is not None or canteen_id is not None:
            raise InvalidInput(f"{ROLE_ZH[role]}是全市角色，不指定单位或食堂")
        return None
    if role in ("unit_admin", "waste_supervisor"):
        if unit_id is None or canteen_id is not None:
            raise InvalidInput(f"{ROLE_ZH[role]}须指定单位（且只指定单位）")
        unit = conn.execute(select(Unit.id, Unit.retired_at).where(Unit.id == unit_id)).first()
        if unit is None or unit.retired_at is not None:
            raise UnknownReference(field="单位", field_en="Unit", value=unit_id)
        return int(unit_id)
    if role == "canteen_manager":
        if canteen_id is None or unit_id is not None:
            raise InvalidInput("食堂管理员须指定食堂（且只指定食堂）")
        c = conn.execute(
            select(Canteen.unit_id, Canteen.retired_at).where(Canteen.id == canteen_id)
        ).first()
        if c is None or c.retired_at is not None:
            raise UnknownReference(field="食堂", field_en="Canteen", value=canteen_id)
        return int(c.unit_id)
    raise InvalidInput(f"角色应为 {'、'.join(ROLE_ZH[r] for r in (*CITY_ROLES, *UNIT_ROLES))}")


def _require_grantor(
    actor: Actor, role: str, scope_unit: int | None, region_id: int | None = None
) -> None:
    if role in CITY_ROLES:
        # A region's bureau admin: for a region in its subtree, never the whole deployment.
        actor.require_bureau_of(region_id, "bureau_admin")
    elif scope_unit is not None:
        actor.require_unit(scope_unit)
    else:
        raise Forbidden()


def _check_region(conn: Connection, role: str, region_id: int | None) -> None:
    if region_id is None:
        return
    if role not in CITY_ROLES:
        raise InvalidInput(f"{ROLE_ZH[role]}是单位角色，不指定区域")
    r = conn.execute(select(Region.retired_at).where(Region.id == region_id)).first()
    if r is None or r.retired_at is not None:
        raise UnknownReference(field="区域", field_en="Region", value=region_id)


def _one_region(conn: Connection, person_id: int, role: str, region_id: int | None) -> None:
    """A person's city roles are held for one region, or all for the whole deployment."""
    if role not in CITY_ROLES:
        return
    held = set(
        conn.execute(
            select(RoleGrant.region_id).where(
                RoleGrant.person_id == person_id, RoleGrant.role_code.in_(CITY_ROLES)
            )
        ).scalars()
    )
    if held and held != {region_id}:
        raise InvalidInput("同一人员的全市角色须属同一区域（或都不限区域）：请先撤销其他区域的角色")


def _person(
    conn: Connection, ctx: Context, a: Appointment, scope_unit: int | None
) -> tuple[Any, bool]:
    """(person row, created?) for the appointment."""
    staff_no = a.staff_no.strip()
    if not STAFF_NO_RE.fullmatch(staff_no):
        raise InvalidInput("工号只能包含字母、数字、- 和 _，最多 32 位")
    p = conn.execute(select(Person.__table__).where(Person.staff_no == staff_no)).first()
    if p is not None:
        if p.status != "active":
            raise StateConflict(f"工号 {staff_no} 的人员已离职")
        return p, False
    name = (a.name or "").strip()
    if not name or len(name) > 40:
        raise InvalidInput(f"工号 {staff_no} 尚未登记：请填写姓名（最多 40 个字）以新建人员")
    unit_id = a.person_unit_id or scope_unit
    if unit_id is None:
        raise InvalidInput(f"工号 {staff_no} 尚未登记：请选择其所在单位以新建人员")
    unit = conn.execute(
        select(Unit.id, Unit.region_id, Unit.retired_at).where(Unit.id == unit_id)
    ).first()
    if unit is None or unit.retired_at is not None:
        raise UnknownReference(field="所在单位", field_en="Person's unit", value=unit_id)
    phone = (a.phone or "").strip() or None
    if phone and not PHONE_RE.fullmatch(phone):
        raise InvalidInput("手机号格式不正确")
    pid = builders.create_person(
        conn,
        int(unit.region_id),
        int(unit.id),
        staff_no,
        name,
        phone=phone,
        joined_on=ctx.clock.today(),
    )
    return conn.execute(select(Person.__table__).where(Person.id == pid)).one(), True


def appoint(ctx: Context, actor: Actor, a: Appointment) -> dict[str, Any]:
    """Grant a role (creating the person if the staff number is new)."""
    with unique_races(), ctx.db.begin() as conn:
        scope_unit = _scope_unit(conn, a.role, a.unit_id, a.canteen_id)
        _check_region(conn, a.role, a.region_id)
        _require_grantor(actor, a.role, scope_unit, a.region_id)
        person, created = _person(conn, ctx, a, scope_unit)
        if not actor.covers_region(int(person.region_id)):
            # A region's bureau appoints its own people (and creates them in its units).
            raise Forbidden("不在本区域（及下级区域）管辖范围内")
        _one_region(conn, int(person.id), a.role, a.region_id)
        if scope_unit is not None and int(person.unit_id) != scope_unit:
            raise InvalidInput(
                f"{person.name}（{person.staff_no}）不是该单位人员：单位角色只授予本单位人员"
            )
        dup = conn.execute(
            select(RoleGrant.id).where(
                RoleGrant.person_id == person.id,
                RoleGrant.role_code == a.role,
                _same(RoleGrant.unit_id, a.unit_id),
                _same(RoleGrant.canteen_id, a.canteen_id),
                _same(RoleGrant.region_id, a.region_id),
            )
        ).first()
        if dup is not None:
            label = _grant_label(conn, a.role, a.unit_id, a.canteen_id, a.region_id)
            raise StateConflict(f"{person.name} 已是{label}")
        before = [] if created else roles_of(conn, int(person.id))
        builders.grant_role(
            conn,
            int(person.id),
            a.role,
            unit_id=a.unit_id,
            canteen_id=a.canteen_id,
            region_id=a.region_id,
        )
        after = roles_of(conn, int(person.id))
        totals: dict[str, Any] = {"before": {"roles": before}, "after": {"roles": after}}
        if created:
            totals["before"] = None
            totals["after"] = {
                "staff_no": person.staff_no,
                "name": person.name,
                "unit_id": int(person.unit_id),
                "roles": after,
            }
        audit.record(
            conn,
            ctx,
            actor,
            "org_role_grant",
            f"人员 {person.staff_no} {person.name}"[:100],
            totals,
        )
        return {
            "person_id": int(person.id),
            "staff_no": person.staff_no,
            "name": person.name,
            "created": created,
            "roles": after,
        }


def _same(column: Any, value: int | None) -> Any:
    return column.is_(None) if value is None else column == value


def revoke(ctx: Context, actor: Actor, grant_id: int) -> dict[str, Any]:
    """Remove one grant; the person's next request no longer has it."""
    with unique_races(), ctx.db.begin() as conn:
        g = conn.execute(
            select(RoleGrant.__table__).where(RoleGrant.id == grant_id).with_for_update()
        ).first()
        if g is None:
            raise NotFound(what="授权")
        scope_unit: int | None = None
        if g.unit_id is not None:
            scope_unit = int(g.unit_id)
        elif g.canteen_id is not None:
            scope_unit = int(
                conn.execute(select(Canteen.unit_id).where(Canteen.id == g.canteen_id)).scalar_one()
            )
        if g.role_code in CITY_ROLES:
            scope_unit = None
        _require_grantor(actor, g.role_code, scope_unit, g.region_id)
        if g.role_code == "bureau_admin" and g.region_id is None:
            left = conn.execute(
                select(func.count())
                .select_from(RoleGrant)
                .join(Person, Person.id == RoleGrant.person_id)
                .where(
                    RoleGrant.role_code == "bureau_admin",
                    RoleGrant.region_id.is_(None),
                    Person.status == "active",
                )
            ).scalar_one()
            if left <= 1:
                raise StateConflict("全市至少要保留一名机关事务局管理员")
        person = conn.execute(select(Person.__table__).where(Person.id == g.person_id)).one()
        before = roles_of(conn, int(person.id))
        conn.execute(delete(RoleGrant).where(RoleGrant.id == grant_id))
        after = roles_of(conn, int(person.id))
        audit.record(
            conn,
            ctx,
            actor,
            "org_role_revoke",
            f"人员 {person.staff_no} {person.name}"[:100],
            {"before": {"roles": before}, "after": {"roles": after}},
        )
        return {"person_id": int(person.id), "staff_no": person.staff_no, "roles": after}


def administrators(ctx: Context, actor: Actor, unit_id: int | None = None) -> list[dict[str, Any]]:
    """Every grant (but the implicit diner role): the city's, or one unit's and its
    canteens'. The bureau and its overseers read all in their region (a grant is in a
    region by its own region, unit or canteen); a unit admin their own unit."""
    if unit_id is None:
        if not actor.holds(*CITY_READERS):
            raise Forbidden()
    elif not actor.reads_unit(unit_id):
        raise Forbidden()
    with ctx.db.read() as conn:
        home = Unit.__table__.alias("home")
        q = (
            select(
                RoleGrant.id,
                RoleGrant.role_code,
                RoleGrant.unit_id,
                RoleGrant.canteen_id,
                RoleGrant.region_id,
                Region.name.label("region_name"),
                Person.id.label("person_id"),
                Person.staff_no,
                Person.name,
                Person.status,
                home.c.name.label("person_unit"),
                home.c.id.label("person_unit_id"),
                Person.password_hash.is_not(None).label("has_password"),
                Unit.name.label("unit_name"),
                Canteen.name.label("canteen_name"),
            )
            .join(Person, Person.id == RoleGrant.person_id)
            .join(home, home.c.id == Person.unit_id)
            .outerjoin(Unit, Unit.id == RoleGrant.unit_id)
            .outerjoin(Canteen, Canteen.id == RoleGrant.canteen_id)
            .outerjoin(Region, Region.id == RoleGrant.region_id)
            .where(RoleGrant.role_code != "diner")
            .order_by(Person.staff_no, RoleGrant.id)
        )
        if unit_id is not None:
            q = q.where((RoleGrant.unit_id == unit_id) | (Canteen.unit_id == unit_id))
        if actor.region_ids is not None:
            q = q.where(
                actor.in_scope(
                    func.coalesce(RoleGrant.region_id, Unit.region_id, Canteen.region_id)
                )
            )
        return [
            {**dict(r._mapping), "role_zh": ROLE_ZH.get(r.role_code, r.role_code)}
            for r in conn.execute(q)
        ]
