"""Rating the dishes of a meal (R-S1). What is read back (a meal's dishes, rankings,
comments, averages, the week's nutrition) is in ``feedback.dish_queries``.

Contract:
- ``rate_dish(ctx, actor, payment_id, item_id, stars, comment)`` is one transaction and
  one audit record. Only the person who paid may rate (``Forbidden``; no such payment:
  ``NotFound``), only an approved payment not fully refunded (``NotRateable``), only a
  dish among its item lines (``payment_lines``; a shop good or an item not sold in it:
  ``NotADish``), only once per dish per payment (``DishAlreadyRated``, 409, nothing
  changed; the unique ``(payment_id, item_id)`` is the backstop for two submits racing).
  Stars are an integer 1–5; the comment is at most ``MAX_DISH_COMMENT`` characters.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from onecard.audit import records as audit
from onecard.catalogue.models import Item
from onecard.core.context import Context
from onecard.core.errors import (
    DishAlreadyRated,
    Forbidden,
    InvalidInput,
    NotADish,
)
from onecard.feedback.models import MAX_DISH_COMMENT, DishRating
from onecard.feedback.service import rateable_payment
from onecard.org.actors import Actor
from onecard.pay.models import PaymentLine


def check_stars(stars: object) -> int:
    if type(stars) is not int or not 1 <= stars <= 5:
        raise InvalidInput("评分须为 1–5 的整数")
    return stars


def rate_dish(
    ctx: Context,
    actor: Actor,
    payment_id: int,
    item_id: int,
    stars: object,
    comment: str = "",
) -> int:
    """The signed-in diner's stars for one dish of one of their meals."""
    if actor.person_id is None:
        raise Forbidden()
    n = check_stars(stars)
    comment = comment.strip()
    if len(comment) > MAX_DISH_COMMENT:
        raise InvalidInput(f"留言最多 {MAX_DISH_COMMENT} 字")
    try:
        with ctx.db.begin() as conn:
            pay = rateable_payment(conn, payment_id, actor.person_id)
            line = conn.execute(
                select(Item.name)
                .select_from(PaymentLine)
                .join(Item, Item.id == PaymentLine.item_id)
                .where(
                    PaymentLine.payment_id == payment_id,
                    PaymentLine.item_id == item_id,
                    Item.kind == "dish",
                )
                .limit(1)
            ).first()
            if line is None:
                raise NotADish()
            done = conn.execute(
                select(DishRating.id).where(
                    DishRating.payment_id == payment_id, DishRating.item_id == item_id
                )
            ).first()
            if done is not None:
                raise DishAlreadyRated()
            rid = int(
                conn.execute(
                    insert(DishRating)
                    .values(
                        region_id=pay.region_id,
                        payment_id=payment_id,
                        item_id=item_id,
                        person_id=actor.person_id,
                        canteen_id=pay.canteen_id,
                        stars=n,
                        comment=comment,
                        created_at=ctx.clock.now(),
                    )
                    .returning(DishRating.id)
                ).scalar_one()
            )
            audit.record(
                conn,
                ctx,
                actor,
                "dish_rating",
                f"payment:{payment_id} item:{item_id}",
                {"rating": rid},
                person_id=actor.person_id,
                after={"dish": str(line.name), "stars": n, "comment": comment},
            )
            return rid
    except IntegrityError as exc:
        # Two submits of the same dish raced past the check: the unique key decided.
        raise DishAlreadyRated() from exc
