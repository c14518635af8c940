"""Rating a meal (R-F4). What is read back (ratings given, averages, comments) is in
``feedback.queries``.

Contract:
- ``rate_meal(ctx, person_id, payment_id, scores, comment)`` is one transaction. Only the
  person who paid may rate, only an approved payment (not refused, not reversed, not
  fully refunded), only once (``AlreadyRated``; the unique ``payment_id`` is the database
  backstop for two submits racing). Scores are integers 1–5 for each of taste, hygiene,
  service and value; the comment is at most 500 characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select
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


def check_scores(scores: Mapping[str, object]) -> dict[str, int]:
    out: dict[str, int] = {}
    for aspect in ASPECTS:
        v = scores.get(aspect)
        if type(v) is not int or not 1 <= v <= 5:
            raise InvalidInput(f"{aspect} 评分须为 1–5 的整数")
        out[aspect] = v
    return out


def rateable_payment(conn: Connection, payment_id: int, person_id: int | None) -> Any:
    """The payment a person may rate (its meal or its dishes): theirs (else 403), approved
    and not fully refunded (else ``NotRateable``); its canteen and region come with it."""
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
    if person_id is None or pay.person_id != person_id:
        raise Forbidden()
    if pay.status != "approved" or pay.refunded_fen >= pay.amount_fen:
        raise NotRateable()
    return pay


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
            pay = rateable_payment(conn, payment_id, person_id)
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
