"""Read models of feedback for the diner's pages, the till, the directory and dashboards.

Contract: reads only, one read transaction each.
- ``rated_payment_ids(ctx, payment_ids)`` — which of these payments were rated already.
- ``canteen_averages(ctx)`` — per canteen: number of ratings and the average of each
  aspect and overall (floats, display only; nothing is paid from them).
- ``recent_comments(ctx, canteen_id, limit)`` — the canteen's latest ratings with a
  comment, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.feedback.models import Rating


@dataclass(frozen=True)
class Averages:
    count: int
    taste: float
    hygiene: float
    service: float
    value: float

    @property
    def overall(self) -> float:
        return (self.taste + self.hygiene + self.service + self.value) / 4


def rated_payment_ids(ctx: Context, payment_ids: Iterable[int]) -> set[int]:
    ids = list(payment_ids)
    if not ids:
        return set()
    with ctx.db.read() as conn:
        return set(
            conn.execute(select(Rating.payment_id).where(Rating.payment_id.in_(ids))).scalars()
        )


def canteen_averages(ctx: Context) -> dict[int, Averages]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                Rating.canteen_id,
                func.count(),
                func.avg(Rating.taste),
                func.avg(Rating.hygiene),
                func.avg(Rating.service),
                func.avg(Rating.value),
            ).group_by(Rating.canteen_id)
        ).all()
    return {
        int(r[0]): Averages(int(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
        for r in rows
    }


def recent_comments(ctx: Context, canteen_id: int, limit: int = 10) -> list[dict[str, object]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                Rating.created_at,
                Rating.taste,
                Rating.hygiene,
                Rating.service,
                Rating.value,
                Rating.comment,
            )
            .where(Rating.canteen_id == canteen_id, Rating.comment != "")
            .order_by(Rating.id.desc())
            .limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]
