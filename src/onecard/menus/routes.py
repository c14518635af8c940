"""The menus and pre-orders API (R-S2, R-S3): a canteen's week, its menu and rule, the
day's counts per dish; a diner's pre-orders; a terminal's pick-up.

Thin: ``menus.service`` checks the actor again and holds every rule; reads come from
``menus.queries``. A pre-order after the cut-off is 409 ``preorder_closed``, a dish not
on the menu 422 ``not_on_menu``, a second one of the same meal 409 ``preorder_exists``,
a prepaid one the purses cannot cover 402 ``insufficient_funds`` — nothing changed in
each case. A pick-up answers the payment (the ``payments`` row's stored answer) and the
pre-order; a second pick-up answers the first payment again (``replayed``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from onecard.core.errors import Forbidden, NotFound
from onecard.core.tables import to_xlsx
from onecard.menus import queries, service
from onecard.menus.schemas import (
    CountOut,
    MenuIn,
    MenuSetOut,
    MyPreordersOut,
    PickupIn,
    PickupOut,
    PreorderIn,
    PreorderOut,
    RuleIn,
    WeekOut,
)
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath, TerminalDep

router = APIRouter(prefix="/api/v1", tags=["menus"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 402, 403, 404, 409, 422)
}
MealPath = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
DayQuery = Annotated[date | None, Query(description="a day (default: tomorrow, Beijing)")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def week_out(ctx: Any, canteen: dict[str, Any], monday: date) -> dict[str, Any]:
    days = queries.week(ctx, canteen["id"], monday)
    return {
        "canteen_id": canteen["id"],
        "canteen": canteen["name"],
        "cutoff": canteen["cutoff"],
        "no_show": canteen["no_show"],
        "days": [
            {
                "day": d.day,
                "meals": [
                    {
                        "meal": m.code,
                        "name": m.name,
                        "cutoff": m.cutoff,
                        "open": m.open,
                        "dishes": [asdict(r) for r in m.dishes],
                    }
                    for m in d.meals
                ],
            }
            for d in days
        ],
    }


def _canteen(ctx: Any, canteen_id: int) -> dict[str, Any]:
    got = queries.canteen_of(ctx, canteen_id)
    if got is None:
        raise NotFound(what="食堂")
    return got


def _may_run(actor: Actor, canteen: dict[str, Any]) -> None:
    if not (
        actor.can_read_everything() or actor.manages_canteen(canteen["id"], canteen["unit_id"])
    ):
        raise Forbidden()


@router.get("/menus/canteens/{canteen_id}", response_model=WeekOut, responses=ERRORS)
def get_week(
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    week: Annotated[
        date | None, Query(description="any day of the week (default: this week)")
    ] = None,
) -> Any:
    """A canteen's week (Monday–Sunday): each meal's dishes with nutrition per portion,
    the cut-off and whether it may be pre-ordered now. Any signed-in person."""
    canteen = _canteen(ctx, canteen_id)
    day = week or ctx.clock.local_now().date()
    return week_out(ctx, canteen, queries.monday_of(day))


@router.put(
    "/menus/canteens/{canteen_id}/days/{day}/{meal}", response_model=MenuSetOut, responses=ERRORS
)
def put_menu(
    canteen_id: IdPath, day: date, meal: MealPath, body: MenuIn, actor: ActorDep, ctx: CtxDep
) -> Any:
    """Set one meal of one day: exactly these dishes, in order (a dish someone pre-ordered
    may not leave it: 409)."""
    n = service.set_menu(ctx, actor, canteen_id, day, meal, list(body.skus))
    return MenuSetOut(dishes=n)


@router.put("/menus/canteens/{canteen_id}/rule", status_code=204, responses=ERRORS)
def put_rule(canteen_id: IdPath, body: RuleIn, actor: ActorDep, ctx: CtxDep) -> None:
    """The pre-order cut-off (Beijing time, the day before the meal) and whether a
    no-show's hold is charged or released."""
    service.set_rule(ctx, actor, canteen_id, body.cutoff, body.no_show)


@router.get("/menus/canteens/{canteen_id}/counts", response_model=list[CountOut], responses=ERRORS)
def get_counts(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep, day: DayQuery = None) -> Any:
    """Pre-ordered portions per meal and dish for a day (default: tomorrow)."""
    canteen = _canteen(ctx, canteen_id)
    _may_run(actor, canteen)
    d = day or ctx.clock.local_now().date() + timedelta(days=1)
    return [asdict(c) for c in queries.counts(ctx, canteen_id, d)]


@router.get(
    "/menus/canteens/{canteen_id}/counts.xlsx",
    responses={**ERRORS, 200: {"content": {XLSX: {}}}},
)
def get_counts_xlsx(
    canteen_id: IdPath, actor: ActorDep, ctx: CtxDep, day: DayQuery = None
) -> Response:
    """The same counts as an Excel workbook."""
    canteen = _canteen(ctx, canteen_id)
    _may_run(actor, canteen)
    d = day or ctx.clock.local_now().date() + timedelta(days=1)
    table = queries.counts_table(
        canteen["name"],
        d,
        queries.counts(ctx, canteen_id, d),
        queries.meal_name_map(ctx, canteen_id),
    )
    return Response(
        to_xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="preorders-{d.isoformat()}.xlsx"'},
    )


@router.post("/me/preorders", response_model=PreorderOut, responses=ERRORS)
def post_preorder(body: PreorderIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Pre-order a meal before its cut-off; ``prepaid`` holds the amount now (released
    on cancel, paid at pick-up), ``at_pickup`` pays at pick-up. ``request_id`` makes a
    retry safe."""
    spec = service.PreorderSpec(
        canteen_id=body.canteen_id,
        day=body.day,
        meal=body.meal,
        lines=tuple((ln.sku, ln.qty) for ln in body.lines),
        pay_mode=body.pay_mode,
        request_id=body.request_id,
    )
    return service.place(ctx, actor, spec)


@router.get("/me/preorders", response_model=MyPreordersOut, responses=ERRORS)
def get_my_preorders(actor: ActorDep, ctx: CtxDep) -> Any:
    """My pre-orders of the last 7 days and ahead, and what is on hold now."""
    assert actor.person_id is not None
    since = ctx.clock.local_now().date() - timedelta(days=7)
    return {
        "held_fen": queries.held_fen(ctx, actor.person_id),
        "preorders": queries.my_preorders(ctx, actor.person_id, since),
    }


@router.post("/me/preorders/{preorder_id}/cancel", response_model=PreorderOut, responses=ERRORS)
def post_cancel(preorder_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """Cancel my pre-order before the cut-off; a hold goes back to the purses. Cancelling
    again answers the same."""
    return service.cancel(ctx, actor, preorder_id)


@router.post("/terminal/preorders/pickup", response_model=PickupOut, responses=ERRORS)
def post_pickup(body: PickupIn, terminal: TerminalDep, ctx: CtxDep) -> Any:
    """The diner collects today's pre-order: paid here (a prepaid hold is released and
    paid in the same transaction). A second pick-up charges nothing and answers the first
    payment."""
    got = service.pickup(ctx, terminal, body.txn_id, body.credential.strip(), body.meal)
    return {
        "payment": json.loads(got.outcome.body),
        "preorder": got.preorder,
        "replayed": got.outcome.replayed,
    }
