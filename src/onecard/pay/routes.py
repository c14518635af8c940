"""Terminal API (消费机接口): pay, reverse, day summary; and canteen refunds.

Thin: parse, call the service, return its answer. A payment's body is returned as the
exact stored bytes so a retry is byte-for-byte identical to the first answer.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from onecard.pay import reversal
from onecard.pay.schemas import (
    Balances,
    ErrorOut,
    PaymentIn,
    PaymentOut,
    RefundIn,
    RefundOut,
    ReversalOut,
    TerminalDay,
)
from onecard.pay.service import PaymentRequest, pay
from onecard.web.deps import ActorDep, CtxDep, IdPath, PayingTerminalDep, TerminalDep

router = APIRouter(prefix="/api/v1", tags=["terminal"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 413, 415, 422)
}


@router.post(
    "/terminal/payments",
    response_model=PaymentOut,
    responses=ERRORS,
    summary="Take a payment (approved or refused)",
)
async def post_payment(body: PaymentIn, terminal: PayingTerminalDep, ctx: CtxDep) -> Response:
    req = payment_request(body)
    batcher = getattr(ctx, "payment_batcher", None)
    if batcher is not None:
        outcome = await batcher.pay(terminal.identity, req, key_hash=terminal.key_hash)
    else:
        outcome = await run_in_threadpool(pay, ctx, terminal.identity, req)
    return Response(content=outcome.body, media_type="application/json")


def payment_request(body: PaymentIn) -> PaymentRequest:
    """The service's request for a terminal's payment body (also ``pay.fast_route``)."""
    return PaymentRequest(
        txn_id=body.txn_id,
        credential=body.credential,
        meal=body.meal,
        amount_fen=body.amount_fen,
        items=tuple((i.sku, i.qty) for i in body.items or ()),
    )


@router.post(
    "/terminal/payments/{txn_id}/reversal",
    response_model=ReversalOut,
    responses=ERRORS,
    summary="Reverse a payment of this terminal within the window",
)
def post_reversal(txn_id: str, terminal: TerminalDep, ctx: CtxDep) -> ReversalOut:
    r = reversal.reverse(ctx, terminal, txn_id)
    return ReversalOut(
        result="reversed",
        txn_id=r.txn_id,
        payment_id=r.payment_id,
        amount_fen=r.amount_fen,
        subsidy_fen=r.subsidy_fen,
        cash_fen=r.cash_fen,
        balances=Balances(**r.balances),
    )


@router.get("/terminal/today", response_model=TerminalDay, responses=ERRORS)
def get_today(terminal: TerminalDep, ctx: CtxDep) -> TerminalDay:
    day, count, total = reversal.terminal_day(ctx, terminal)
    return TerminalDay(day=day, count=count, total_fen=total)


@router.post(
    "/payments/{payment_id}/refunds",
    response_model=RefundOut,
    responses=ERRORS,
    tags=["canteen"],
    summary="Refund (part of) a payment — canteen manager",
)
def post_refund(payment_id: IdPath, body: RefundIn, actor: ActorDep, ctx: CtxDep) -> RefundOut:
    r = reversal.refund(ctx, actor, payment_id, body.amount_fen, body.request_id, body.reason)
    return RefundOut(
        refund_id=r.refund_id,
        payment_id=r.payment_id,
        amount_fen=r.amount_fen,
        subsidy_fen=r.subsidy_fen,
        cash_fen=r.cash_fen,
    )
