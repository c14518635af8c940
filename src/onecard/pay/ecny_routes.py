"""e-CNY over the API: a terminal pays with the diner's e-CNY code, asks about it; the
canteen refunds to the wallet; the diner tops up the cash purse; the acquirer's signed
callback.

Thin: parse, call ``pay.ecny``, return its answer. A terminal's answer is the order's
current state (``pending`` until the acquirer's outcome is known); asking again with
``GET …/ecny/payments/{txn_id}`` asks the acquirer first. The callback is verified
(HMAC-SHA256 over the raw body, ``X-Signature``) before anything is read or written.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from onecard.core.errors import Forbidden
from onecard.pay import ecny
from onecard.pay.routes import ERRORS, TXN_ID
from onecard.pay.schemas import (
    EcnyPaymentIn,
    EcnyPaymentOut,
    EcnyRefundIn,
    EcnyRefundOut,
    EcnyTopupIn,
    EcnyTopupOut,
)
from onecard.pay.service import PaymentRequest
from onecard.web.deps import ActorDep, CtxDep, PayingTerminalDep, TerminalDep

router = APIRouter(prefix="/api/v1", tags=["ecny"])
ORDER_NO = Path(min_length=1, max_length=40, description="our e-CNY order number")


@router.post(
    "/terminal/ecny/payments",
    response_model=EcnyPaymentOut,
    responses=ERRORS,
    summary="Take a payment by the diner's e-CNY payment code",
)
async def post_ecny_payment(
    body: EcnyPaymentIn, terminal: PayingTerminalDep, ctx: CtxDep
) -> Response:
    req = PaymentRequest(
        txn_id=body.txn_id,
        credential=body.pay_code,
        meal=body.meal,
        amount_fen=body.amount_fen,
        items=tuple((i.sku, i.qty) for i in body.items or ()),
    )
    got = await run_in_threadpool(ecny.pay, ctx, terminal.identity, req)
    return Response(content=got.body, media_type="application/json")


@router.get(
    "/terminal/ecny/payments/{txn_id}",
    response_model=EcnyPaymentOut,
    responses=ERRORS,
    summary="This terminal's e-CNY payment now (a pending one is asked about first)",
)
def get_ecny_payment(terminal: TerminalDep, ctx: CtxDep, txn_id: str = TXN_ID) -> Response:
    got = ecny.stored_answer(ctx, terminal, txn_id)
    return Response(content=got.body, media_type="application/json")


@router.post(
    "/ecny/orders/{order_no}/refunds",
    response_model=EcnyRefundOut,
    responses=ERRORS,
    tags=["canteen"],
    summary="Refund (part of) an e-CNY payment to the diner's wallet — canteen manager",
)
def post_ecny_refund(
    body: EcnyRefundIn, actor: ActorDep, ctx: CtxDep, order_no: str = ORDER_NO
) -> EcnyRefundOut:
    r = ecny.refund(ctx, actor, order_no, body.amount_fen, body.refund_no, body.reason)
    return EcnyRefundOut(
        refund_no=r.refund_no, order_no=r.order_no, amount_fen=r.amount_fen, status=r.status
    )


@router.post("/me/topups/ecny", response_model=EcnyTopupOut, responses=ERRORS)
def post_ecny_topup(body: EcnyTopupIn, actor: ActorDep, ctx: CtxDep) -> EcnyTopupOut:
    """Top up one's own cash purse from one's e-CNY wallet (never the subsidy purse)."""
    if actor.person_id is None:  # the web actor always names a person
        raise Forbidden()
    got = ecny.topup(ctx, actor, actor.person_id, body.pay_code, body.amount_fen, body.order_no)
    return EcnyTopupOut(order_no=got.order_no, status=got.status)


@router.post("/channels/ecny/notify", tags=["channels"], responses=ERRORS)
async def ecny_notify(request: Request, ctx: CtxDep) -> dict[str, str]:
    """The acquirer's asynchronous notice: raw body signed with HMAC-SHA256 (X-Signature)."""
    body = await request.body()
    sig = request.headers.get("x-signature", "")
    status = await run_in_threadpool(ecny.handle_notice, ctx, body, sig)
    return {"status": status}
