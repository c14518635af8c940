"""Reading the organisation for the administration pages, the API and the CLI.

Contract: plain reads (``ctx.db.read()``), rows as dicts whose values are JSON-ready
(dates as ISO text); retired rows are included only when asked for. Who may read is
the caller's check (``web.scopes`` for pages, ``routes`` for the API): these functions
answer for the whole city or one unit; ``within`` (``Actor.region_ids``) keeps only the
rows of those regions (a region's bureau and readers: its region and those below).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.funding.models import BankOrder, Settlement
from onecard.org.fields import CANTEEN_FIELDS, REGION_FIELDS, UNIT_FIELDS, json_value
from onecard.org.models import Canteen, Person, Region, Unit


def _row(r: Any, keys: list[str]) -> dict[str, Any]:
    return {k: json_value(getattr(r, k)) for k in keys}


REGION_KEYS = ["id", *REGION_FIELDS, "retired_at"]
UNIT_KEYS = ["id", *UNIT_FIELDS, "retired_at"]
CANTEEN_KEYS = ["id", *CANTEEN_FIELDS, "rollout_status", "retired_at"]


def regions(
    ctx: Context, *, include_retired: bool = False, within: frozenset[int] | None = None
) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        q = select(Region.__table__).order_by(Region.code)
        if within is not None:
            q = q.where(Region.id.in_(sorted(within)))
        if not include_retired:
            q = q.where(Region.retired_at.is_(None))
        units = dict(
            conn.execute(
                select(Unit.region_id, func.count())
                .where(Unit.retired_at.is_(None))
                .group_by(Unit.region_id)
            ).all()
        )
        return [{**_row(r, REGION_KEYS), "units": int(units.get(r.id, 0))} for r in conn.execute(q)]


def units(
    ctx: Context,
    *,
    include_retired: bool = False,
    q: str = "",
    region_id: int | None = None,
    within: frozenset[int] | None = None,
) -> list[dict[str, Any]]:
    """Every unit with its region's name, active people and canteens (not retired)."""
    with ctx.db.read() as conn:
        query = (
            select(Unit.__table__, Region.name.label("region_name"))
            .join(Region, Region.id == Unit.region_id)
            .order_by(Unit.code)
        )
        if not include_retired:
            query = query.where(Unit.retired_at.is_(None))
        if q.strip():
            like = f"%{q.strip()}%"
            query = query.where(Unit.name.like(like) | Unit.code.like(like))
        if region_id is not None:
            query = query.where(Unit.region_id == region_id)
        if within is not None:
            query = query.where(Unit.region_id.in_(sorted(within)))
        rows = conn.execute(query).all()
        people = _counts(
            conn, select(Person.unit_id, func.count()).where(Person.status == "active")
        )
        canteens = _counts(
            conn, select(Canteen.unit_id, func.count()).where(Canteen.retired_at.is_(None))
        )
    return [
        {
            **_row(r, UNIT_KEYS),
            "region_name": r.region_name,
            "people": people.get(int(r.id), 0),
            "canteens": canteens.get(int(r.id), 0),
        }
        for r in rows
    ]


def _counts(conn: Connection, q: Any) -> dict[int, int]:
    grouped = q.group_by(q.selected_columns[0])
    return {int(k): int(n) for k, n in conn.execute(grouped).all()}


def unit(ctx: Context, unit_id: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        r = conn.execute(
            select(Unit.__table__, Region.name.label("region_name"))
            .join(Region, Region.id == Unit.region_id)
            .where(Unit.id == unit_id)
        ).first()
        if r is None:
            raise NotFound(what="单位")
        people = conn.execute(
            select(func.count()).where(Person.unit_id == unit_id, Person.status == "active")
        ).scalar_one()
    return {**_row(r, UNIT_KEYS), "region_name": r.region_name, "people": int(people)}


def canteens(
    ctx: Context,
    *,
    unit_id: int | None = None,
    include_retired: bool = False,
    within: frozenset[int] | None = None,
) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        q = (
            select(Canteen.__table__, Unit.name.label("unit_name"))
            .join(Unit, Unit.id == Canteen.unit_id)
            .order_by(Canteen.code)
        )
        if unit_id is not None:
            q = q.where(Canteen.unit_id == unit_id)
        if within is not None:
            q = q.where(Canteen.region_id.in_(sorted(within)))
        if not include_retired:
            q = q.where(Canteen.retired_at.is_(None))
        return [{**_row(r, CANTEEN_KEYS), "unit_name": r.unit_name} for r in conn.execute(q)]


def canteen(ctx: Context, canteen_id: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        r = conn.execute(
            select(Canteen.__table__, Unit.name.label("unit_name"))
            .join(Unit, Unit.id == Canteen.unit_id)
            .where(Canteen.id == canteen_id)
        ).first()
        if r is None:
            raise NotFound(what="食堂")
    return {**_row(r, CANTEEN_KEYS), "unit_name": r.unit_name}


def failed_payouts(ctx: Context, canteen_id: int | None = None) -> list[dict[str, Any]]:
    """Settlements whose payout the bank returned, with the bank's reason."""
    with ctx.db.read() as conn:
        q = (
            select(
                Settlement.id,
                Settlement.canteen_id,
                Settlement.quarter,
                Settlement.net_fen,
                BankOrder.to_account,
                BankOrder.failure_reason,
                Canteen.name.label("canteen"),
            )
            .join(Canteen, Canteen.id == Settlement.canteen_id)
            .outerjoin(BankOrder, BankOrder.order_id == Settlement.order_id)
            .where(Settlement.status == "payout_failed")
            .order_by(Settlement.quarter, Canteen.code)
        )
        if canteen_id is not None:
            q = q.where(Settlement.canteen_id == canteen_id)
        return [dict(r._mapping) for r in conn.execute(q)]


def unit_canteens(ctx: Context, unit_id: int) -> list[dict[str, Any]]:
    """A unit's canteens (id, name, operation, operator), for its console's tabs."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Canteen.id, Canteen.name, Canteen.operation, Canteen.operator_name)
            .where(Canteen.unit_id == unit_id)
            .order_by(Canteen.id)
        ).all()
    return [dict(r._mapping) for r in rows]
