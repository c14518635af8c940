"""Rating a meal (R-F4), and the averages the directory and dashboards show.

Contract:
- ``rate_meal(ctx, person_id, payment_id, scores, comment)`` is one transaction. Only the
  person who paid may rate, only an approved payment (not refused, not reversed, not
  fully refunded), only once (``AlreadyRated``; the unique ``payment_id`` is the database
  backstop for two submits racing). Scores are integers 1–5 for each of taste, hygiene,
  service and value; the comment is at most 500 characters.
- ``unrated_payment_ids`` — which of a person's payments can still be rated.
- ``canteen_averages`` — per canteen: number of ratings and the average of each aspect
  and overall (floats, display only; nothing is paid from them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from onecard.core.context import Context
from onecard.core.errors import (
    AlreadyRated,
    Forbidden,
    InvalidInput,
    NotFound,
    NotRateable,
)
from onecard.feedback.models import ASPECTS, Rating
from onecard.pay.models import Payment

MAX_COMMENT = 500


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


def check_scores(scores: Mapping[str, object]) -> dict[str, int]:
    out: dict[str, int] = {}
    for aspect in ASPECTS:
        v = scores.get(aspect)
        if type(v) is not int or not 1 <= v <= 5:
            raise InvalidInput(f"{aspect} 评分须为 1–5 的整数")
        out[aspect] = v
    return out


def rate_meal(
    ctx: Context,
    person_id: int,
    payment_id: int,
    scores: Mapping[str, object],
    comment: str = "",
) -> int:
    stars = check_scores(scores)
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"留言最多 {MAX_COMMENT} 字")
    try:
        with ctx.db.begin() as conn:
            pay = conn.execute(
                select(
                    Payment.person_id,
                    Payment.status,
                    Payment.amount_fen,
                    Payment.refunded_fen,
                    Payment.canteen_id,
                    Payment.region_id,
                ).where(Payment.id == payment_id)
            ).first()
            if pay is None:
                raise NotFound(what="交易")
            if pay.person_id != person_id:
                raise Forbidden()
            if pay.status != "approved" or pay.refunded_fen >= pay.amount_fen:
                raise NotRateable()
            done = conn.execute(select(Rating.id).where(Rating.payment_id == payment_id)).first()
            if done is not None:
                raise AlreadyRated()
            return int(
                conn.execute(
                    insert(Rating)
                    .values(
                        region_id=pay.region_id,
                        payment_id=payment_id,
                        person_id=person_id,
                        canteen_id=pay.canteen_id,
                        comment=comment,
                        created_at=ctx.clock.now(),
                        **stars,
                    )
                    .returning(Rating.id)
                ).scalar_one()
            )
    except IntegrityError as exc:
        # Two submits of the same form raced past the check: the unique key decided.
        raise AlreadyRated() from exc


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
