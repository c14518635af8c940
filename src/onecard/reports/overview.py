"""The bureau console's overview: canteens and units, and how far the rollout has come
(R-R1, R-R3).

Contract: plain reads (``ctx.db.read()``), no writes; a fixed number of queries whatever
the size of the city. A unit is flagged slow while any of its canteens is not live, or a
live canteen has no live terminal (the detail, and the plan: ``rollout.queries``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.org.models import Canteen, Terminal, Unit
from onecard.org.queries import active_people_by_unit, open_units


def rollout(ctx: Context) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(canteens with terminal counts by status, units with people and a slow flag).

    A unit is flagged slow while any of its canteens is not live, or a live canteen has
    no live terminal (the detail, and the plan: ``rollout.queries``)."""
    with ctx.db.read() as conn:
        canteens = conn.execute(
            select(
                Canteen.id,
                Canteen.code,
                Canteen.name,
                Canteen.unit_id,
                Canteen.rollout_status,
                Unit.name.label("unit_name"),
            )
            .join(Unit, Unit.id == Canteen.unit_id)
            .where(Canteen.retired_at.is_(None))
            .order_by(Canteen.code)
        ).all()
        term: dict[int, dict[str, int]] = {}
        for cid, st, n in conn.execute(
            select(Terminal.canteen_id, Terminal.status, func.count()).group_by(
                Terminal.canteen_id, Terminal.status
            )
        ):
            term.setdefault(int(cid), {})[st] = int(n)
        units = open_units(conn)
        people = active_people_by_unit(conn)
    c_rows = []
    slow_units: set[int] = set()
    by_unit: dict[int, list[str]] = {}
    for c in canteens:
        t = term.get(int(c.id), {})
        slow = c.rollout_status != "live" or not t.get("live")
        if slow:
            slow_units.add(int(c.unit_id))
        by_unit.setdefault(int(c.unit_id), []).append(c.name)
        c_rows.append({**dict(c._mapping), "terminals": t, "slow": slow})
    u_rows = [
        {
            "id": int(u.id),
            "code": u.code,
            "name": u.name,
            "people": int(people.get(u.id, 0)),
            "canteens": by_unit.get(int(u.id), []),
            "slow": int(u.id) in slow_units,
        }
        for u in units
    ]
    return c_rows, u_rows
