"""Purchasing and traceability API (/api/v1/sourcing; R-S2, R-S4).

Thin: ``sourcing.service`` checks the actor again and holds every rule; reads come from
``sourcing.queries``. A canteen's sourcing (ingredients, recipes, suppliers, batches,
uses) is read and written by whoever runs it (city readers read); the traces and the
ingredient cost are the city readers' (a batch's or meal's own canteen's runners too).
A negative or absurd quantity, a missing licence number, an unknown dish, ingredient,
supplier or batch: 422; a failed batch used or more than a batch has left: 409 — nothing
written in each case.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from onecard.core.context import Context
from onecard.core.errors import Forbidden, NotFound
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.sourcing import queries, service
from onecard.sourcing.schemas import (
    MEAL,
    TEXT,
    BatchIn,
    BatchOut,
    BatchTraceOut,
    CostOut,
    IngredientIn,
    IngredientOut,
    PurchaseIn,
    PurchaseOut,
    RecipeIn,
    SourcingOut,
    SupplierIn,
    SupplierOut,
    UseIn,
    UseOut,
)
from onecard.web.deps import ActorDep, CtxDep, IdPath, OptionalIdQuery

router = APIRouter(prefix="/api/v1/sourcing", tags=["sourcing"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Meal = Annotated[str, Query(min_length=1, max_length=20, pattern=MEAL)]
DEFAULT_MEAL = "lunch"


def _xlsx(data: bytes, name: str) -> Response:
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _sourcing(ctx: Context, actor: Actor, canteen_id: int) -> dict[str, Any]:
    c = service.may_read(ctx, actor, canteen_id)
    return {"canteen_id": int(c.id), "canteen": str(c.name), **queries.canteen_sourcing(ctx, c.id)}


@router.get("/canteens/{canteen_id}", response_model=SourcingOut, responses=ERRORS)
def get_sourcing(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """A canteen's ingredients, dishes with recipes, suppliers, batches (the latest 200,
    with what is used and left) and the latest 50 uses."""
    return _sourcing(ctx, actor, canteen_id)


@router.post(
    "/canteens/{canteen_id}/ingredients",
    response_model=IngredientOut,
    status_code=201,
    responses=ERRORS,
)
def post_ingredient(canteen_id: IdPath, body: IngredientIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """A new ingredient: its name (unique in the canteen), unit and grams per unit."""
    iid = service.add_ingredient(ctx, actor, canteen_id, body.name, body.unit, body.grams_per_unit)
    got = queries.canteen_sourcing(ctx, canteen_id, uses=0)
    return next(i for i in got["ingredients"] if i["id"] == iid)


@router.put(
    "/canteens/{canteen_id}/recipes/{dish_id}", response_model=SourcingOut, responses=ERRORS
)
def put_recipe(
    canteen_id: IdPath, dish_id: IdPath, body: RecipeIn, actor: ActorDep, ctx: CtxDep
) -> Any:
    """A dish's whole recipe (grams per portion of each ingredient); replaces the old one,
    an empty list clears it."""
    lines = [(ln.ingredient_id, ln.grams) for ln in body.lines]
    service.save_recipe(ctx, actor, canteen_id, dish_id, lines)
    return _sourcing(ctx, actor, canteen_id)


@router.post(
    "/canteens/{canteen_id}/suppliers",
    response_model=SupplierOut,
    status_code=201,
    responses=ERRORS,
)
def post_supplier(canteen_id: IdPath, body: SupplierIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """A supplier with its food business licence number (required, unique in the canteen)."""
    sid = service.add_supplier(ctx, actor, canteen_id, body.name, body.licence_no, body.contact)
    got = queries.canteen_sourcing(ctx, canteen_id, uses=0)
    return next(s for s in got["suppliers"] if s["id"] == sid)


@router.post(
    "/canteens/{canteen_id}/batches", response_model=BatchOut, status_code=201, responses=ERRORS
)
def post_batch(canteen_id: IdPath, body: BatchIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """A delivered batch with its inspection on arrival (a failure needs a note)."""
    spec = service.BatchSpec(
        body.ingredient_id,
        body.supplier_id,
        body.batch_no,
        body.received_on,
        body.quantity,
        body.unit_cost_fen,
        body.inspection,
        body.inspection_note,
    )
    bid = service.receive_batch(ctx, actor, canteen_id, spec)
    return queries.batch(ctx, bid)


@router.post(
    "/canteens/{canteen_id}/uses", response_model=UseOut, status_code=201, responses=ERRORS
)
def post_use(canteen_id: IdPath, body: UseIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """A dish of a day's meal used so much of a batch (409: the batch failed inspection,
    or has less left)."""
    uid = service.record_use(
        ctx, actor, canteen_id, body.day, body.meal, body.dish_id, body.batch_id, body.quantity
    )
    return next(
        u for u in queries.meal_trace(ctx, canteen_id, body.day, body.meal) if u["id"] == uid
    )


@router.post("/canteens/{canteen_id}/purchase-list", response_model=PurchaseOut, responses=ERRORS)
def post_purchase_list(canteen_id: IdPath, body: PurchaseIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """The day's ingredient list (采购清单) for a plan of dishes: portions not given come
    from the meal's forecast diners. Writes nothing."""
    plan = [service.PlanLine(p.dish_id, p.meal, p.portions) for p in body.plan]
    pl = service.purchase_list(ctx, actor, canteen_id, body.day, plan)
    return {
        "canteen_id": pl.canteen_id,
        "canteen": pl.canteen,
        "day": pl.day,
        "dishes": [d.__dict__ for d in pl.dishes],
        "lines": [{**n.__dict__, "to_buy_milli": n.to_buy_milli} for n in pl.lines],
    }


def _meal_uses(
    ctx: Context, actor: Actor, canteen_id: int, day: date | None, meal: str
) -> tuple[Any, date, list[dict[str, Any]]]:
    c = service.may_read(ctx, actor, canteen_id)
    day = day or ctx.clock.today()
    return c, day, queries.meal_trace(ctx, canteen_id, day, meal)


@router.get("/canteens/{canteen_id}/meal-trace", response_model=list[UseOut], responses=ERRORS)
def get_meal_trace(
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    day: date | None = None,
    meal: Meal = DEFAULT_MEAL,
) -> Any:
    """A meal back to its batches (default: today's lunch): each dish's batches,
    suppliers, licences, inspections."""
    return _meal_uses(ctx, actor, canteen_id, day, meal)[2]


@router.get(
    "/canteens/{canteen_id}/meal-trace.xlsx",
    responses={200: {"content": {XLSX: {}}}, **ERRORS},
    response_class=Response,
)
def get_meal_trace_xlsx(
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    day: date | None = None,
    meal: Meal = DEFAULT_MEAL,
) -> Response:
    """The same as an Excel workbook."""
    c, day, uses = _meal_uses(ctx, actor, canteen_id, day, meal)
    t = queries.meal_trace_table(str(c.name), day, meal, uses)
    return _xlsx(queries.xlsx(t), f"meal-{canteen_id}-{day}-{meal}.xlsx")


def _trace(ctx: Context, actor: Actor, batch_id: int) -> dict[str, Any]:
    trace = queries.batch_trace(ctx, batch_id)
    if trace is None:
        if actor.can_read_everything() or actor.has("canteen_manager", "unit_admin"):
            raise NotFound(what="批次")
        raise Forbidden()
    b = trace["batch"]
    if not (actor.can_read_everything() or actor.manages_canteen(b["canteen_id"], b["unit_id"])):
        raise Forbidden()
    return trace


@router.get("/batches/{batch_id}/trace", response_model=BatchTraceOut, responses=ERRORS)
def get_batch_trace(batch_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """A batch to every meal, canteen and date it reached."""
    return _trace(ctx, actor, batch_id)


@router.get(
    "/batches/{batch_id}/trace.xlsx",
    responses={200: {"content": {XLSX: {}}}, **ERRORS},
    response_class=Response,
)
def get_batch_trace_xlsx(batch_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    """The same as an Excel workbook."""
    trace = _trace(ctx, actor, batch_id)
    return _xlsx(queries.xlsx(queries.batch_trace_table(trace)), f"batch-{batch_id}.xlsx")


@router.get("/batches", response_model=list[BatchOut], responses=ERRORS)
def get_batches(
    actor: ActorDep, ctx: CtxDep, q: Annotated[str, Query(max_length=40, pattern=TEXT)] = ""
) -> Any:
    """The city's batches (the latest 50) whose number, ingredient, supplier or licence
    contains ``q``."""
    if not actor.can_read_everything():
        raise Forbidden()
    return queries.find_batches(ctx, q)


@router.get("/cost", response_model=list[CostOut], responses=ERRORS)
def get_cost(
    actor: ActorDep,
    ctx: CtxDep,
    start: date | None = None,
    end: date | None = None,
    canteen_id: OptionalIdQuery = None,
) -> Any:
    """Ingredient cost per canteen and meal over [start, end] in fen (default: the last
    30 days): Σ quantity used × its batch's unit cost. A start after the end is an
    empty period."""
    if not actor.can_read_everything():
        raise Forbidden()
    end = end or ctx.clock.today()
    if start is None:
        start = end - timedelta(days=29) if end > date.min + timedelta(days=29) else date.min
    return [r.__dict__ for r in queries.ingredient_cost(ctx, start, end, canteen_id)]
