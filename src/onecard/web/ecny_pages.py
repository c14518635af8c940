"""The bureau's e-CNY page (数字人民币对账): the acquirer's day file against our orders.

Contract: ``GET /bureau/ecny`` (the bureau, its clearing operator, finance, auditors)
shows a day picker; ``POST /bureau/ecny/reconcile`` (those who run money) runs
``pay.ecny_recon.reconcile_day`` for the chosen Beijing day — the service checks the
actor again and records the run (audit, money run) — and lists what did not match:
``amount_mismatch`` / ``state_mismatch`` / ``acquirer_only`` / ``ours_only``, the
count of lines and matched; with ``fmt=xlsx`` the same problems as an Excel sheet.
A day in the future is refused on the page (422); nothing is corrected here.

Below, the city's e-CNY payments (``pay.queries.ecny_orders``), 50 a page, filtered by
``status`` (pending included), amounts in yuan with separators, Beijing times. Those who
run money see a refund form on each succeeded order with money left:
``POST /bureau/ecny/refund`` calls ``pay.ecny.refund`` (amount and reason; the refund
number is drawn when the page is shown, so a second press does not refund twice); an
error is shown on the page (422/409/404) and nothing is written. A pending order has a
"再次查询" button (``POST /bureau/ecny/check`` → ``pay.ecny.check_order``: asks the
acquirer and books its answer; an acquirer that still does not answer is said so), and
so has a refund still pending after the form (``POST /bureau/ecny/refund/check`` →
``pay.ecny.check_refund``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from onecard.core.errors import InvalidInput, OneCardError
from onecard.core.tables import Table, to_xlsx
from onecard.pay import ecny, ecny_recon
from onecard.pay import queries as pay_queries
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.errors import status_for
from onecard.web.forms import parse_yuan
from onecard.web.i18n import request_lang
from onecard.web.pages import Find, Page, Paged, paged
from onecard.web.scopes import bureau_scope, can_run_money
from onecard.web.templating import render

router = APIRouter(
    prefix="/bureau/ecny", dependencies=[Depends(csrf_protect)], include_in_schema=False
)
TEMPLATE = "bureau/ecny.html"
OrderStatus = Annotated[str, Query(pattern="^(|pending|succeeded|failed|refused)$")]


def _orders(ctx: CtxDep, status: str, q: str, op: int) -> Paged:
    rows = pay_queries.ecny_orders(ctx, status)
    for r in rows:
        r["refund_no"] = ecny.new_order_no("R")
    keep = {"os": status, "op": str(op)}
    return paged(rows, q, op, ("order_no", "canteen", "person", "staff_no"), "op", keep)


def _page(
    request: Request, actor: ActorDep, ctx: CtxDep, status_code: int = 200, **kw: object
) -> Response:
    status = str(kw.pop("os", ""))
    return render(
        request,
        TEMPLATE,
        status_code=status_code,
        actor=actor,
        tab="ecny",
        can_run=can_run_money(actor),
        orders=_orders(ctx, status, str(kw.pop("q", "")), int(str(kw.pop("op", 1)))),
        order_status=status,
        order_statuses=pay_queries.ECNY_STATUSES,
        **kw,
    )


@router.get("")
def ecny_page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    os: OrderStatus = "",
    q: Find = "",
    op: Page = 1,
) -> Response:
    bureau_scope(actor)
    return _page(
        request, actor, ctx, os=os, q=q, op=op, day=ctx.clock.today().isoformat(), recon=None
    )


@router.post("/refund")
def ecny_refund(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    order_no: Annotated[str, Form(max_length=40)],
    refund_no: Annotated[str, Form(max_length=40)],
    amount: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    bureau_scope(actor)
    day = ctx.clock.today().isoformat()
    try:
        got = ecny.refund(ctx, actor, order_no, parse_yuan(amount), refund_no, reason.strip())
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, order_no)
    return _page(request, actor, ctx, day=day, recon=None, refunded=got, refund_order=order_no)


@router.post("/check")
def ecny_check(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    order_no: Annotated[str, Form(min_length=1, max_length=40)],
) -> Response:
    """再次查询: ask the acquirer again about a pending order (``pay.ecny.check_order``)."""
    bureau_scope(actor)
    day = ctx.clock.today().isoformat()
    try:
        checked = ecny.check_order(ctx, actor, order_no.strip())
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, order_no)
    return _page(request, actor, ctx, day=day, recon=None, checked=checked)


@router.post("/refund/check")
def ecny_refund_check(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    refund_no: Annotated[str, Form(min_length=1, max_length=40)],
) -> Response:
    """再次查询 a pending refund (``pay.ecny.check_refund``): its answer as a refund's."""
    bureau_scope(actor)
    day = ctx.clock.today().isoformat()
    try:
        got = ecny.check_refund(ctx, actor, refund_no.strip())
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, refund_no)
    return _page(request, actor, ctx, day=day, recon=None, refunded=got, refund_order=got.order_no)


def _refused(
    request: Request, actor: ActorDep, ctx: CtxDep, exc: OneCardError, what: str
) -> Response:
    """A refund or a query the service refused: the reason on the page, nothing written."""
    code = status_for(exc)
    if code >= 500:
        raise exc
    return _page(
        request,
        actor,
        ctx,
        status_code=code,
        day=ctx.clock.today().isoformat(),
        recon=None,
        refund_error=exc.message(request_lang(request)),
        refund_order=what,
    )


@router.post("/reconcile")
def ecny_reconcile(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    day: Annotated[str, Form(max_length=10)],
    fmt: Annotated[str, Form(pattern="^(html|xlsx)$")] = "html",
) -> Response:
    bureau_scope(actor)
    try:
        try:
            chosen = date.fromisoformat(day.strip())
        except ValueError as exc:
            raise InvalidInput("日期格式应为 YYYY-MM-DD") from exc
        if chosen > ctx.clock.today():
            raise InvalidInput("不能对账未来的日期")
        recon = ecny_recon.reconcile_day(ctx, actor, chosen)
    except OneCardError as exc:
        code = status_for(exc)
        if code >= 500:
            raise
        return _page(
            request,
            actor,
            ctx,
            status_code=code,
            day=day,
            recon=None,
            error=exc.message(request_lang(request)),
        )
    if fmt == "xlsx":
        return Response(
            to_xlsx(problems_table(recon)),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="ecny-recon-{chosen}.xlsx"'},
        )
    return _page(request, actor, ctx, day=chosen.isoformat(), recon=recon)


KIND_ZH = {"pay": "付款", "refund": "退款"}


def problems_table(recon: ecny_recon.EcnyReconciliation) -> Table:
    """The day's problems as one sheet (money in fen here; ``to_xlsx`` writes yuan)."""
    table = Table(
        key="ecny_recon",
        title=f"数字人民币对账 {recon.day.isoformat()}",
        headers=["问题", "单号", "类型", "收单机构金额", "本系统金额", "本系统状态"],
        money_cols={3, 4},
    )
    for p in recon.problems:
        table.rows.append(
            [
                p["status_zh"],
                p["order_no"],
                KIND_ZH.get(p["kind"], p["kind"]),
                p["acquirer_fen"],
                p["ours_fen"],
                p["our_status"] or "",
            ]
        )
    return table
