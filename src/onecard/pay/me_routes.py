"""The diner's own API (/api/v1/me): balances, payment-code secret, history, card, top-up.

Every route acts for the signed-in person only; withdrawal exists to say no (R-A9).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from onecard.pay import cards, paycode_keys, topup
from onecard.pay.queries import my_balances, my_transactions
from onecard.pay.schemas import AmountIn
from onecard.web.deps import ActorDep, CtxDep

router = APIRouter(prefix="/api/v1", tags=["diner"])


@router.get("/me/balances")
def get_balances(actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    assert actor.person_id is not None
    return my_balances(ctx, actor.person_id)


@router.get("/me/transactions")
def get_transactions(
    actor: ActorDep, ctx: CtxDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[dict[str, Any]]:
    assert actor.person_id is not None
    return my_transactions(ctx, actor.person_id, limit)


@router.get("/me/paycode-secret")
def get_paycode_secret(actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """What the phone needs to make codes offline: the secret stays on the device."""
    assert actor.person_id is not None
    return paycode_keys.device_secret(ctx, actor.person_id)


@router.post("/me/paycode-secret/rotate")
def post_paycode_rotate(actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """A new payment-code secret for this person; codes made with the old one are refused
    (``code_revoked``). Answers with the new secret for this device."""
    assert actor.person_id is not None
    paycode_keys.rotate(ctx, actor, actor.person_id)
    return get_paycode_secret(actor, ctx)


@router.post("/me/phone-lost")
def post_phone_lost(actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Report the phone lost: the payment-code secret is rotated (codes from the lost phone
    are refused) and every session of this person ends. Cards are not affected."""
    assert actor.person_id is not None
    done = paycode_keys.rotate(ctx, actor, actor.person_id, phone_lost=True)
    return {"status": "rotated", "phone_lost": True, "sessions_ended": done.sessions_ended}


@router.post("/me/cards/{card_no}/lost")
def post_lost(card_no: str, actor: ActorDep, ctx: CtxDep) -> dict[str, str]:
    cards.report_lost(ctx, actor, card_no, holder_only=True)
    return {"card_no": card_no, "status": "lost"}


@router.post("/me/cards/{card_no}/unfreeze")
def post_unfreeze(card_no: str, actor: ActorDep, ctx: CtxDep) -> dict[str, str]:
    cards.unfreeze(ctx, actor, card_no, holder_only=True)
    return {"card_no": card_no, "status": "active"}


@router.post("/me/topups")
def post_topup(body: AmountIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    assert actor.person_id is not None
    r = topup.request_topup(ctx, actor.person_id, body.amount_fen, body.order_id)
    return {"order_id": r.order_id, "status": r.status, "bank_ref": r.bank_ref}


@router.post("/me/withdrawals")
def post_withdrawal(body: AmountIn, actor: ActorDep, ctx: CtxDep) -> None:
    assert actor.person_id is not None
    topup.withdraw(ctx, actor.person_id, body.amount_fen)
