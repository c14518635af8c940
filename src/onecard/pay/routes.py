"""Terminal API (消费机接口): pay, ask about a payment, reverse, day summary; and
canteen refunds.

Thin: parse, call the service, return its answer. A payment's body is returned as the
exact stored bytes so a retry — or asking ``GET …/payments/{txn_id}`` — is byte-for-byte
identical to the first answer. A payment is answered within
``ONECARD_PAYMENT_WAIT_SECONDS`` (plus a moment), or with 503 ``payment_not_confirmed``.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

import anyio
from fastapi import APIRouter, Path, Response

from onecard.core.errors import PaymentNotConfirmed
from onecard.faces.embedding import decode_image
from onecard.pay import reversal
from onecard.pay.batch_worker import ANSWER_GRACE_S
from onecard.pay.face_pay import FacePayment, face_pay
from onecard.pay.queries import stored_answer
from onecard.pay.schemas import (
    Balances,
    ErrorOut,
    FacePaymentIn,
    FacePaymentOut,
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
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 413, 415, 422, 503)
}
TXN_ID = Path(min_length=1, max_length=64, description="the terminal's own transaction id")


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
        wait = ctx.settings.payment_wait_seconds
        # The thread is left to finish on its own past the bound: ``pay`` then rolls
        # back instead of committing (its deadline), so the 503 below stays true.
        work = partial(pay, ctx, terminal.identity, req, deadline=time.monotonic() + wait)
        try:
            async with asyncio.timeout(wait + ANSWER_GRACE_S):
                outcome = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except TimeoutError:
            raise PaymentNotConfirmed() from None
    return Response(content=outcome.body, media_type="application/json")


@router.post(
    "/terminal/face-payments",
    response_model=FacePaymentOut,
    responses=ERRORS,
    summary="Take a face payment (approved, refused, or need_digits); 403 without liveness",
)
async def post_face_payment(
    body: FacePaymentIn, terminal: PayingTerminalDep, ctx: CtxDep
) -> Response:
    fp = FacePayment(
        txn_id=body.txn_id,
        liveness=body.liveness,
        image=decode_image(body.image_b64) if body.image_b64 is not None else None,
        descriptor=tuple(body.descriptor) if body.descriptor is not None else None,
        digits=body.digits,
        meal=body.meal,
        amount_fen=body.amount_fen,
        items=tuple((i.sku, i.qty) for i in body.items or ()),
    )
    wait = ctx.settings.payment_wait_seconds
    work = partial(face_pay, ctx, terminal.identity, fp, deadline=time.monotonic() + wait)
    try:
        async with asyncio.timeout(wait + ANSWER_GRACE_S):
            outcome = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except TimeoutError:
        raise PaymentNotConfirmed() from None
    return Response(content=outcome.body, media_type="application/json")


@router.get(
    "/terminal/payments/{txn_id}",
    response_model=PaymentOut,
    responses=ERRORS,
    summary="The stored answer to one of this terminal's payments, or 404 payment_not_seen",
)
def get_payment(terminal: TerminalDep, ctx: CtxDep, txn_id: str = TXN_ID) -> Response:
    """Ask, don't guess: a terminal whose answer was lost learns it here without sending
    the payment code again (docs/api.md, "When an answer is lost")."""
    return Response(content=stored_answer(ctx, terminal, txn_id), media_type="application/json")


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
