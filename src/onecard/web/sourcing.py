"""Purchasing and traceability pages (R-S2, R-S4).

Contract:
- ``/sourcing/canteens/{id}``: the canteen manager's page (who runs the canteen writes,
  city readers look): ingredients, each dish's recipe (one line set or removed at a
  time: grams 0 removes it), suppliers, batches with their inspection and what is used
  and left, and the uses (a dish of a day's meal used so much of a batch), with a form
  for each. A domain error is shown on the page with its 4xx status, nothing changed.
- ``/sourcing/canteens/{id}/purchase?day=&pick=dish:meal&n_dish_meal=``: the purchase
  list (采购清单) of a day (default tomorrow): the manager ticks the dishes of each meal
  (nothing ticked: the dishes on that day's menu, ``menus``); portions left empty are
  the meal's forecast diners ("量入下米"); the list prints
  (the forms are hidden in print) and ``purchase.xlsx`` takes the same query.
- ``/sourcing/canteens/{id}/meal?day=&meal=`` (and ``meal.xlsx``): a meal back to its
  batches; ``/sourcing/batches/{id}`` (and ``.xlsx``): a batch to the meals, canteens
  and dates it reached. Who runs the canteen and the city's readers.
- ``/bureau/sourcing?q=&start=&end=``: the bureau's search over the city's batches
  (failed inspections marked), the form to trace a meal, and the ingredient cost per
  canteen and meal over the period.
The services check the actor again.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, OneCardError
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.sourcing import queries, service
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.forms import parse_yuan
from onecard.web.i18n import request_lang
from onecard.web.pages import xlsx_response
from onecard.web.scopes import bureau_scope, can_run_money
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
MAX_DAYS = 366
Day = Annotated[str, Query(max_length=10)]
MealQ = Annotated[str, Query(max_length=20)]


def _day(text: str, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


def _page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    c = service.may_read(ctx, actor, canteen_id)
    return render(
        request,
        "sourcing/canteen.html",
        status_code=status_code,
        actor=actor,
        canteen=c,
        s=queries.canteen_sourcing(ctx, canteen_id),
        writable=actor.manages_canteen(canteen_id, int(c.unit_id)),
        meals=service.MEALS,
        today=ctx.clock.today(),
        saved=request.query_params.get("saved", "")[:20],
        error=error,
    )


@router.get("/sourcing/canteens/{canteen_id}")
def canteen_page(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    return _page(request, ctx, actor, canteen_id)


def _done(
    request: Request, ctx: Context, actor: Actor, canteen_id: int, what: str, fn: Any
) -> Response:
    try:
        fn()
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _page(request, ctx, actor, canteen_id, msg, status_for(exc))
    return RedirectResponse(f"/sourcing/canteens/{canteen_id}?saved={what}#{what}", status_code=303)


def _whole(text: str, what: str) -> int:
    t = text.strip()
    if not t.isdigit() or len(t) > 9:
        raise InvalidInput(f"{what}须为非负整数")
    return int(t)


@router.post("/sourcing/canteens/{canteen_id}/ingredients")
def post_ingredient(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    name: Annotated[str, Form(max_length=60)],
    unit: Annotated[str, Form(max_length=10)],
    grams_per_unit: Annotated[str, Form(max_length=10)] = "1000",
) -> Response:
    def go() -> None:
        service.add_ingredient(
            ctx, actor, canteen_id, name, unit, _whole(grams_per_unit, "每单位克数")
        )

    return _done(request, ctx, actor, canteen_id, "ingredients", go)


@router.post("/sourcing/canteens/{canteen_id}/recipes")
def post_recipe(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    dish_id: IdForm,
    ingredient_id: IdForm,
    grams: Annotated[str, Form(max_length=10)],
) -> Response:
    """One line of a dish's recipe set (grams 0: removed); the rest stay."""

    def go() -> None:
        g = _whole(grams, "每份克数")
        dishes = queries.canteen_sourcing(ctx, canteen_id, uses=0)["dishes"]
        dish = next((d for d in dishes if d["id"] == dish_id), None)
        old = {ln["ingredient_id"]: ln["grams"] for ln in (dish["lines"] if dish else [])}
        old.pop(ingredient_id, None)
        if g:
            old[ingredient_id] = g
        service.save_recipe(ctx, actor, canteen_id, dish_id, list(old.items()))

    return _done(request, ctx, actor, canteen_id, "recipes", go)


@router.post("/sourcing/canteens/{canteen_id}/suppliers")
def post_supplier(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    name: Annotated[str, Form(max_length=100)],
    licence_no: Annotated[str, Form(max_length=40)] = "",
    contact: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    def go() -> None:
        service.add_supplier(ctx, actor, canteen_id, name, licence_no, contact)

    return _done(request, ctx, actor, canteen_id, "suppliers", go)


@router.post("/sourcing/canteens/{canteen_id}/batches")
def post_batch(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    ingredient_id: IdForm,
    supplier_id: IdForm,
    batch_no: Annotated[str, Form(max_length=40)],
    received_on: Annotated[date, Form()],
    quantity: Annotated[str, Form(max_length=20)],
    unit_cost: Annotated[str, Form(max_length=20)],
    inspection: Annotated[str, Form(max_length=4)],
    inspection_note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def go() -> None:
        spec = service.BatchSpec(
            ingredient_id,
            supplier_id,
            batch_no,
            received_on,
            quantity,
            parse_yuan(unit_cost),
            inspection,
            inspection_note,
        )
        service.receive_batch(ctx, actor, canteen_id, spec)

    return _done(request, ctx, actor, canteen_id, "batches", go)


@router.post("/sourcing/canteens/{canteen_id}/uses")
def post_use(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    day: Annotated[date, Form()],
    meal: Annotated[str, Form(max_length=20)],
    dish_id: IdForm,
    batch_id: IdForm,
    quantity: Annotated[str, Form(max_length=20)],
) -> Response:
    def go() -> None:
        service.record_use(ctx, actor, canteen_id, day, meal, dish_id, batch_id, quantity)

    return _done(request, ctx, actor, canteen_id, "uses", go)


# --- the purchase list ----------------------------------------------------------------------
def _plan(
    request: Request, dishes: list[dict[str, Any]]
) -> tuple[list[service.PlanLine], dict[str, str]]:
    """The ticked (dish, meal) pairs of the query, each with its portions (None: forecast)."""
    known = {d["id"] for d in dishes}
    picks = request.query_params.getlist("pick")[:600]
    plan: list[service.PlanLine] = []
    typed: dict[str, str] = {}
    for pick in picks:
        dish, _, meal = pick.partition(":")
        if (
            not dish.isdigit()
            or len(dish) > 18
            or int(dish) not in known
            or meal not in service.MEALS
        ):
            continue
        n = request.query_params.get(f"n_{dish}_{meal}", "").strip()[:7]
        typed[f"{dish}_{meal}"] = n
        if n and not n.isdigit():
            raise InvalidInput(f"份数须为非负整数：{n}")
        plan.append(service.PlanLine(int(dish), meal, int(n) if n else None))
    return plan, typed


def _purchase(
    request: Request, ctx: Context, actor: Actor, canteen_id: int, day: str
) -> dict[str, Any]:
    c = service.may_read(ctx, actor, canteen_id)
    today = ctx.clock.today()
    when = _day(day, today + timedelta(days=1))
    if not today - timedelta(days=366) <= when <= today + timedelta(days=31):
        when = today + timedelta(days=1)  # the service's range; outside it: tomorrow
    dishes = queries.canteen_sourcing(ctx, canteen_id, uses=0)["dishes"]
    out: dict[str, Any] = {"canteen": c, "day": when, "dishes": dishes, "result": None}
    out["forecast"] = service.forecast_portions(ctx, canteen_id, when)
    out["picked"] = set(request.query_params.getlist("pick")[:600])
    try:
        plan, out["typed"] = _plan(request, dishes)
        if not out["picked"]:  # nothing ticked: that day's menu, forecast portions
            plan = service.menu_plan(ctx, canteen_id, when)
            out["picked"] = {f"{p.dish_id}:{p.meal}" for p in plan}
            out["from_menu"] = bool(plan)
            if any(p.meal not in out["forecast"] for p in plan):
                plan = []  # a meal without a forecast: the manager types its portions
        if plan:
            out["result"] = service.purchase_list(ctx, actor, canteen_id, when, plan)
    except OneCardError as exc:
        out["error"], out["status"] = exc.message(request_lang(request)), status_for(exc)
        out.setdefault("typed", {})
    return out


@router.get("/sourcing/canteens/{canteen_id}/purchase")
def purchase_page(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    day: Day = "",
) -> Response:
    got = _purchase(request, ctx, actor, canteen_id, day)
    return render(
        request,
        "sourcing/purchase.html",
        status_code=int(got.pop("status", 200)),
        actor=actor,
        meals=service.MEALS,
        query=request.url.query,
        show=service.show_milli,
        **got,
    )


@router.get("/sourcing/canteens/{canteen_id}/purchase.xlsx")
def purchase_xlsx(
    request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep, day: Day = ""
) -> Response:
    got = _purchase(request, ctx, actor, canteen_id, day)
    if got.get("error"):
        raise InvalidInput(got["error"])
    result = got["result"] or service.PurchaseList(
        canteen_id, got["canteen"].name, got["day"], [], []
    )
    return xlsx_response(
        queries.xlsx(queries.purchase_table(result)), f"purchase-{got['day']}.xlsx"
    )


# --- traces ------------------------------------------------------------------------------------
def _meal(ctx: Context, actor: Actor, canteen_id: int, day: str, meal: str) -> dict[str, Any]:
    c = service.may_read(ctx, actor, canteen_id)
    when = _day(day, ctx.clock.today())
    meal = meal if meal in service.MEALS else "lunch"
    return {
        "canteen": c,
        "day": when,
        "meal": meal,
        "uses": queries.meal_trace(ctx, canteen_id, when, meal),
    }


@router.get("/sourcing/canteens/{canteen_id}/meal")
def meal_page(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    day: Day = "",
    meal: MealQ = "",
) -> Response:
    got = _meal(ctx, actor, canteen_id, day, meal)
    return render(request, "sourcing/meal.html", actor=actor, meals=service.MEALS, **got)


@router.get("/sourcing/canteens/{canteen_id}/meal.xlsx")
def meal_xlsx(
    canteen_id: IdPath, actor: ActorDep, ctx: CtxDep, day: Day = "", meal: MealQ = ""
) -> Response:
    got = _meal(ctx, actor, canteen_id, day, meal)
    t = queries.meal_trace_table(str(got["canteen"].name), got["day"], got["meal"], got["uses"])
    return xlsx_response(queries.xlsx(t), f"meal-{canteen_id}-{got['day']}-{got['meal']}.xlsx")


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


@router.get("/sourcing/batches/{batch_id}.xlsx")
def batch_xlsx(batch_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    t = queries.batch_trace_table(_trace(ctx, actor, batch_id))
    return xlsx_response(queries.xlsx(t), f"batch-{batch_id}.xlsx")


# After the .xlsx route: "{batch_id}" would take "7.xlsx" and refuse it (422).
@router.get("/sourcing/batches/{batch_id}")
def batch_page(request: Request, batch_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    return render(request, "sourcing/batch.html", actor=actor, t=_trace(ctx, actor, batch_id))


@router.get("/bureau/sourcing")
def bureau_page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    q: Annotated[str, Query(max_length=40)] = "",
    start: Day = "",
    end: Day = "",
) -> Response:
    bureau_scope(actor)
    until = _day(end, ctx.clock.today())
    since = _day(start, until - timedelta(days=29)) if until > date(1, 2, 1) else until
    if since > until or (until - since).days >= MAX_DAYS:
        since = until - timedelta(days=29) if until > date(1, 2, 1) else until
    cost = queries.ingredient_cost(ctx, since, until)
    return render(
        request,
        "sourcing/bureau.html",
        actor=actor,
        tab="sourcing",
        can_run=can_run_money(actor),
        q=q,
        batches=queries.find_batches(ctx, q),
        cost=cost,
        cost_total=sum(r.fen for r in cost),
        start=since,
        end=until,
        canteens=org_queries.canteen_choices(ctx),
        meals=service.MEALS,
        today=ctx.clock.today(),
    )


@router.get("/bureau/sourcing/meal")
def bureau_meal(
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: Annotated[int, Query(ge=1, le=2**63 - 1)],
    day: Day = "",
    meal: MealQ = "",
) -> Response:
    """The bureau's meal form: on to the canteen's meal trace."""
    bureau_scope(actor)
    when = _day(day, ctx.clock.today())
    meal = meal if meal in service.MEALS else "lunch"
    return RedirectResponse(
        f"/sourcing/canteens/{canteen_id}/meal?day={when}&meal={meal}", status_code=303
    )
