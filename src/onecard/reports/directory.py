"""Read models shared by the public directory, the unit pages and the bureau console.

Contract: plain reads (``ctx.db.read()``), no writes. ``canteen_directory`` is R-R2's
list: every live canteen with location, contact, hours, seats, visitor prices per meal
and the average rating.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from onecard.core.context import Context
from onecard.feedback.queries import canteen_averages
from onecard.org.models import Canteen, Unit
from onecard.pay.models import MealPeriod, MealPrice


def meal_prices(ctx: Context, canteen_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per canteen: its meal periods in time order with the price per diner class."""
    out: dict[int, list[dict[str, Any]]] = {cid: [] for cid in canteen_ids}
    if not canteen_ids:
        return out
    with ctx.db.read() as conn:
        periods = conn.execute(
            select(
                MealPeriod.id,
                MealPeriod.canteen_id,
                MealPeriod.code,
                MealPeriod.name,
                MealPeriod.starts,
                MealPeriod.ends,
                MealPeriod.per_person_limit,
            )
            .where(MealPeriod.canteen_id.in_(canteen_ids))
            .order_by(MealPeriod.canteen_id, MealPeriod.starts)
        ).all()
        prices: dict[int, dict[str, int]] = {}
        for mid, klass, fen in conn.execute(
            select(MealPrice.meal_period_id, MealPrice.diner_class, MealPrice.price_fen).where(
                MealPrice.meal_period_id.in_([p.id for p in periods] or [0])
            )
        ):
            prices.setdefault(int(mid), {})[klass] = int(fen)
    for p in periods:
        out[int(p.canteen_id)].append(
            {
                "id": int(p.id),
                "code": p.code,
                "name": p.name,
                "starts": p.starts,
                "ends": p.ends,
                "limit": int(p.per_person_limit),
                "prices": prices.get(int(p.id), {}),
            }
        )
    return out


def canteens(
    ctx: Context, unit_id: int | None = None, live_only: bool = False
) -> list[dict[str, Any]]:
    q = (
        select(Canteen.__table__, Unit.name.label("unit_name"))
        .join(Unit, Unit.id == Canteen.unit_id)
        .where(Canteen.retired_at.is_(None))  # a retired canteen serves nobody
    )
    if unit_id is not None:
        q = q.where(Canteen.unit_id == unit_id)
    if live_only:
        q = q.where(Canteen.rollout_status == "live")
    with ctx.db.read() as conn:
        rows = conn.execute(q.order_by(Canteen.id)).all()
    ratings = canteen_averages(ctx)
    meals = meal_prices(ctx, [int(r.id) for r in rows])
    out = []
    for c in rows:
        avg = ratings.get(int(c.id))
        out.append(
            {
                "id": int(c.id),
                "code": c.code,
                "name": c.name,
                "unit_id": int(c.unit_id),
                "unit_name": c.unit_name,
                "operation": c.operation,
                "operator_name": c.operator_name,
                "location": c.location,
                "contact": c.contact,
                "phone": c.phone,
                "capacity": c.capacity,
                "service_staff": c.service_staff,
                "dining_area_m2": c.dining_area_m2,
                "opening_hours": c.opening_hours,
                "notes": c.notes,
                "serves_visitors": c.serves_visitors,
                "serves_guests": c.serves_guests,
                "purse_order": c.purse_order,
                "rollout_status": c.rollout_status,
                "rating": round(avg.overall, 1) if avg else None,
                "rating_count": avg.count if avg else 0,
                "meals": meals[int(c.id)],
            }
        )
    return out
