"""The canteen's own e-CNY payments (数字人民币收款与退款): refunds from the till's side.

Contract: ``GET /till/ecny/payments`` (whoever runs the canteen: its managers, the owning
unit's admin, the bureau — ``web.scopes.till_scope``) lists the canteen's e-CNY payments
(``pay.queries.ecny_orders`` with the canteen's id, the read model the bureau's
/bureau/ecny uses), 50 a page, newest first, filtered by ``os`` (pending included) and
found by ``q``: Beijing times, amounts in yuan, what was refunded already and each
refund with its state (``pay.queries.ecny_refunds``). Each succeeded payment with money
left has a refund form — amount in yuan (all or part of what is left) and a reason —
posting to ``POST /till/ecny/refund``, which calls ``pay.ecny.refund`` (it checks the
actor again, reserves the amount and writes the audit record). The form's
``request_id`` is the refund number, drawn when the page is drawn: the same form sent
twice refunds once. An error is shown on the page in its language with its status —
422 a bad amount, 409 more than is left or a payment that did not succeed, 403 another
canteen's payment, 404 no such payment — and nothing is written. A refund whose outcome
the acquirer has not told yet shows as pending with a "query again" button:
``POST /till/ecny/refund/check`` → ``pay.ecny.check_refund``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.org.actors import Actor
from onecard.pay import ecny
from onecard.pay import queries as pay_queries
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, OptionalIdQuery
from onecard.web.errors import status_for
from onecard.web.forms import parse_yuan
from onecard.web.i18n import request_lang
from onecard.web.pages import Find, Page, paged
from onecard.web.scopes import till_scope
from onecard.web.templating import render

router = APIRouter(
    prefix="/till/ecny", dependencies=[Depends(csrf_protect)], include_in_schema=False
)
TEMPLATE = "till/ecny.html"
STATUS_PATTERN = "^(|pending|succeeded|failed|refused)$"
OrderStatus = Annotated[str, Query(pattern=STATUS_PATTERN)]
OrderStatusForm = Annotated[str, Form(pattern=STATUS_PATTERN)]
FindForm = Annotated[str, Form(max_length=40)]
PageForm = Annotated[int, Form(ge=1, le=100_000)]


def _page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int | None,
    os: str = "",
    q: str = "",
    op: int = 1,
    status_code: int = 200,
    **kw: Any,
) -> Response:
    canteen, mine = till_scope(ctx, actor, canteen_id)
    rows = pay_queries.ecny_orders(ctx, os, canteen["id"])
    keep = {"canteen_id": str(canteen["id"]), "os": os, "op": str(op)}
    orders = paged(rows, q, op, ("order_no", "person", "staff_no"), "op", keep)
    refunds = pay_queries.ecny_refunds(ctx, [r["order_no"] for r in orders.rows])
    for r in orders.rows:
        r["refunds"] = refunds.get(r["order_no"], [])
        r["request_id"] = ecny.new_order_no("R")  # a fresh refund number per drawn form
    return render(
        request,
        TEMPLATE,
        status_code=status_code,
        actor=actor,
        canteen=canteen,
        canteens=mine,
        orders=orders,
        order_status=os,
        order_statuses=pay_queries.ECNY_STATUSES,
        **kw,
    )


@router.get("/payments")
def till_ecny_payments(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: OptionalIdQuery = None,
    os: OrderStatus = "",
    q: Find = "",
    op: Page = 1,
) -> Response:
    return _page(request, ctx, actor, canteen_id, os, q, op)


def _answer(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    view: tuple[str, str, int],
    order_no: str,
    call: Any,
) -> Response:
    """Run a refund call and draw the page with its outcome, or its error (4xx)."""
    till_scope(ctx, actor, canteen_id)  # a canteen the actor runs, before anything is asked
    try:
        got: ecny.RefundOutcome = call()
    except OneCardError as exc:
        code = status_for(exc)
        if code >= 500:
            raise
        return _page(
            request,
            ctx,
            actor,
            canteen_id,
            *view,
            status_code=code,
            refund_error=exc.message(request_lang(request)),
            refund_order=order_no,
        )
    return _page(request, ctx, actor, canteen_id, *view, refunded=got)


@router.post("/refund")
def till_ecny_refund(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    order_no: Annotated[str, Form(min_length=1, max_length=40)],
    request_id: Annotated[str, Form(min_length=1, max_length=40)],
    amount: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=100)] = "",
    os: OrderStatusForm = "",
    q: FindForm = "",
    op: PageForm = 1,
) -> Response:
    """Give (part of) one of the canteen's e-CNY payments back to the diner's wallet."""
    return _answer(
        request,
        ctx,
        actor,
        canteen_id,
        (os, q, op),
        order_no,
        lambda: ecny.refund(
            ctx, actor, order_no.strip(), parse_yuan(amount), request_id.strip(), reason.strip()
        ),
    )


@router.post("/refund/check")
def till_ecny_refund_check(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    refund_no: Annotated[str, Form(min_length=1, max_length=40)],
    order_no: Annotated[str, Form(max_length=40)] = "",
    os: OrderStatusForm = "",
    q: FindForm = "",
    op: PageForm = 1,
) -> Response:
    """Ask the acquirer again about a refund still pending."""
    return _answer(
        request,
        ctx,
        actor,
        canteen_id,
        (os, q, op),
        order_no,
        lambda: ecny.check_refund(ctx, actor, refund_no.strip()),
    )
