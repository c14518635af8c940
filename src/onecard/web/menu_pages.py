"""Menus and pre-orders in the browser (R-S2, R-S3): the diner's week on /me/menu, the
canteen's pre-order counts and pick-up at the till (/till/preorders).

Contract: every route goes through ``menus.service`` and ``menus.queries`` — the same
functions as the JSON API (``menus.routes``). /me/menu shows a canteen's week (any
canteen of the city; by default the diner's own unit's first) with each dish's price and
nutrition per portion and its average rating (see
``menus.queries.menu_rows_query``), a pre-order form for every meal still open, and the
diner's own pre-orders with what is on hold. /till/menu is for whoever runs the canteen: the week's menu, one
form per day and meal (tick the catalogue's dishes), and the pre-order rule (cut-off,
no-show). /till/preorders too: a day's portions per dish (default tomorrow; Excel too)
and the pick-up form
(the diner's card or payment code): the till acts as its canteen's first live terminal,
as /till does. A form's request id is made when the page is drawn, so a resent form is
recognised and changes nothing twice.
"""

from __future__ import annotations

import secrets
from datetime import date, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, OneCardError
from onecard.core.tables import to_xlsx
from onecard.menus import queries, service
from onecard.org.actors import Actor
from onecard.pay.till_queries import till_terminal
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath, OptionalIdQuery, QtyForm, SkuForm
from onecard.web.i18n import request_lang, translate
from onecard.web.phrases import N_
from onecard.web.scopes import till_scope
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WeekQuery = Annotated[date | None, Query()]
WEEKDAYS = (N_("周一"), N_("周二"), N_("周三"), N_("周四"), N_("周五"), N_("周六"), N_("周日"))


def _t(request: Request, text: str) -> str:
    return translate(text, request_lang(request))


def _default_canteen(actor: Actor, canteens: list[dict[str, Any]]) -> dict[str, Any]:
    own = [c for c in canteens if c["unit_id"] == actor.unit_id]
    return (own or canteens)[0]


def _menu_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int | None,
    week: date | None,
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    assert actor.person_id is not None
    canteens = queries.canteen_list(ctx)
    if not canteens:
        raise NotFound(what="食堂")
    if canteen_id is None:
        canteen = queries.canteen_of(ctx, _default_canteen(actor, canteens)["id"])
    else:
        canteen = queries.canteen_of(ctx, canteen_id)
    if canteen is None:
        raise NotFound(what="食堂")
    today = ctx.clock.today()
    if week is not None:
        service.check_day(week)
    mine = queries.my_preorders(ctx, actor.person_id, today - timedelta(days=7))
    monday = queries.monday_of(week or today + timedelta(days=1))
    return render(
        request,
        "diner/menu.html",
        status_code=status_code,
        actor=actor,
        canteens=canteens,
        canteen=canteen,
        days=queries.week(ctx, canteen["id"], monday),
        monday=monday,
        prev_week=monday - timedelta(days=7),
        next_week=monday + timedelta(days=7),
        today=today,
        mine=mine,
        ordered={
            (p["day"], p["meal"])
            for p in mine
            if p["status"] == "placed" and p["canteen_id"] == canteen["id"]
        },
        held=queries.held_fen(ctx, actor.person_id),
        request_id=secrets.token_hex(8),
        weekdays=[_t(request, w) for w in WEEKDAYS],
        result=result,
    )


@router.get("/me/menu")
def menu_page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: OptionalIdQuery = None,
    week: WeekQuery = None,
) -> Response:
    return _menu_page(request, ctx, actor, canteen_id, week)


def _lines(skus: list[str], qtys: list[str]) -> tuple[tuple[str, int], ...]:
    lines = []
    for sku, qty in zip(skus, qtys, strict=False):
        q = qty.strip()
        if not q or q == "0":
            continue
        if not q.isdigit() or len(q) > 2:
            raise InvalidInput(f"{sku} 份数须为整数")
        lines.append((sku, int(q)))
    if not lines:
        raise InvalidInput("请至少选择一个菜品")
    return tuple(lines)


@router.post("/me/menu/preorder")
def menu_preorder(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    day: Annotated[date, Form()],
    meal: Annotated[str, Form(min_length=1, max_length=20)],
    request_id: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    pay_mode: Annotated[str, Form(pattern="^(prepaid|at_pickup)$")] = "prepaid",
    sku: SkuForm = None,
    qty: QtyForm = None,
) -> Response:
    lang = request_lang(request)
    try:
        spec = service.PreorderSpec(
            canteen_id=canteen_id,
            day=day,
            meal=meal,
            lines=_lines(sku or [], qty or []),
            pay_mode=pay_mode,
            request_id=request_id,
        )
        got = service.place(ctx, actor, spec)
    except OneCardError as exc:
        result = {"ok": False, "message": exc.message(lang)}
        return _menu_page(request, ctx, actor, canteen_id, day, result, status_code=200)
    return RedirectResponse(
        f"/me/menu?canteen_id={canteen_id}&week={day.isoformat()}&done={got['id']}",
        status_code=303,
    )


@router.post("/me/menu/preorders/{preorder_id}/cancel")
def menu_cancel(request: Request, preorder_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    lang = request_lang(request)
    try:
        got = service.cancel(ctx, actor, preorder_id)
    except OneCardError as exc:
        if isinstance(exc, NotFound | Forbidden):
            raise
        return _menu_page(
            request, ctx, actor, None, None, {"ok": False, "message": exc.message(lang)}
        )
    return RedirectResponse(
        f"/me/menu?canteen_id={got['canteen_id']}&week={got['day'].isoformat()}&cancelled={got['id']}",
        status_code=303,
    )


# --- the canteen's side --------------------------------------------------------------------


def _till_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int | None,
    day: date | None,
    result: dict[str, Any] | None = None,
) -> Response:
    canteen, mine = till_scope(ctx, actor, canteen_id)
    d = day or ctx.clock.today() + timedelta(days=1)
    rule = queries.canteen_of(ctx, canteen["id"])
    return render(
        request,
        "till/preorders.html",
        actor=actor,
        canteen=canteen,
        canteens=mine,
        rule=rule,
        day=d,
        today=ctx.clock.today(),
        rows=queries.counts(ctx, canteen["id"], d),
        meals=queries.meal_name_map(ctx, canteen["id"]),
        result=result,
    )


@router.get("/till/preorders")
def till_preorders(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: OptionalIdQuery = None,
    day: WeekQuery = None,
) -> Response:
    return _till_page(request, ctx, actor, canteen_id, day)


@router.get("/till/preorders.xlsx")
def till_preorders_xlsx(
    actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None, day: WeekQuery = None
) -> Response:
    canteen, _ = till_scope(ctx, actor, canteen_id)
    d = day or ctx.clock.today() + timedelta(days=1)
    table = queries.counts_table(
        canteen["name"],
        d,
        queries.counts(ctx, canteen["id"], d),
        queries.meal_name_map(ctx, canteen["id"]),
    )
    return Response(
        to_xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="preorders-{d.isoformat()}.xlsx"'},
    )


@router.post("/till/pickup")
def till_pickup(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    credential: Annotated[str, Form(max_length=40)],
    meal: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    canteen, _ = till_scope(ctx, actor, canteen_id)
    lang = request_lang(request)
    try:
        terminal = till_terminal(ctx, canteen["id"])
        got = service.pickup(
            ctx, terminal, f"pickup-{secrets.token_hex(8)}", credential.strip(), meal or None
        )
        result = {
            "ok": True,
            "replayed": got.outcome.replayed,
            "preorder": got.preorder,
            "payment_id": got.outcome.payment_id,
        }
    except OneCardError as exc:
        result = {"ok": False, "message": exc.message(lang)}
    return _till_page(request, ctx, actor, canteen["id"], ctx.clock.today(), result)


# --- the canteen's menu --------------------------------------------------------------------
def _menu_admin(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int | None,
    week: date | None,
    result: dict[str, Any] | None = None,
) -> Response:
    canteen, mine = till_scope(ctx, actor, canteen_id)
    if week is not None:
        service.check_day(week)
    today = ctx.clock.today()
    monday = queries.monday_of(week or today + timedelta(days=1))
    return render(
        request,
        "till/menu.html",
        actor=actor,
        canteen=canteen,
        canteens=mine,
        rule=queries.canteen_of(ctx, canteen["id"]),
        days=queries.week(ctx, canteen["id"], monday),
        dishes=queries.active_dishes(ctx, canteen["id"]),
        monday=monday,
        prev_week=monday - timedelta(days=7),
        next_week=monday + timedelta(days=7),
        today=today,
        weekdays=[_t(request, w) for w in WEEKDAYS],
        result=result,
    )


@router.get("/till/menu")
def till_menu(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: OptionalIdQuery = None,
    week: WeekQuery = None,
) -> Response:
    return _menu_admin(request, ctx, actor, canteen_id, week)


@router.post("/till/menu")
def till_menu_save(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    day: Annotated[date, Form()],
    meal: Annotated[str, Form(min_length=1, max_length=20)],
    sku: SkuForm = None,
) -> Response:
    try:
        n = service.set_menu(ctx, actor, canteen_id, day, meal, list(sku or []))
    except (NotFound, Forbidden):
        raise
    except OneCardError as exc:
        result = {"ok": False, "message": exc.message(request_lang(request))}
        return _menu_admin(request, ctx, actor, canteen_id, day, result)
    return RedirectResponse(
        f"/till/menu?canteen_id={canteen_id}&week={day.isoformat()}&saved={n}#day-{day.isoformat()}",
        status_code=303,
    )


@router.post("/till/menu/rule")
def till_menu_rule(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    cutoff: Annotated[str, Form(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")],
    no_show: Annotated[str, Form(pattern="^(charge|release)$")],
) -> Response:
    hh, mm = cutoff.split(":")
    service.set_rule(ctx, actor, canteen_id, time(int(hh), int(mm)), no_show)
    return RedirectResponse(f"/till/menu?canteen_id={canteen_id}&rule=1", status_code=303)
