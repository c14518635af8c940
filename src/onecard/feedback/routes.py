"""Dish ratings and the diner's nutrition API (R-S1).

Thin: ``feedback.dishes`` checks the actor again and holds every rule; reads come from
``feedback.dish_queries``. A second rating of the same dish of the same payment is 409
``dish_already_rated`` (nothing changed); stars outside 1–5 or a comment too long 422; a
shop good or an item not in the meal 422 ``not_a_dish``; another person's payment 403.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from onecard.core.context import Context
from onecard.core.errors import Forbidden
from onecard.feedback import dish_queries as queries
from onecard.feedback import dishes
from onecard.feedback.schemas import (
    DishRatingIn,
    DishRatingOut,
    MealDishesOut,
    NutritionOut,
    RatingsOut,
)
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath

router = APIRouter(prefix="/api/v1", tags=["dishes"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Day = Annotated[date | None, Query()]


def period(ctx: Context, start: date | None, end: date | None) -> tuple[date, date]:
    """The Beijing days asked for (``dish_queries.period``: default the last 30 days, at
    most 366 ending on ``end``; ``start`` after ``end`` gives no rows)."""
    return queries.period(start, end, ctx.clock.today())


def _canteen_reader(ctx: Context, actor: Actor, canteen_id: int) -> None:
    unit_id = org_queries.canteen_owner(ctx, canteen_id)
    if not (actor.can_read_everything() or actor.manages_canteen(canteen_id, unit_id)):
        raise Forbidden()


def _ratings(ctx: Context, start: date, end: date, canteen_id: int | None) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "rankings": queries.rankings(ctx, start, end, canteen_id),
        "comments": queries.comments(ctx, start, end, canteen_id),
    }


def _xlsx(ctx: Context, start: date, end: date, canteen_id: int | None) -> Response:
    data = queries.ratings_xlsx(
        queries.rankings(ctx, start, end, canteen_id),
        queries.comments(ctx, start, end, canteen_id, limit=queries.MAX_ROWS),
        start,
        end,
    )
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="dish-ratings.xlsx"'},
    )


@router.get("/me/meals/{payment_id}/dishes", response_model=MealDishesOut, responses=ERRORS)
def get_meal_dishes(payment_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """One of the diner's payments with its item lines and the diner's dish ratings."""
    if actor.person_id is None:
        raise Forbidden()
    return queries.meal_dishes(ctx, actor.person_id, payment_id)


@router.post(
    "/me/meals/{payment_id}/dishes/{item_id}/rating",
    response_model=DishRatingOut,
    status_code=201,
    responses=ERRORS,
)
def post_dish_rating(
    payment_id: IdPath, item_id: IdPath, body: DishRatingIn, actor: ActorDep, ctx: CtxDep
) -> Any:
    """Rate one dish of one of the diner's meals: 1–5 stars and an optional comment, once."""
    rid = dishes.rate_dish(ctx, actor, payment_id, item_id, body.stars, body.comment)
    return {
        "id": rid,
        "payment_id": payment_id,
        "item_id": item_id,
        "stars": body.stars,
        "comment": body.comment.strip(),
    }


@router.get("/me/nutrition", response_model=NutritionOut, responses=ERRORS)
def get_nutrition(actor: ActorDep, ctx: CtxDep, day: Day = None) -> Any:
    """The diner's nutrition totals of the Beijing week (Monday–Sunday) holding ``day``
    (default today) against the reference adult's intake for 7 days."""
    if actor.person_id is None:
        raise Forbidden()
    week = queries.week_nutrition(ctx, actor.person_id, day or ctx.clock.today())
    return {
        "monday": week.monday,
        "sunday": week.sunday,
        "lines": week.lines,
        "unknown_lines": week.unknown_lines,
        "portions": week.portions,
        "nutrients": week.rows(),
    }


@router.get("/dishes/ratings", response_model=RatingsOut, responses=ERRORS)
def get_ratings(actor: ActorDep, ctx: CtxDep, start: Day = None, end: Day = None) -> Any:
    """Every canteen's dish rankings (average stars, count) and comments over the period
    (Beijing days; default the last 30)."""
    if not actor.can_read_everything():
        raise Forbidden()
    start, end = period(ctx, start, end)
    return _ratings(ctx, start, end, None)


@router.get(
    "/dishes/ratings.xlsx",
    responses={200: {"content": {XLSX: {}}}, **ERRORS},
    response_class=Response,
)
def get_ratings_xlsx(actor: ActorDep, ctx: CtxDep, start: Day = None, end: Day = None) -> Response:
    """The same as an Excel workbook (rankings, comments)."""
    if not actor.can_read_everything():
        raise Forbidden()
    start, end = period(ctx, start, end)
    return _xlsx(ctx, start, end, None)


@router.get("/dishes/canteens/{canteen_id}/ratings", response_model=RatingsOut, responses=ERRORS)
def get_canteen_ratings(
    canteen_id: IdPath, actor: ActorDep, ctx: CtxDep, start: Day = None, end: Day = None
) -> Any:
    """One canteen's dish rankings and comments: who runs it, or a city reader."""
    _canteen_reader(ctx, actor, canteen_id)
    start, end = period(ctx, start, end)
    return _ratings(ctx, start, end, canteen_id)


@router.get(
    "/dishes/canteens/{canteen_id}/ratings.xlsx",
    responses={200: {"content": {XLSX: {}}}, **ERRORS},
    response_class=Response,
)
def get_canteen_ratings_xlsx(
    canteen_id: IdPath, actor: ActorDep, ctx: CtxDep, start: Day = None, end: Day = None
) -> Response:
    """The same as an Excel workbook."""
    _canteen_reader(ctx, actor, canteen_id)
    start, end = period(ctx, start, end)
    return _xlsx(ctx, start, end, canteen_id)
