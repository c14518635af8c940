"""Dish ratings and the diner's nutrition pages (R-S1).

Contract:
- ``/me/meals/{payment_id}``: one of the diner's meals with its item lines; each dish not
  yet rated has a form (1–5 stars, an optional comment) posting to
  ``/me/meals/{payment_id}/dishes/{item_id}``. A second rating of the same dish is shown
  as a 409 with nothing changed; another person's payment is 403.
- ``/me/nutrition?day=``: the diner's totals of the Beijing week holding ``day`` (energy,
  protein, fat, carbohydrate, salt) against the reference adult's intake for 7 days.
- ``/dishes/canteens/{canteen_id}?start=&end=``: the canteen's dish rankings (average
  stars, count) and comments over the period (default the last 30 days), for whoever
  runs it and the city's readers; ``…/ratings.xlsx`` the same as a workbook.
  ``/bureau/dishes`` (and ``/bureau/dishes.xlsx``): every canteen's.
- Pages call ``feedback.dishes`` (which checks the actor again) and
  ``feedback.dish_queries`` only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.feedback import dish_queries as queries
from onecard.feedback import dishes
from onecard.feedback.models import MAX_DISH_COMMENT
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.pages import xlsx_response
from onecard.web.scopes import bureau_scope, can_run_money, canteen_scope
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
DayText = Annotated[str, Query(max_length=10)]


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _period(ctx: Context, start: str, end: str) -> tuple[date, date]:
    """The period asked for, read leniently: a bad date is the default (last 30 days)."""
    since, until = queries.period(_day(start), _day(end), ctx.clock.today())
    return (since, until) if since <= until else (until - timedelta(days=29), until)


def _person_id(actor: Actor) -> int:
    assert actor.person_id is not None
    return actor.person_id


# --- the diner ------------------------------------------------------------------------------
def _meal_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    payment_id: int,
    status_code: int = 200,
    **kw: Any,
) -> Response:
    meal = queries.meal_dishes(ctx, _person_id(actor), payment_id)
    return render(
        request,
        "dishes/meal.html",
        status_code=status_code,
        actor=actor,
        meal=meal,
        max_comment=MAX_DISH_COMMENT,
        **kw,
    )


@router.get("/me/meals/{payment_id}")
def meal_page(
    request: Request,
    payment_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    rated: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    return _meal_page(request, ctx, actor, payment_id, rated=rated)


@router.post("/me/meals/{payment_id}/dishes/{item_id}")
def rate_dish(
    request: Request,
    payment_id: IdPath,
    item_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    stars: Annotated[int | None, Form(ge=1, le=5)] = None,
    comment: Annotated[str, Form(max_length=MAX_DISH_COMMENT)] = "",
) -> Response:
    """One dish's stars; the page comes back with the error (and what was written) if
    the rating is refused."""
    try:
        dishes.rate_dish(ctx, actor, payment_id, item_id, stars, comment)
    except OneCardError as exc:
        if exc.code in ("forbidden", "not_found"):
            raise
        return _meal_page(
            request,
            ctx,
            actor,
            payment_id,
            status_code=status_for(exc),
            error=exc.message(request_lang(request)),
            error_item=item_id,
            comment=comment,
        )
    return RedirectResponse(f"/me/meals/{payment_id}?rated={item_id}", status_code=303)


@router.get("/me/nutrition")
def nutrition_page(request: Request, actor: ActorDep, ctx: CtxDep, day: DayText = "") -> Response:
    today = ctx.clock.today()
    week = queries.week_nutrition(ctx, _person_id(actor), _day(day) or today)
    return render(
        request,
        "dishes/nutrition.html",
        actor=actor,
        week=week,
        rows=week.rows(),
        prev=week.monday - timedelta(days=7),
        next=week.monday + timedelta(days=7) if week.sunday < today else None,
    )


# --- the canteen and the bureau -------------------------------------------------------------
def _ratings(
    request: Request,
    ctx: Context,
    actor: Actor,
    start: str,
    end: str,
    canteen: Any | None,
) -> Response:
    since, until = _period(ctx, start, end)
    cid = None if canteen is None else int(canteen["id"])
    ranked = queries.rankings(ctx, since, until, cid)
    return render(
        request,
        "dishes/ratings.html",
        actor=actor,
        tab="dishes",
        can_run=can_run_money(actor),
        canteen=canteen,
        start=since,
        end=until,
        rankings=ranked,
        comments=queries.comments(ctx, since, until, cid),
        xlsx=(f"/dishes/canteens/{cid}/ratings.xlsx" if cid else "/bureau/dishes.xlsx"),
    )


def _canteen(ctx: Context, actor: Actor, canteen_id: int) -> dict[str, Any]:
    unit_id = org_queries.canteen_owner(ctx, canteen_id)
    canteen_scope(actor, canteen_id, unit_id)
    name = dict(org_queries.canteen_choices(ctx)).get(canteen_id, "")
    return {"id": canteen_id, "name": name}


@router.get("/dishes/canteens/{canteen_id}")
def canteen_page(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    start: DayText = "",
    end: DayText = "",
) -> Response:
    return _ratings(request, ctx, actor, start, end, _canteen(ctx, actor, canteen_id))


@router.get("/dishes/canteens/{canteen_id}/ratings.xlsx")
def canteen_xlsx(
    canteen_id: IdPath, actor: ActorDep, ctx: CtxDep, start: DayText = "", end: DayText = ""
) -> Response:
    _canteen(ctx, actor, canteen_id)
    return _xlsx(ctx, start, end, canteen_id)


@router.get("/bureau/dishes")
def bureau_page(
    request: Request, actor: ActorDep, ctx: CtxDep, start: DayText = "", end: DayText = ""
) -> Response:
    bureau_scope(actor)
    return _ratings(request, ctx, actor, start, end, None)


@router.get("/bureau/dishes.xlsx")
def bureau_xlsx(actor: ActorDep, ctx: CtxDep, start: DayText = "", end: DayText = "") -> Response:
    bureau_scope(actor)
    return _xlsx(ctx, start, end, None)


def _xlsx(ctx: Context, start: str, end: str, canteen_id: int | None) -> Response:
    since, until = _period(ctx, start, end)
    data = queries.ratings_xlsx(
        queries.rankings(ctx, since, until, canteen_id),
        queries.comments(ctx, since, until, canteen_id, limit=queries.MAX_ROWS),
        since,
        until,
    )
    return xlsx_response(data, f"dish-ratings-{since}-{until}.xlsx")
