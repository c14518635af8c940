"""The canteen till (收银台): a canteen manager takes payments in the browser.

Contract: the till acts as its canteen's first active terminal and pays through
``pay.service.pay`` — by meal period, by amount, or by item lines (dishes and shop
goods) — the very path a hardware terminal's request takes — with a fresh
``txn_id`` per press of Enter, so limits, prices, refusals and the ledger are the same.
"Reverse last payment" calls ``pay.reversal.reverse`` for the last txn this session took
at that canteen (same terminal, within the window). The day's count and total are the
terminal's (``terminal_day``). Only someone who manages the canteen (its manager, the
owning unit's admin, the bureau) may open it.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, OneCardError, StateConflict
from onecard.feedback.service import canteen_averages, recent_comments
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Terminal
from onecard.pay.models import Item, MealPeriod, MealPrice
from onecard.pay.reversal import reverse, terminal_day
from onecard.pay.service import PaymentRequest, TerminalIdentity, pay
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, OptionalIdQuery
from onecard.web.errors import request_lang
from onecard.web.forms import parse_yuan
from onecard.web.templating import render

router = APIRouter(prefix="/till", dependencies=[Depends(csrf_protect)], include_in_schema=False)


def till_canteens(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """The canteens this actor may run a till for, in id order."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Canteen.id, Canteen.name, Canteen.unit_id).order_by(Canteen.id)
        ).all()
    return [
        {"id": int(r.id), "name": r.name}
        for r in rows
        if actor.manages_canteen(int(r.id), int(r.unit_id))
    ]


def till_terminal(ctx: Context, canteen_id: int) -> TerminalIdentity:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Terminal.id, Terminal.code, Terminal.region_id, Terminal.canteen_id)
            .where(Terminal.canteen_id == canteen_id, Terminal.status == "live")
            .order_by(Terminal.id)
            .limit(1)
        ).first()
    if row is None:
        raise StateConflict("本食堂没有在用的消费机，无法收款")
    return TerminalIdentity(int(row.id), str(row.code), int(row.region_id), int(row.canteen_id))


def _meals(ctx: Context, canteen_id: int) -> list[dict[str, Any]]:
    now = to_local(ctx.clock.now()).time()
    with ctx.db.read() as conn:
        periods = conn.execute(
            select(
                MealPeriod.id, MealPeriod.code, MealPeriod.name, MealPeriod.starts, MealPeriod.ends
            )
            .where(MealPeriod.canteen_id == canteen_id)
            .order_by(MealPeriod.starts)
        ).all()
        prices = {
            (int(m), k): int(p)
            for m, k, p in conn.execute(
                select(MealPrice.meal_period_id, MealPrice.diner_class, MealPrice.price_fen).where(
                    MealPrice.meal_period_id.in_([p.id for p in periods] or [0])
                )
            )
        }
    return [
        {
            "code": p.code,
            "name": p.name,
            "window": f"{p.starts:%H:%M}–{p.ends:%H:%M}",
            "now": p.starts <= now < p.ends,
            "own": prices.get((int(p.id), "own")),
            "visitor": prices.get((int(p.id), "visitor")),
        }
        for p in periods
    ]


def _items(ctx: Context, canteen_id: int) -> list[dict[str, Any]]:
    """The canteen's dishes and shop goods sold by line (active only)."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Item.sku, Item.name, Item.kind, Item.price_fen)
            .where(Item.canteen_id == canteen_id, Item.active.is_(True))
            .order_by(Item.kind, Item.sku)
        ).all()
    return [dict(r._mapping) for r in rows]


def _item_lines(skus: list[str], qtys: list[str]) -> tuple[tuple[str, int], ...]:
    lines = []
    for sku, qty in zip(skus, qtys, strict=False):
        q = qty.strip()
        if not q or q == "0":
            continue
        if not q.isdigit():
            raise InvalidInput(f"商品 {sku} 数量必须为整数")
        lines.append((sku, int(q)))
    if not lines:
        raise InvalidInput("请填写商品数量")
    return tuple(lines)


def _pick(
    ctx: Context, actor: Actor, canteen_id: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mine = till_canteens(ctx, actor)
    if not mine:
        raise Forbidden()
    if canteen_id is None:
        return mine[0], mine
    for c in mine:
        if c["id"] == canteen_id:
            return c, mine
    with ctx.db.read() as conn:
        exists = conn.execute(select(Canteen.id).where(Canteen.id == canteen_id)).first()
    if exists is None:
        raise NotFound(what="食堂")
    raise Forbidden()


def _page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen: dict[str, Any],
    mine: list[dict[str, Any]],
    result: dict[str, Any] | None,
    mode: str = "meal",
    meal: str | None = None,
) -> Response:
    terminal = till_terminal(ctx, canteen["id"])
    day, count, total = terminal_day(ctx, terminal)
    ctx_: dict[str, Any] = {
        "canteen": canteen,
        "canteens": mine,
        "terminal": terminal,
        "meals": _meals(ctx, canteen["id"]),
        "items": _items(ctx, canteen["id"]),
        "mode": mode,
        "meal": meal,
        "day": day,
        "count": count,
        "total": total,
        "result": result,
    }
    if request.headers.get("hx-request"):
        return render(request, "till/_result.html", actor=actor, oob=True, **ctx_)
    return render(request, "till/till.html", actor=actor, **ctx_)


@router.get("")
def till_page(
    request: Request, actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None
) -> Response:
    canteen, mine = _pick(ctx, actor, canteen_id)
    return _page(request, ctx, actor, canteen, mine, None)


@router.post("/pay")
def till_pay(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    credential: Annotated[str, Form(max_length=40)],
    mode: Annotated[str, Form(pattern="^(meal|amount|items)$")] = "meal",
    meal: Annotated[str, Form(max_length=20)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    sku: Annotated[list[str] | None, Form(max_length=32)] = None,
    qty: Annotated[list[str] | None, Form(max_length=3)] = None,
) -> Response:
    canteen, mine = _pick(ctx, actor, canteen_id)
    terminal = till_terminal(ctx, canteen["id"])
    lang = request_lang(request)
    result: dict[str, Any]
    try:
        if mode == "meal":
            if not meal:
                raise InvalidInput("请选择餐次")
            req = PaymentRequest(txn_id=_txn_id(), credential=credential.strip(), meal=meal)
        elif mode == "items":
            req = PaymentRequest(
                txn_id=_txn_id(),
                credential=credential.strip(),
                items=_item_lines(sku or [], qty or []),
            )
        else:
            req = PaymentRequest(
                txn_id=_txn_id(), credential=credential.strip(), amount_fen=parse_yuan(amount)
            )
        outcome = pay(ctx, terminal, req)
        result = dict(outcome.data)
        if outcome.approved:
            last = dict(request.session.get("till_last") or {})
            last[str(canteen["id"])] = req.txn_id
            request.session["till_last"] = last
    except OneCardError as exc:
        # Bad input never reaches the ledger or the decision records: show why.
        result = {"result": "refused", "code": exc.code, "message": exc.message(lang)}
    return _page(request, ctx, actor, canteen, mine, result, mode, meal or None)


def _txn_id() -> str:
    return "web-" + secrets.token_hex(10)


@router.post("/reverse")
def till_reverse(request: Request, actor: ActorDep, ctx: CtxDep, canteen_id: IdForm) -> Response:
    canteen, mine = _pick(ctx, actor, canteen_id)
    terminal = till_terminal(ctx, canteen["id"])
    last = dict(request.session.get("till_last") or {})
    txn = last.get(str(canteen["id"]))
    result: dict[str, Any]
    try:
        if not txn:
            raise StateConflict("本次登录还没有可冲正的交易")
        rev = reverse(ctx, terminal, txn, actor)
        last.pop(str(canteen["id"]), None)
        request.session["till_last"] = last
        result = {"result": "reversed", "amount_fen": rev.amount_fen, "txn_id": rev.txn_id}
    except OneCardError as exc:
        result = {
            "result": "refused",
            "code": exc.code,
            "message": exc.message(request_lang(request)),
        }
    return _page(request, ctx, actor, canteen, mine, result)


@router.get("/ratings")
def till_ratings(
    request: Request, actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None
) -> Response:
    """What diners say about this canteen: average scores and the latest comments."""
    canteen, mine = _pick(ctx, actor, canteen_id)
    return render(
        request,
        "till/ratings.html",
        actor=actor,
        canteen=canteen,
        canteens=mine,
        avg=canteen_averages(ctx).get(canteen["id"]),
        comments=recent_comments(ctx, canteen["id"], 30),
    )
