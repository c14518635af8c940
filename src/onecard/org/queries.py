"""Read models of the organisation for the pages: pick lists, a unit's roster, one member.

Contract: reads only, one read transaction each (``ctx.db.read()``); who may read is the
caller's check (``web.scopes``). Rows are SQLAlchemy rows (attribute access), as the
templates read them. The older read models of this area are ``org.listing`` (the
administration pages and the API, JSON-ready dicts) and ``org.directory`` (lookups by the
numbers people type).
- ``canteen_choices(ctx)``: every canteen's ``(id, name)``, by code (a form's select).
- ``unit_choices(ctx)``: every unit's ``(id, code, name)``, by code.
- ``canteen_owner(ctx, canteen_id)``: the owning unit's id; ``NotFound`` when none.
- ``canteen_exists(ctx, canteen_id)``.
- ``roster(ctx, unit_id, search, show)``: at most ``ROSTER_LIMIT`` people of the unit by
  staff number (``show != "all"``: active only; ``search`` matches name or staff number)
  and the unit's head count by status.
- ``member(ctx, unit_id, person_id)``: the person's row, ``NotFound`` unless in the unit.
- ``person_name(ctx, person_id)``: ``{"name", "staff_no"}``.
- ``unit_row(ctx, unit_id)``: the unit's row, or None.
- ``active_actor(ctx, person_id)``: the person as an ``Actor`` with their grants, or None
  when there is no such person or they are no longer active (the signed-in check).
- ``person_id(ctx, staff_no)`` / ``unit_id(ctx, code)``: the id, or None (the caller
  says what was not found; ``org.directory`` raises its own ``NotFound``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.org.actors import Actor
from onecard.org.fund_regions import subtree
from onecard.org.models import Canteen, Person, Region, Unit

ROSTER_LIMIT = 1000  # the roster page lists at most this many people (search narrows it)


def canteen_choices(ctx: Context) -> list[Any]:
    with ctx.db.read() as conn:
        return list(conn.execute(select(Canteen.id, Canteen.name).order_by(Canteen.code)).all())


def unit_choices(ctx: Context) -> list[Any]:
    with ctx.db.read() as conn:
        return list(conn.execute(select(Unit.id, Unit.code, Unit.name).order_by(Unit.code)).all())


def canteen_owner(ctx: Context, canteen_id: int) -> int:
    with ctx.db.read() as conn:
        uid = conn.execute(select(Canteen.unit_id).where(Canteen.id == canteen_id)).scalar()
    if uid is None:
        raise NotFound(what="食堂")
    return int(uid)


def canteen_name(ctx: Context, canteen_id: int) -> str:
    with ctx.db.read() as conn:
        name = conn.execute(select(Canteen.name).where(Canteen.id == canteen_id)).scalar()
    if name is None:
        raise NotFound(what="食堂")
    return str(name)


def canteen_exists(ctx: Context, canteen_id: int) -> bool:
    with ctx.db.read() as conn:
        return conn.execute(select(Canteen.id).where(Canteen.id == canteen_id)).first() is not None


def roster(
    ctx: Context, unit_id: int, search: str = "", show: str = "active"
) -> tuple[list[Any], dict[str, int]]:
    query = select(
        Person.id,
        Person.staff_no,
        Person.name,
        Person.category,
        Person.status,
        Person.standard_fen,
        Person.joined_on,
        Person.left_on,
        Person.phone,
    ).where(Person.unit_id == unit_id)
    if show != "all":
        query = query.where(Person.status == "active")
    if search.strip():
        like = f"%{search.strip()}%"
        query = query.where(Person.name.like(like) | Person.staff_no.like(like))
    with ctx.db.read() as conn:
        people = list(conn.execute(query.order_by(Person.staff_no).limit(ROSTER_LIMIT)).all())
        counts = {
            str(s): int(n)
            for s, n in conn.execute(
                select(Person.status, func.count())
                .where(Person.unit_id == unit_id)
                .group_by(Person.status)
            ).all()
        }
    return people, counts


def member(ctx: Context, unit_id: int, person_id: int) -> Any:
    with ctx.db.read() as conn:
        p = conn.execute(
            select(Person.__table__).where(Person.id == person_id, Person.unit_id == unit_id)
        ).first()
    if p is None:
        raise NotFound(what="人员")
    return p


def person_name(ctx: Context, person_id: int) -> dict[str, str]:
    with ctx.db.read() as conn:
        row = conn.execute(select(Person.name, Person.staff_no).where(Person.id == person_id)).one()
    return {"name": row.name, "staff_no": row.staff_no}


def unit_row(ctx: Context, unit_id: int) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(select(Unit.__table__).where(Unit.id == unit_id)).first()


def active_actor(ctx: Context, person_id: int) -> Actor | None:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Person.id, Person.name, Person.unit_id, Person.status).where(
                Person.id == person_id
            )
        ).first()
        if row is None or row.status != "active":
            return None
        return Actor.load(conn, int(row.id), f"person:{row.id}:{row.name}", int(row.unit_id))


def person_id(ctx: Context, staff_no: str) -> int | None:
    with ctx.db.read() as conn:
        pid = conn.execute(select(Person.id).where(Person.staff_no == staff_no)).scalar()
    return None if pid is None else int(pid)


def unit_id(ctx: Context, code: str) -> int | None:
    with ctx.db.read() as conn:
        uid = conn.execute(select(Unit.id).where(Unit.code == code)).scalar()
    return None if uid is None else int(uid)


def open_units(conn: Connection) -> list[Any]:
    """Units not retired (id, code, name), by code — inside the caller's read."""
    return list(
        conn.execute(
            select(Unit.id, Unit.code, Unit.name)
            .where(Unit.retired_at.is_(None))
            .order_by(Unit.code)
        ).all()
    )


def active_people_by_unit(conn: Connection) -> dict[int, int]:
    """Active people per unit id — inside the caller's read."""
    rows = conn.execute(
        select(Person.unit_id, func.count())
        .where(Person.status == "active")
        .group_by(Person.unit_id)
    ).all()
    return {int(u): int(n) for u, n in rows}


def region_subtree(ctx: Context, region_id: int) -> frozenset[int] | None:
    """The region and every region below it; None when there is no such region."""
    with ctx.db.read() as conn:
        if conn.execute(select(Region.id).where(Region.id == region_id)).first() is None:
            return None
        return frozenset(subtree(conn, region_id))
